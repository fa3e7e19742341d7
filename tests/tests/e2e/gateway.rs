//! The trustless gateway over content imported into the blob store.
use cid::{Cid, multihash::Multihash};
use wharf_content::{
    Profile,
    car::CarReader,
    cids::{DAG_PB, RAW},
};
use wharf_tests::TestApp;

const IMMUTABLE: &str = "public, max-age=29030400, immutable";

fn sample(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7 + i / 1000) as u8).collect()
}

async fn import(app: &TestApp, data: &[u8]) -> Cid {
    app.services
        .content
        .import(data, Profile::KUBO, None)
        .await
        .unwrap()
        .summary
        .root
}

#[tokio::test]
async fn raw_blocks_with_the_trustless_headers() {
    let app = TestApp::spawn().await;
    let data = sample(3_000_000);
    let root = import(&app, &data).await;
    assert_eq!(root.codec(), DAG_PB);

    for (query, accept) in [
        ("?format=raw", None),
        ("", Some("application/vnd.ipld.raw")),
    ] {
        let mut request = app.client.get(app.url(&format!("/ipfs/{root}{query}")));
        if let Some(a) = accept {
            request = request.header("Accept", a);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let h = response.headers().clone();
        assert_eq!(h["content-type"], "application/vnd.ipld.raw");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], IMMUTABLE);
        assert_eq!(h["x-ipfs-path"], format!("/ipfs/{root}").as_str());
        assert_eq!(h["x-ipfs-roots"], root.to_string().as_str());
        assert_eq!(
            h["content-disposition"],
            format!("attachment; filename=\"{root}.bin\"").as_str()
        );
        assert!(!h["etag"].is_empty());
        let body = response.bytes().await.unwrap();
        wharf_content::car::verify_block(&root, &body, 0).unwrap();
        assert_eq!(h["content-length"], body.len().to_string().as_str());
    }
    // ?filename= is honoured.
    let response = app
        .client
        .get(app.url(&format!("/ipfs/{root}?format=raw&filename=x.bin")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"x.bin\""
    );
}

#[tokio::test]
async fn cars_in_dfs_order_for_each_dag_scope() {
    let app = TestApp::spawn().await;
    let data = sample(3_000_000);
    let root = import(&app, &data).await;
    let car_of = |scope: &'static str| {
        let url = app.url(&format!("/ipfs/{root}?format=car&dag-scope={scope}"));
        let client = app.client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let h = response.headers().clone();
            assert!(
                h["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/vnd.ipld.car")
            );
            assert_eq!(h["accept-ranges"], "none");
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert!(
                h["content-disposition"]
                    .to_str()
                    .unwrap()
                    .ends_with(".car\"")
            );
            let body = response.bytes().await.unwrap();
            let mut reader = CarReader::new(&body[..]).unwrap();
            assert_eq!(reader.roots(), &[root]);
            let mut cids = Vec::new();
            while let Some(block) = reader.next_block().unwrap() {
                cids.push(block.cid);
            }
            cids
        }
    };
    let block = car_of("block").await;
    assert_eq!(block, vec![root]);
    let all = car_of("all").await;
    // 3,000,000 bytes in 256 KiB chunks: 12 leaves under the root, root first, leaves in order.
    assert_eq!(all.len(), 13);
    assert_eq!(all[0], root);
    let mut offset = 0;
    for cid in &all[1..] {
        assert_eq!(cid.codec(), RAW);
        let end = (offset + 262_144).min(data.len());
        assert_eq!(
            *cid,
            wharf_content::cids::v1_sha256(RAW, &data[offset..end])
        );
        offset = end;
    }
    assert_eq!(car_of("entity").await, all, "a file's entity is all of it");
    // Accept header instead of format.
    let response = app
        .client
        .get(app.url(&format!("/ipfs/{root}")))
        .header("Accept", "application/vnd.ipld.car")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("vnd.ipld.car")
    );
}

#[tokio::test]
async fn file_bytes_head_and_errors() {
    let app = TestApp::spawn().await;
    let data = sample(1_000_000);
    let root = import(&app, &data).await;
    let response = app
        .client
        .get(app.url(&format!("/ipfs/{root}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "1000000");
    assert_eq!(response.headers()["cache-control"], IMMUTABLE);
    assert_eq!(response.bytes().await.unwrap(), data);

    // A small file is a single raw block: its bytes directly.
    let small = import(&app, b"hello world").await;
    assert_eq!(
        small.to_string(),
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    );
    let body = app
        .client
        .get(app.url(&format!("/ipfs/{small}")))
        .send()
        .await
        .unwrap();
    assert_eq!(body.bytes().await.unwrap(), &b"hello world"[..]);

    let head = app
        .client
        .head(app.url(&format!("/ipfs/{root}?format=raw")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers().contains_key("etag"));
    assert!(head.bytes().await.unwrap().is_empty());

    // Malformed CID: 400; well-formed but absent: 404.
    let bad = app
        .client
        .get(app.url("/ipfs/not-a-cid"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let absent = wharf_content::cids::v1_sha256(RAW, b"never stored");
    let missing = app
        .client
        .get(app.url(&format!("/ipfs/{absent}?format=raw")))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad_format = app
        .client
        .get(app.url(&format!("/ipfs/{root}?format=tar")))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_format.status(), 400);
    let bad_scope = app
        .client
        .get(app.url(&format!("/ipfs/{root}?format=car&dag-scope=everything")))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_scope.status(), 400);

    // The identity CID of empty data is always there.
    let empty = app
        .client
        .get(app.url("/ipfs/bafkqaaa?format=raw"))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 200);
    assert!(empty.bytes().await.unwrap().is_empty());

    // A codec the gateway cannot walk (dag-cbor, inlined with the identity hash): 501.
    let cbor = Cid::new_v1(0x71, Multihash::<64>::wrap(0, &[0xa0]).unwrap());
    let response = app
        .client
        .get(app.url(&format!("/ipfs/{cbor}?format=car")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 501);
    let text = response.text().await.unwrap();
    assert!(text.contains("codec"), "{text}");
    let raw = app
        .client
        .get(app.url(&format!("/ipfs/{cbor}?format=raw")))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200, "any block can be served raw");
}

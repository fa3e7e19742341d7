//! The Ocean Provider family against Ocean's real contracts on ganache, with ocean.js 3.2
//! (unmodified, loaded with `require`) as the client: publish with files and DDO encrypted by
//! wharf, initialize, order on chain, download; decrypt for an Aquarius; fileinfo; order and
//! signature checks; SSRF refusals where no packet leaves.
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::keccak256;
use alloy_signer::SignerSync;
use axum::{
    Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wharf_tests::{
    ADMIN_KEY, TestApp,
    chain::{self, Chain},
};

const DEPLOYER: usize = 9;
const PUBLISHER: usize = 1;
const CONSUMER: usize = 2;
const OTHER: usize = 3;

/// Runs tests/js/ocean.mjs and returns what it printed.
pub(crate) async fn ocean_js(args: &[&str]) -> Value {
    wharf_tests::ensure_npm_packages();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js/ocean.mjs");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|_| {
        panic!(
            "ocean.mjs {:?} printed {stdout:?} / {:?}",
            args.first(),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// A plain HTTP file server the tests control: a file (with Range), redirects, a loop, an
/// endless body. Counts the connections it serves.
#[derive(Clone)]
pub(crate) struct FileServer {
    pub(crate) base: String,
    pub(crate) port: u16,
    pub(crate) data: Arc<Vec<u8>>,
    /// More files, served at `/f/{name}`.
    pub(crate) files: Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>,
}

async fn named_file(
    State(server): State<FileServer>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    match server.files.lock().unwrap().get(&name) {
        Some(data) => data.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn file(State(server): State<FileServer>, headers: HeaderMap) -> Response {
    let data = server.data.clone();
    if let Some(range) = headers.get("range").and_then(|v| v.to_str().ok())
        && let Some((a, b)) = range.strip_prefix("bytes=").and_then(|r| r.split_once('-'))
    {
        let start: usize = a.parse().unwrap_or(0);
        let end: usize = b.parse().unwrap_or(data.len() - 1).min(data.len() - 1);
        return (
            StatusCode::PARTIAL_CONTENT,
            [
                ("content-type", "text/csv".to_string()),
                (
                    "content-range",
                    format!("bytes {start}-{end}/{}", data.len()),
                ),
            ],
            data[start..=end].to_vec(),
        )
            .into_response();
    }
    (
        [("content-type", "text/csv; charset=utf-8")],
        data.as_ref().clone(),
    )
        .into_response()
}

async fn redirect(Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    (
        StatusCode::FOUND,
        [("location", q.get("to").cloned().unwrap_or_default())],
    )
        .into_response()
}

impl FileServer {
    /// Serves `data` at `/f/{name}`; returns its URL.
    pub(crate) fn put(&self, name: &str, data: &[u8]) -> String {
        self.files
            .lock()
            .unwrap()
            .insert(name.to_string(), data.to_vec());
        format!("{}/f/{name}", self.base)
    }

    pub(crate) async fn start(data: Vec<u8>) -> FileServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = FileServer {
            base: format!("http://127.0.0.1:{port}"),
            port,
            data: Arc::new(data),
            files: Default::default(),
        };
        let router = Router::new()
            .route("/data.csv", get(file))
            .route("/f/{name}", get(named_file))
            .route("/redirect", get(redirect))
            .route(
                "/loop",
                get(|| async { (StatusCode::FOUND, [("location", "/loop")]).into_response() }),
            )
            .route(
                "/endless",
                get(|| async {
                    let chunks = futures::stream::repeat_with(|| {
                        Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; 65536]))
                    });
                    axum::body::Body::from_stream(chunks)
                }),
            )
            .with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        server
    }
}

/// A chain with Ocean's contracts, a file server, and wharf serving the Provider.
pub(crate) struct World {
    pub(crate) chain: Chain,
    pub(crate) app: TestApp,
    pub(crate) files: FileServer,
    pub(crate) factory: String,
    pub(crate) provider_url: String,
    /// What `deploy` printed (the Ocean token's address, …).
    pub(crate) deployed: Value,
}

impl World {
    pub(crate) async fn start(extra_toml: &str) -> World {
        let chain = Chain::start().await;
        let deployed = ocean_js(&["deploy", &chain.url, chain::KEYS[DEPLOYER]]).await;
        let factory = deployed["factory"]
            .as_str()
            .unwrap_or_else(|| panic!("deploy: {deployed}"))
            .to_string();
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{i},{}\n", i * 7).into_bytes())
            .collect();
        let files = FileServer::start(data).await;
        let ocean = deployed["ocean"].as_str().unwrap_or_default().to_string();
        let toml = format!(
            "[[chains]]\nchain_id = 1337\nrpc_url = \"{}\"\nocean_factory = \"{factory}\"\nprovider_fee_token = \"{ocean}\"\n\
             [provider]\nallow_private_networks = [\"127.0.0.1:{}\"]\n{extra_toml}",
            chain.url, files.port
        );
        let app = TestApp::spawn_with_toml(Some(&toml), &[]).await;
        let provider_url = format!("{}/provider", app.base);
        World {
            chain,
            app,
            files,
            factory,
            provider_url,
            deployed,
        }
    }

    pub(crate) fn data_url(&self) -> String {
        format!("{}/data.csv", self.files.base)
    }

    /// Publishes an asset with ocean.js and registers its DDO in wharf.
    pub(crate) async fn publish(&self, timeout_secs: u64) -> Value {
        let file = json!({"type": "url", "url": self.data_url(), "method": "GET"});
        self.publish_with(timeout_secs, &file, &json!({})).await
    }

    /// Publishes an asset of `file` with ocean.mjs's `extra` (service type, compute options,
    /// algorithm metadata) and registers its DDO in wharf.
    pub(crate) async fn publish_with(
        &self,
        timeout_secs: u64,
        file: &Value,
        extra: &Value,
    ) -> Value {
        let file = file.to_string();
        let extra = extra.to_string();
        let consumer = chain::signer(CONSUMER).address().to_checksum(None);
        let published = ocean_js(&[
            "publish",
            &self.chain.url,
            chain::KEYS[PUBLISHER],
            &self.factory,
            &self.provider_url,
            "1337",
            &consumer,
            &timeout_secs.to_string(),
            &file,
            &extra,
        ])
        .await;
        assert!(published["error"].is_null(), "publish: {published}");
        let (status, body) = self
            .app
            .graphql(
                "mutation($d: String!) { publishAsset(ddo: $d) { did services { id } } }",
                json!({"d": published["ddoText"]}),
                Some(ADMIN_KEY),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"]["publishAsset"]["did"], published["did"],
            "{body}"
        );
        published
    }

    async fn order(&self, who: usize, published: &Value) -> String {
        let ordered = ocean_js(&[
            "order",
            &self.chain.url,
            chain::KEYS[who],
            &self.provider_url,
            published["did"].as_str().unwrap(),
            "access-1",
            published["datatoken"].as_str().unwrap(),
        ])
        .await;
        assert!(ordered["error"].is_null(), "order: {ordered}");
        ordered["orderTx"].as_str().unwrap().to_string()
    }

    async fn download_js(&self, who: usize, did: &str, service: &str, tx: &str) -> Value {
        ocean_js(&[
            "download",
            &self.chain.url,
            chain::KEYS[who],
            &self.provider_url,
            did,
            service,
            tx,
        ])
        .await
    }

    /// A download request signed by `who` with `nonce`, sent as ocean.js would.
    async fn download(
        &self,
        who: usize,
        did: &str,
        service: &str,
        tx: &str,
        file_index: &str,
        nonce: &str,
    ) -> (u16, Value) {
        let signer = chain::signer(who);
        let hash = keccak256(format!("{did}{nonce}").as_bytes());
        let signature = signer.sign_message_sync(hash.as_slice()).unwrap();
        let url = format!(
            "{}/api/services/download?fileIndex={file_index}&documentId={did}&transferTxId={tx}&serviceId={service}&consumerAddress={}&nonce={nonce}&signature=0x{}",
            self.provider_url,
            signer.address().to_checksum(None),
            hex::encode(signature.as_bytes())
        );
        let response = self.app.client.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        let value = serde_json::from_slice(&body).unwrap_or_else(
            |_| json!({"bytes": body.len(), "sha256": hex::encode(Sha256::digest(&body))}),
        );
        (status, value)
    }
}

pub(crate) fn now_nonce() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn ocean_js_publishes_orders_and_downloads_through_wharf() {
    let world = World::start("").await;
    let root: Value = world
        .app
        .client
        .get(&world.provider_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(root["chainIds"], json!([1337]));
    assert_eq!(
        root["serviceEndpoints"]["download"],
        json!(["GET", "/api/services/download"])
    );
    let provider_address = root["providerAddresses"]["1337"]
        .as_str()
        .unwrap()
        .to_string();

    let published = world.publish(3600).await;
    let did = published["did"].as_str().unwrap();
    // The registry serves the DDO where an Aquarius would.
    let served: Value = world
        .app
        .client
        .get(world.app.url(&format!("/api/aquarius/assets/ddo/{did}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, published["ddo"]);

    // ocean.js fileinfo: the service's files and a file object, with checksums.
    let data_sha = hex::encode(Sha256::digest(world.files.data.as_slice()));
    let info = ocean_js(&[
        "fileinfo",
        &world.chain.url,
        chain::KEYS[CONSUMER],
        &world.provider_url,
        did,
        "access-1",
        &json!({"type": "url", "url": world.data_url(), "method": "GET"}).to_string(),
    ])
    .await;
    assert!(info["error"].is_null(), "{info}");
    for answer in [&info["did"][0], &info["file"][0]] {
        assert_eq!(answer["valid"], true, "{info}");
        assert_eq!(answer["checksum"], data_sha.as_str(), "{info}");
        assert_eq!(answer["contentType"], "text/csv");
        assert_eq!(
            answer["contentLength"],
            world.files.data.len().to_string().as_str()
        );
    }
    // The DID answer never gives the file's URL away.
    assert!(!info["did"].to_string().contains("127.0.0.1"), "{info}");

    // Order on chain with the provider fee wharf signed (the contract checks it), download.
    let tx = world.order(CONSUMER, &published).await;
    let download = world.download_js(CONSUMER, did, "access-1", &tx).await;
    assert!(download["error"].is_null(), "{download}");
    assert_eq!(download["sha256"], data_sha.as_str());
    assert_eq!(download["filename"], "data.csv");
    // The same order again, within its timeout.
    let again = world.download_js(CONSUMER, did, "access-1", &tx).await;
    assert_eq!(again["sha256"], data_sha.as_str(), "{again}");

    // A Range is answered with Content-Range.
    let nonce = now_nonce() + 10_000;
    let hash = keccak256(format!("{did}{nonce}").as_bytes());
    let signer = chain::signer(CONSUMER);
    let signature = signer.sign_message_sync(hash.as_slice()).unwrap();
    let ranged = world
        .app
        .client
        .get(format!(
            "{}/api/services/download?fileIndex=0&documentId={did}&transferTxId={tx}&serviceId=access-1&consumerAddress={}&nonce={nonce}&signature=0x{}",
            world.provider_url,
            signer.address(),
            hex::encode(signature.as_bytes())
        ))
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"],
        format!("bytes 0-9/{}", world.files.data.len()).as_str()
    );
    assert_eq!(&ranged.bytes().await.unwrap()[..], &world.files.data[..10]);

    // decrypt, as an Aquarius does, by the metadata transaction.
    let decrypter = chain::signer(OTHER);
    let nonce = now_nonce().to_string();
    let tx_id = published["metadataTx"].as_str().unwrap();
    let nft = published["nft"].as_str().unwrap();
    let message = format!(
        "{tx_id}{}1337{nonce}",
        decrypter.address().to_checksum(None)
    );
    let signature = decrypter
        .sign_message_sync(keccak256(message.as_bytes()).as_slice())
        .unwrap();
    let response = world
        .app
        .client
        .post(format!("{}/api/services/decrypt", world.provider_url))
        .json(&json!({
            "transactionId": tx_id, "chainId": 1337, "dataNftAddress": nft,
            "decrypterAddress": decrypter.address().to_checksum(None), "nonce": nonce,
            "signature": format!("0x{}", hex::encode(signature.as_bytes())),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.text().await.unwrap(),
        published["ddoText"].as_str().unwrap()
    );
    assert_eq!(
        provider_address,
        root["providerAddresses"]["1337"].as_str().unwrap()
    );
}

#[tokio::test]
async fn orders_and_signatures_are_checked() {
    let world = World::start("").await;
    let published = world.publish(3600).await;
    let did = published["did"].as_str().unwrap().to_string();
    let tx = world.order(CONSUMER, &published).await;
    let metadata_tx = published["metadataTx"].as_str().unwrap();
    // Nonces only go up: one counter for the whole test.
    let counter = std::sync::atomic::AtomicU64::new(now_nonce());
    let n = || (counter.fetch_add(1, Ordering::SeqCst) + 1).to_string();

    // A transaction without an order, and one the chain never saw (answered at once).
    let (status, body) = world
        .download(CONSUMER, &did, "access-1", metadata_tx, "0", &n())
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("could not be validated"),
        "{body}"
    );
    let started = Instant::now();
    let fake = format!("0x{}", "ab".repeat(32));
    let (status, body) = world
        .download(CONSUMER, &did, "access-1", &fake, "0", &n())
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a fake hash answers fast"
    );
    // Another consumer's order.
    let (status, body) = world
        .download(OTHER, &did, "access-1", &tx, "0", &n())
        .await;
    assert_eq!(status, 400, "{body}");
    // A file index out of range: a clear 400, not a crash; the nonce is not used up.
    let kept = n();
    let (status, body) = world
        .download(CONSUMER, &did, "access-1", &tx, "3", &kept)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("No such fileIndex 3"))
    );
    let (status, body) = world
        .download(CONSUMER, &did, "access-1", &tx, "0", &kept)
        .await;
    assert_eq!(status, 200, "a failed request consumes no nonce: {body}");
    // The same nonce again, and a lower one.
    let (status, body) = world
        .download(CONSUMER, &did, "access-1", &tx, "0", &kept)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"]["signature"]
            .as_str()
            .unwrap()
            .contains("nonce"),
        "{body}"
    );
    let (status, _) = world
        .download(CONSUMER, &did, "access-1", &tx, "0", "1")
        .await;
    assert_eq!(status, 400);
    // A signature by someone else for this consumer.
    let nonce = n();
    let hash = keccak256(format!("{did}{nonce}").as_bytes());
    let forged = chain::signer(OTHER)
        .sign_message_sync(hash.as_slice())
        .unwrap();
    let response = world
        .app
        .client
        .get(format!(
            "{}/api/services/download?fileIndex=0&documentId={did}&transferTxId={tx}&serviceId=access-1&consumerAddress={}&nonce={nonce}&signature=0x{}",
            world.provider_url,
            chain::signer(CONSUMER).address(),
            hex::encode(forged.as_bytes())
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Validation error", "{body}");

    // 50 requests at once with one nonce: exactly one goes through.
    let nonce = n();
    let world = Arc::new(world);
    let attempts: Vec<_> = (0..50)
        .map(|_| {
            let world = world.clone();
            let (did, tx, nonce) = (did.clone(), tx.clone(), nonce.clone());
            tokio::spawn(async move {
                world
                    .download(CONSUMER, &did, "access-1", &tx, "0", &nonce)
                    .await
                    .0
            })
        })
        .collect();
    let mut passed = 0;
    for attempt in attempts {
        if attempt.await.unwrap() == 200 {
            passed += 1;
        }
    }
    assert_eq!(passed, 1, "one nonce, one download");

    // Another service of the same asset: the order was for service index 0.
    let mut ddo: Value = serde_json::from_str(published["ddoText"].as_str().unwrap()).unwrap();
    let mut second = ddo["services"][0].clone();
    second["id"] = json!("access-2");
    ddo["services"].as_array_mut().unwrap().push(second);
    let (status, body) = world
        .app
        .graphql(
            "mutation($d: String!) { publishAsset(ddo: $d) { did } }",
            json!({"d": ddo.to_string()}),
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = world
        .download(CONSUMER, &did, "access-2", &tx, "0", &n())
        .await;
    assert_eq!(status, 400, "{body}");
    // Its provider fee names service access-1: the order is not for access-2.
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no provider fee of this provider for service access-2"),
        "{body}"
    );

    // An order past its service's timeout.
    let short = world.publish(2).await;
    let short_did = short["did"].as_str().unwrap().to_string();
    let short_tx = world.order(CONSUMER, &short).await;
    let (status, _) = world
        .download(CONSUMER, &short_did, "access-1", &short_tx, "0", &n())
        .await;
    assert_eq!(status, 200, "within the timeout");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (status, body) = world
        .download(CONSUMER, &short_did, "access-1", &short_tx, "0", &n())
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

/// `decrypt` of a document given whole (`encryptedDocument`, `flags`, `documentHash`), signed
/// by `who` over `dataNftAddress + decrypterAddress + chainId + nonce`.
async fn decrypt_document(
    world: &World,
    who: usize,
    nft: &str,
    document: &[u8],
    flags: u8,
    hash: &[u8],
) -> (u16, Vec<u8>) {
    let decrypter = chain::signer(who);
    let nonce = now_nonce().to_string();
    let message = format!("{nft}{}1337{nonce}", decrypter.address().to_checksum(None));
    let signature = decrypter
        .sign_message_sync(keccak256(message.as_bytes()).as_slice())
        .unwrap();
    let response = world
        .app
        .client
        .post(format!("{}/api/services/decrypt", world.provider_url))
        .json(&json!({
            "chainId": 1337, "dataNftAddress": nft,
            "decrypterAddress": decrypter.address().to_checksum(None), "nonce": nonce,
            "signature": format!("0x{}", hex::encode(signature.as_bytes())),
            "encryptedDocument": format!("0x{}", hex::encode(document)),
            "flags": flags, "documentHash": format!("0x{}", hex::encode(hash)),
        }))
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn encrypt(world: &World, document: &[u8]) -> Vec<u8> {
    let response = world
        .app
        .client
        .post(format!(
            "{}/api/services/encrypt?chainId=1337",
            world.provider_url
        ))
        .header("Content-Type", "application/octet-stream")
        .body(document.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let text = response.text().await.unwrap();
    hex::decode(text.trim_start_matches("0x")).unwrap()
}

/// eciesjs (the JavaScript ECIES of ocean-node) in the same layout: encrypts to a public key,
/// or decrypts with a private key; hex in, hex out.
fn eciesjs(mode: &str, key: &str, data: &[u8]) -> Vec<u8> {
    wharf_tests::ensure_npm_packages();
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    let script = "const e = require('eciesjs'); const [m, k, d] = process.argv.slice(1); \
         const out = m === 'encrypt' ? e.encrypt(k, Buffer.from(d, 'hex')) : e.decrypt(k, Buffer.from(d, 'hex')); \
         console.log(Buffer.from(out).toString('hex'));";
    let output = std::process::Command::new("node")
        .current_dir(js)
        .args(["-e", script, mode, key, &hex::encode(data)])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    hex::decode(String::from_utf8_lossy(&output.stdout).trim()).unwrap()
}

#[tokio::test]
async fn documents_open_with_every_flag_for_authorised_decrypters_only() {
    let allowed = chain::signer(OTHER).address();
    // Listed lower-case: addresses are compared as addresses, not strings.
    let world = World::start(&format!(
        "authorized_decrypters = [\"{}\"]\n",
        format!("{allowed:#x}").to_lowercase()
    ))
    .await;
    let published = world.publish(3600).await;
    let nft = published["nft"].as_str().unwrap();
    let document = br#"{"hello": "wharf", "numbers": [1, 2, 3]}"#.repeat(20);
    let hash = Sha256::digest(&document).to_vec();
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut std::io::Cursor::new(&document), &mut xz).unwrap();
    let cases: Vec<(u8, Vec<u8>)> = vec![
        (0, document.clone()),
        (1, xz.clone()),
        (2, encrypt(&world, &document).await),
        (3, encrypt(&world, &xz).await),
    ];
    for (flags, sealed) in &cases {
        let (status, opened) = decrypt_document(&world, OTHER, nft, sealed, *flags, &hash).await;
        assert_eq!(
            status,
            201,
            "flags {flags}: {}",
            String::from_utf8_lossy(&opened)
        );
        assert_eq!(opened, document, "flags {flags}");
    }
    // A decrypter not on the list, and a hash that does not match.
    let (status, body) = decrypt_document(&world, CONSUMER, nft, &cases[2].1, 2, &hash).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let (status, body) = decrypt_document(&world, OTHER, nft, &cases[2].1, 2, &[0u8; 32]).await;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("Checksum"),
        "{}",
        String::from_utf8_lossy(&body)
    );

    // The same ECIES as eciesjs, both ways, with the provider's key.
    let key_hex = std::fs::read_to_string(world.app.env.data_dir.path().join("provider.key"))
        .unwrap()
        .trim()
        .to_string();
    let key: alloy_signer_local::PrivateKeySigner = key_hex.parse().unwrap();
    let public = format!(
        "04{}",
        hex::encode(
            &key.credential()
                .verifying_key()
                .to_encoded_point(false)
                .as_bytes()[1..]
        )
    );
    let from_js = eciesjs("encrypt", &public, &document);
    let (status, opened) = decrypt_document(&world, OTHER, nft, &from_js, 2, &hash).await;
    assert_eq!((status, opened), (201, document.clone()));
    let from_wharf = encrypt(&world, &document).await;
    assert_eq!(
        eciesjs("decrypt", key_hex.trim_start_matches("0x"), &from_wharf),
        document
    );
}

#[tokio::test]
async fn hostile_urls_are_refused_and_no_packet_reaches_them() {
    // A listener on a loopback port wharf must never reach, on IPv4 and IPv6.
    let forbidden = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = forbidden.local_addr().unwrap().port();
    let reached = Arc::new(AtomicUsize::new(0));
    for listener in [
        Some(forbidden),
        tokio::net::TcpListener::bind(("::1", port)).await.ok(),
    ]
    .into_iter()
    .flatten()
    {
        let reached = reached.clone();
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                reached.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    let hostile: Vec<String> = [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f000001",
        "017700000001",
        "0177.0.0.1",
        "127.0.0.2",
        "127.255.255.254",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[0:0:0:0:0:ffff:7f00:1]",
        "[0000::1]",
        "0.0.0.0",
        "0",
        "localhost",
    ]
    .iter()
    .map(|host| format!("http://{host}:{port}/secret"))
    .collect();
    let files = FileServer::start(b"public".to_vec()).await;
    // wharf may reach the file server (and only that port) as if it were public.
    let toml = format!(
        "[provider]\nallow_private_networks = [\"127.0.0.1:{}\"]\nmax_redirects = 3\n",
        files.port
    );
    let app = TestApp::spawn_with_toml(Some(&toml), &[]).await;
    let fileinfo = |url: String| {
        let client = app.client.clone();
        let endpoint = app.url("/provider/api/services/fileinfo");
        async move {
            let response = client
                .post(endpoint)
                .json(&json!({"type": "url", "url": url, "method": "GET"}))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let mut refused = 0;
    let mut cases: Vec<String> = hostile.clone();
    // The same addresses behind a redirect from the allowed server.
    cases.extend(
        hostile
            .iter()
            .map(|h| format!("{}/redirect?to={h}", files.base)),
    );
    cases.extend([
        format!("{}/loop", files.base),
        "file:///etc/passwd".into(),
        "ftp://127.0.0.1/x".into(),
        "gopher://127.0.0.1:70/".into(),
        format!("http://user:pass@127.0.0.1:{port}/"),
    ]);
    for url in &cases {
        let (status, body) = fileinfo(url.clone()).await;
        assert_eq!(status, 400, "{url}: {body}");
        let text = body["error"].as_str().unwrap_or_default();
        assert!(
            text.contains("address") || text.contains("redirect"),
            "{url}: {body}"
        );
        assert!(
            !text.contains(&port.to_string()),
            "no request data echoed: {body}"
        );
        refused += 1;
    }
    assert!(refused >= 30, "{refused} hostile URLs");
    // The allowed server answers; an endless body is not read to its end.
    let (status, body) = fileinfo(format!("{}/data.csv", files.base)).await;
    assert_eq!(
        (status, body[0]["valid"].clone()),
        (200, json!(true)),
        "{body}"
    );
    let started = Instant::now();
    let response = app
        .client
        .post(app.url("/provider/api/services/fileinfo"))
        .json(&json!({"type": "url", "url": format!("{}/endless", files.base), "checksum": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body[0]["checksum"].is_null(), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "a forbidden listener was reached"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_in_the_legacy_shape() {
    let app = TestApp::spawn().await;
    let get = |path: &str| {
        let url = app.url(&format!("/provider/api/services/{path}"));
        let client = app.client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = get("nonce").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"message": "Validation error", "errors": {"userAddress": ["The userAddress field is required."]}, "success": false})
    );
    let (status, body) = get("nonce?userAddress=0x0000000000000000000000000000000000000001").await;
    assert_eq!((status, body), (200, json!({"nonce": "0"})));
    let (status, body) = get("download?documentId=did:op:1").await;
    assert_eq!(status, 400);
    for field in [
        "serviceId",
        "consumerAddress",
        "transferTxId",
        "fileIndex",
        "nonce",
        "signature",
    ] {
        assert!(body["errors"][field].is_array(), "{field}: {body}");
    }
    let (status, body) = get("initialize?documentId=did:op:unknown&serviceId=s&consumerAddress=0x0000000000000000000000000000000000000001").await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "Cannot resolve DID"}))
    );
    let (status, body) =
        get("initialize?documentId=did:op:x&serviceId=s&consumerAddress=0x1&fileIndex=first").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["fileIndex"][0],
        "The fileIndex must be a number."
    );
    // encrypt: the content type, the chain, the size.
    let encrypt = |content_type: &'static str, query: &'static str, body: Vec<u8>| {
        let url = app.url(&format!("/provider/api/services/encrypt{query}"));
        let client = app.client.clone();
        async move {
            let response = client
                .post(url)
                .header("Content-Type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    assert_eq!(
        encrypt("application/json", "?chainId=1", b"{}".to_vec()).await,
        (
            400,
            json!({"error": "Invalid request content type: should be application/octet-stream"})
        )
    );
    assert_eq!(
        encrypt("application/octet-stream", "", b"{}".to_vec()).await,
        (400, json!({"error": "Missing chainId query parameter."}))
    );
    assert_eq!(
        encrypt("application/octet-stream", "?chainId=1", Vec::new())
            .await
            .0,
        400
    );
    assert_eq!(
        encrypt(
            "application/octet-stream",
            "?chainId=1",
            vec![0u8; 17 << 20]
        )
        .await
        .0,
        413
    );
    // decrypt and fileinfo with junk.
    let response = app
        .client
        .post(app.url("/provider/api/services/decrypt"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = app
        .client
        .post(app.url("/provider/api/services/fileinfo"))
        .json(&json!({"type": "smartcontract"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = app
        .client
        .post(app.url("/provider/api/services/fileinfo"))
        .json(&json!({"did": "did:op:nothing", "serviceId": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap()
        ),
        (400, json!({"error": "Cannot resolve DID"}))
    );
    // GraphQL: an operator-only mutation and a DDO whose DID is not its NFT's.
    let (_, body) = app
        .graphql(
            "mutation { publishAsset(ddo: \"{}\") { did } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(wharf_tests::error_code(&body), Some("UNAUTHENTICATED"));
    let ddo = json!({"id": "did:op:0000", "chainId": 1337, "nftAddress": "0x0000000000000000000000000000000000000abc",
        "services": [{"id": "a", "type": "access", "files": "0x", "datatokenAddress": "0x0000000000000000000000000000000000000def"}]});
    let (_, body) = app
        .graphql(
            "mutation($d: String!) { publishAsset(ddo: $d) { did } }",
            json!({"d": ddo.to_string()}),
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(
        wharf_tests::error_code(&body),
        Some("BAD_USER_INPUT"),
        "{body}"
    );
    let (_, body) = app
        .graphql(
            "{ asset(did: \"did:op:nothing\") { did } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(wharf_tests::error_code(&body), Some("NOT_FOUND"), "{body}");
}

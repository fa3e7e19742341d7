//! web-core file hosting at `/api` (webcore.md §3, §5, §6, §7): uploads encrypted
//! convergently and charged in byte credits, downloads charged and refunded when cut off,
//! find and status, as MetaDisk calls them.
use std::time::Duration;

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wharf_tests::TestApp;

const PASSPHRASE: &str = "Something old, something new.";

/// The ciphertext and key web-core's file-encryptor makes of `plain`, computed here from the
/// construction (not from wharf's code).
fn convergent(plain: &[u8]) -> ([u8; 32], Vec<u8>) {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(PASSPHRASE.as_bytes()).unwrap();
    mac.update(hex::encode(Sha256::digest(plain)).as_bytes());
    let key: [u8; 32] = mac.finalize().into_bytes().into();
    let mut data = plain.to_vec();
    let mut cipher = ctr::Ctr128BE::<Aes256>::new(&key.into(), &1u128.to_be_bytes().into());
    cipher.apply_keystream(&mut data);
    (key, data)
}

/// Bytes that differ from position to position, so a misplaced chunk shows.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// A multipart body as MetaDisk's FormData sends it: `token` first, then `file`.
fn form(token: Option<&str>, name: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----wharfHostingBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    if let Some(token) = token {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{token}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(app: &TestApp, token: Option<&str>, name: &str, data: &[u8]) -> (u16, Value) {
    let (content_type, body) = form(token, name, data);
    let response = app
        .client
        .post(app.url("/api/upload"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn download(
    app: &TestApp,
    filehash: &str,
    key: Option<&str>,
    token: Option<&str>,
) -> reqwest::Response {
    let mut query = Vec::new();
    if let Some(key) = key {
        query.push(("key", key));
    }
    if let Some(token) = token {
        query.push(("token", token));
    }
    app.client
        .get(app.url(&format!("/api/download/{filehash}")))
        .query(&query)
        .send()
        .await
        .unwrap()
}

async fn funded(app: &TestApp, bytes: i64) -> String {
    let token = app.new_token().await;
    if bytes > 0 {
        let (status, _) = app.move_bytes("deposit", &token, json!(bytes)).await;
        assert_eq!(status, 200);
    }
    token
}

fn staging_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.env.data_dir.path().join("hosting-staging"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits until `token`'s balance is `expected` (settling a download runs after its response).
async fn balance_becomes(app: &TestApp, token: &str, expected: i64) {
    for _ in 0..100 {
        if app.balance(token).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.balance(token).await, expected, "balance never settled");
}

#[tokio::test]
async fn files_of_every_size_round_trip_encrypted_and_charged_exactly() {
    let app = TestApp::spawn().await;
    // Empty, one byte, AES block edges, UnixFS chunk edges (256 KiB) and a few MiB.
    let sizes = [
        0usize,
        1,
        15,
        16,
        17,
        262_143,
        262_144,
        262_145,
        3 * 1024 * 1024 + 7,
    ];
    let total: usize = sizes.iter().sum();
    let start = (6 * total) as i64 + 1000;
    let token = funded(&app, start).await;
    let mut expected_balance = start;
    for (i, &size) in sizes.iter().enumerate() {
        let plain = pattern(size, i as u32);
        let (key, cipher) = convergent(&plain);
        let (status, body) = upload(&app, Some(&token), "report 2024.pdf", &plain).await;
        assert_eq!(status, 201, "size {size}: {body}");
        let filehash = hex::encode(Sha256::digest(&cipher));
        assert_eq!(body, json!({"filehash": filehash, "key": hex::encode(key)}));
        expected_balance -= 4 * size as i64;
        assert_eq!(
            app.balance(&token).await,
            expected_balance,
            "upload of {size} costs 4×"
        );

        // With the key: the plaintext, under upstream's headers.
        let response = download(&app, &filehash, Some(&hex::encode(key)), Some(&token)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/octet-stream"
        );
        assert_eq!(
            response.headers()["content-disposition"],
            format!("attachment;filename={}_report_2024.pdf", &filehash[..7])
        );
        let bytes = response.bytes().await.unwrap();
        assert!(bytes[..] == plain[..], "size {size}: plaintext differs");
        expected_balance -= size as i64;
        balance_becomes(&app, &token, expected_balance).await;

        // Without: the ciphertext, which is also all the gateway serves.
        let response = download(&app, &filehash, None, Some(&token)).await;
        assert_eq!(response.status(), 200);
        assert!(response.bytes().await.unwrap()[..] == cipher[..]);
        expected_balance -= size as i64;
        let found: Value = app
            .client
            .get(app.url(&format!("/api/find/{filehash}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(found["filehash"], filehash);
        assert_eq!(found["filesize"], size);
        assert_eq!(found["version"], "0.2");
        let cid = found["cid"].as_str().unwrap();
        let gateway = app
            .client
            .get(app.url(&format!("/ipfs/{cid}")))
            .send()
            .await
            .unwrap();
        assert_eq!(gateway.status(), 200);
        assert!(
            gateway.bytes().await.unwrap()[..] == cipher[..],
            "/ipfs/ serves ciphertext"
        );
    }
    balance_becomes(&app, &token, expected_balance).await;
    // Every charge is in the ledger with what it was for.
    let (_, body) = app
        .graphql(
            "query($t: String!) { ledger(token: $t, first: 100) { edges { node { kind amount reference } } } }",
            json!({"t": token}),
            None,
        )
        .await;
    let entries = body["data"]["ledger"]["edges"].as_array().unwrap();
    let charged: i64 = entries
        .iter()
        .filter(|e| e["node"]["kind"] == "charge")
        .map(|e| e["node"]["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(charged, expected_balance - start);
    assert!(entries.iter().any(|e| {
        e["node"]["reference"]
            .as_str()
            .is_some_and(|r| r.starts_with("upload:"))
    }));
    assert!(entries.iter().any(|e| {
        e["node"]["reference"]
            .as_str()
            .is_some_and(|r| r.starts_with("download:"))
    }));
    assert_eq!(staging_files(&app), 0, "no plaintext is left on disk");
}

#[tokio::test]
async fn the_same_file_is_stored_once_and_refusals_are_upstreams() {
    let app = TestApp::spawn().await;
    let plain = pattern(100_000, 9);
    let alice = funded(&app, 1_000_000).await;
    let bob = funded(&app, 1_000_000).await;
    let (status, first) = upload(&app, Some(&alice), "a.bin", &plain).await;
    assert_eq!(status, 201);
    let cars = app.count("car_files").await;
    let (status, second) = upload(&app, Some(&bob), "other-name.bin", &plain).await;
    assert_eq!(status, 201);
    assert_eq!(
        first, second,
        "convergent: the same file, the same hash and key"
    );
    assert_eq!(app.count("car_files").await, cars, "stored once");
    assert_eq!(app.count("hosted_files").await, 1);
    // Both pay the same: the price does not tell whether the file was already here.
    assert_eq!(app.balance(&alice).await, 1_000_000 - 400_000);
    assert_eq!(app.balance(&bob).await, 1_000_000 - 400_000);
    let filehash = first["filehash"].as_str().unwrap();
    let key = first["key"].as_str().unwrap();

    // Wrong keys are refused before any charge.
    let wrong = hex::encode([7u8; 32]);
    for bad in [wrong.as_str(), "not-hex", "abcd"] {
        let response = download(&app, filehash, Some(bad), Some(&alice)).await;
        assert_eq!(response.status(), 400, "key {bad}");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"error": "error-downloading-file"})
        );
    }
    assert_eq!(app.balance(&alice).await, 600_000);

    // Unknown files.
    let unknown = hex::encode([1u8; 32]);
    for hash in [unknown.as_str(), "nothex"] {
        let response = download(&app, hash, Some(key), Some(&alice)).await;
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"error": "file-not-found"})
        );
        let response = app
            .client
            .get(app.url(&format!("/api/find/{hash}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"error": "File not found"})
        );
    }

    // Missing, unknown and poor tokens.
    let response = download(&app, filehash, Some(key), None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "token-required"})
    );
    let response = download(&app, filehash, Some(key), Some("NoSuchToken00000")).await;
    assert_eq!(response.status(), 402);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "balance-insufficient"})
    );
    let poor = funded(&app, 99_999).await;
    let response = download(&app, filehash, Some(key), Some(&poor)).await;
    assert_eq!(response.status(), 402);
    assert_eq!(
        app.balance(&poor).await,
        99_999,
        "a refusal charges nothing"
    );

    let other = pattern(5000, 77);
    let (status, body) = upload(&app, None, "x", &other).await;
    assert_eq!((status, body), (401, json!({"error": "token-required"})));
    let (status, body) = upload(&app, Some("NoSuchToken00000"), "x", &other).await;
    assert_eq!(
        (status, body),
        (402, json!({"error": "balance-insufficient"}))
    );
    let (status, body) = upload(&app, Some(&poor), "x", &pattern(30_000, 5)).await;
    assert_eq!(
        (status, body),
        (402, json!({"error": "balance-insufficient"}))
    );
    assert_eq!(app.balance(&poor).await, 99_999);
    assert_eq!(
        app.count("hosted_files").await,
        1,
        "nothing refused was stored"
    );
    assert_eq!(app.count("car_files").await, cars);

    // No file in the form.
    let response = app
        .client
        .post(app.url("/api/upload"))
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("--xyz\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nabc\r\n--xyz--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 402, "an unknown token is refused first");
    let response = app
        .client
        .post(app.url("/api/upload"))
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body(format!(
            "--xyz\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{alice}\r\n--xyz--\r\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "file-missing"})
    );
    assert_eq!(staging_files(&app), 0);
}

#[tokio::test]
async fn fifty_concurrent_downloads_on_credit_for_twenty_charge_twenty() {
    let app = TestApp::spawn().await;
    let size = 50_000usize;
    let plain = pattern(size, 3);
    let uploader = funded(&app, 4 * size as i64).await;
    let (status, body) = upload(&app, Some(&uploader), "f", &plain).await;
    assert_eq!(status, 201);
    let filehash = body["filehash"].as_str().unwrap().to_string();
    let key = body["key"].as_str().unwrap().to_string();
    let reader = funded(&app, 20 * size as i64 + size as i64 / 2).await;

    let attempts = (0..50).map(|_| {
        let (app, filehash, key, reader) = (&app, &filehash, &key, &reader);
        async move {
            let response = download(app, filehash, Some(key), Some(reader)).await;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.unwrap();
            (status, bytes)
        }
    });
    let results = futures::future::join_all(attempts).await;
    let ok: Vec<_> = results.iter().filter(|(s, _)| *s == 200).collect();
    let refused = results.iter().filter(|(s, _)| *s == 402).count();
    assert_eq!(ok.len(), 20, "exactly what the balance covers");
    assert_eq!(refused, 30);
    assert!(ok.iter().all(|(_, b)| b[..] == plain[..]));
    balance_becomes(&app, &reader, size as i64 / 2).await;
    // The ledger sums to the balance.
    let (_, body) = app
        .graphql(
            "query($t: String!) { ledger(token: $t, first: 100) { edges { node { kind amount balanceAfter } } } }",
            json!({"t": reader}),
            None,
        )
        .await;
    let entries = body["data"]["ledger"]["edges"].as_array().unwrap();
    let sum: i64 = entries
        .iter()
        .map(|e| e["node"]["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, size as i64 / 2);
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["node"]["kind"] == "charge")
            .count(),
        20
    );
    assert_eq!(
        entries.last().unwrap()["node"]["balanceAfter"].as_i64(),
        Some(size as i64 / 2)
    );
}

#[tokio::test]
async fn a_download_cut_off_is_refunded_and_a_whole_one_is_not() {
    let app = TestApp::spawn().await;
    // Larger than what loopback socket buffers hold, so the server sees the client leave.
    let size = 24 * 1024 * 1024;
    let plain = pattern(size, 11);
    let uploader = funded(&app, 4 * size as i64).await;
    let (status, body) = upload(&app, Some(&uploader), "big", &plain).await;
    assert_eq!(status, 201, "{body}");
    let filehash = body["filehash"].as_str().unwrap().to_string();
    let key = body["key"].as_str().unwrap().to_string();
    let reader = funded(&app, 2 * size as i64).await;

    let response = download(&app, &filehash, Some(&key), Some(&reader)).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    assert_eq!(app.balance(&reader).await, size as i64, "charged up front");
    drop(stream);
    balance_becomes(&app, &reader, 2 * size as i64).await;

    let response = download(&app, &filehash, Some(&key), Some(&reader)).await;
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len(), size);
    balance_becomes(&app, &reader, size as i64).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.balance(&reader).await,
        size as i64,
        "a whole download is not refunded"
    );

    // The meters saw one upload in and what went out.
    let status: Value = app
        .client
        .get(app.url("/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["bandwidth"]["total"]["incoming"], size);
    assert_eq!(status["bandwidth"]["current"]["incoming"], size);
    let out = status["bandwidth"]["total"]["outgoing"].as_i64().unwrap();
    assert!(
        out >= size as i64 && out <= 2 * size as i64,
        "outgoing {out}"
    );
    assert_eq!(status["storage"]["used"], size);
}

#[tokio::test]
async fn oversize_and_cut_off_uploads_charge_nothing_and_leave_nothing() {
    let app = TestApp::spawn_with(&[("WHARF_WEBCORE__MAX_FILE_BYTES", "100000")]).await;
    let token = funded(&app, 10_000_000).await;
    let (status, body) = upload(&app, Some(&token), "big", &pattern(100_001, 1)).await;
    assert_eq!((status, body), (413, json!({"error": "file-too-large"})));
    let (status, _) = upload(&app, Some(&token), "fits", &pattern(100_000, 1)).await;
    assert_eq!(status, 201);
    let balance = app.balance(&token).await;
    assert_eq!(balance, 10_000_000 - 400_000);

    // A client that sends half its body and goes away.
    let (content_type, body) = form(Some(&token), "half", &pattern(90_000, 2));
    let address = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body[..body.len() / 2]).await.unwrap();
    socket.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(socket);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.balance(&token).await, balance, "nothing charged");
    assert_eq!(app.count("hosted_files").await, 1);
    assert_eq!(app.count("hosted_uploads").await, 1);
    assert_eq!(staging_files(&app), 0, "no staged plaintext left");
    assert_eq!(app.count("car_files WHERE staged_at IS NOT NULL").await, 0);

    // Declared too large: refused before reading, with the connection closed.
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: 50000000\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("file-too-large"), "{answer}");
}

/// MetaDisk's calls (webcore.md §7), in its order, with its headers.
#[tokio::test]
async fn metadisk_session_replayed() {
    let app = TestApp::spawn_with_toml(
        Some("[[webcore.promocodes]]\ncode = \"PLEASE\"\nbytes = 1073741824\n"),
        &[],
    )
    .await;
    // No token in local storage: a new one.
    let token: Value = app
        .client
        .post(app.url("/accounts/token/new"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let balance: Value = app
        .client
        .get(app.url(&format!("/accounts/token/balance/{token}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(balance, json!({"balance": 0}));
    // "Say Please for 1 GB".
    let redeemed = app
        .client
        .post(app.url(&format!("/accounts/token/redeem/{token}")))
        .header("Content-Type", "application/json; charset=UTF-8")
        .body(r#"{"promocode":"PLEASE"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.status(), 201);

    // The status panel.
    let status: Value = app
        .client
        .get(app.url("/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/bandwidth/current/incoming",
        "/bandwidth/current/outgoing",
        "/bandwidth/limits/incoming",
        "/bandwidth/limits/outgoing",
        "/storage/capacity",
        "/storage/used",
        "/storage/max_file_size",
        "/florincoin/balance",
        "/florincoin/address",
        "/sync/cloud_queue/count",
        "/sync/cloud_queue/size",
        "/sync/blockchain_queue/count",
        "/sync/blockchain_queue/size",
    ] {
        assert!(
            status.pointer(path).is_some(),
            "status lacks {path}: {status}"
        );
    }
    assert!(status["storage"]["capacity"].as_u64().unwrap() > 0);

    // Upload as FormData: token, then file.
    let plain = b"Superstar!\n".to_vec();
    let (code, stored) = upload(&app, Some(&token), "star.txt", &plain).await;
    assert_eq!(code, 201);
    assert_eq!(
        stored,
        json!({
            "filehash": "c508708d7a8a0db90e92f15510ee3ef488bd67a8e6982489e0d27bd0bcaf7741",
            "key": "0372c3a52ffa439556db30e6a2a6cd7bae4fb498bd58996919a61bdac831fe3f",
        }),
        "the reference vector, end to end"
    );
    let fhash = stored["filehash"].as_str().unwrap();
    let key = stored["key"].as_str().unwrap();
    // The download link and the share string's lookup.
    let link = format!("/api/download/{fhash}?key={key}&token={token}");
    let response = app.client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap()[..], plain[..]);
    let found: Value = app
        .client
        .get(app.url(&format!("/api/find/{fhash}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["filename"], "c508708_star.txt");
    assert_eq!(found["filesize"], 11);
    assert!(found["datetime"].as_str().unwrap().parse::<i64>().is_ok());
    balance_becomes(&app, &token, 1_073_741_824 - 44 - 11).await;

    // The same files over GraphQL.
    let (_, body) = app
        .graphql(
            "query($t: String!, $h: String!) { hostedFiles(token: $t) { edges { node { charged file { filehash name size cid ipfsPath } } } } hostedFile(hash: $h) { name } }",
            json!({"t": token, "h": fhash}),
            None,
        )
        .await;
    let edges = body["data"]["hostedFiles"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{body}");
    assert_eq!(edges[0]["node"]["charged"], 44);
    assert_eq!(edges[0]["node"]["file"]["filehash"], fhash);
    assert_eq!(body["data"]["hostedFile"]["name"], "c508708_star.txt");
    let (_, body) = app
        .graphql(
            "{ hostedFile(hash: \"0000000000000000000000000000000000000000000000000000000000000000\") { name } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(wharf_tests::error_code(&body), Some("NOT_FOUND"));
}

/// What a dead process leaves — a download charged but never settled, staged plaintext — is
/// ended by the reconciliation sweep: refunded once, removed.
#[tokio::test]
async fn the_sweep_refunds_downloads_and_removes_plaintext_a_dead_process_left() {
    let app = TestApp::spawn_with(&[("WHARF_JOBS__STALE_AFTER_SECS", "1")]).await;
    let plain = pattern(70_000, 21);
    let uploader = funded(&app, 280_000).await;
    let (status, body) = upload(&app, Some(&uploader), "f", &plain).await;
    assert_eq!(status, 201);
    let reader = funded(&app, 100_000).await;
    let opened = app
        .services
        .hosting
        .download(
            body["filehash"].as_str().unwrap(),
            body["key"].as_str(),
            Some(&reader),
        )
        .await
        .unwrap();
    // As if the process died mid-download: nothing settles the transfer.
    std::mem::forget(opened);
    assert_eq!(app.balance(&reader).await, 30_000);
    let staging = app.env.data_dir.path().join("hosting-staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("left-by-a-crash"), b"plaintext").unwrap();
    // Past `jobs.stale_after_secs`.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let report = wharf_core::sweep::reconcile(&app.services).await.unwrap();
    assert_eq!(report.refunded_downloads, 1);
    assert_eq!(report.removed_staging_files, 1);
    assert_eq!(app.balance(&reader).await, 100_000);
    assert_eq!(staging_files(&app), 0);
    let again = wharf_core::sweep::reconcile(&app.services).await.unwrap();
    assert_eq!(again.refunded_downloads, 0, "refunded once");
    assert_eq!(app.balance(&reader).await, 100_000);
}

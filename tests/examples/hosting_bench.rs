//! web-core file hosting throughput (issue 13): `POST /api/upload` and `GET /api/download`
//! of one file on the embedded default, next to what this machine's single core does for the
//! same work in the same run (SHA-256, AES-256-CTR), and the process's RSS growth (client and
//! server share the process; the client streams both ways).
//! Run: `cargo run --release -p wharf-tests --example hosting_bench [MiB]` (default 256).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Instant;

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wharf_tests::TestApp;
use wharf_tests::bench::status_kib as rss_kib;

const BOUNDARY: &str = "wharf-hosting-bench";
const CHUNK: usize = 1 << 20;

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

/// Deterministic bytes of chunk `i`.
fn chunk(i: u64) -> Vec<u8> {
    let mut out = vec![0u8; CHUNK];
    for (j, b) in out.iter_mut().enumerate() {
        *b = ((i as usize * 31 + j) as u32)
            .wrapping_mul(2654435761)
            .to_be_bytes()[0];
    }
    out
}

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let bytes = mib * CHUNK as u64;

    // The single-core limits, on the same data size.
    let data = chunk(1);
    let started = Instant::now();
    let mut hasher = Sha256::new();
    for _ in 0..mib {
        hasher.update(&data);
    }
    std::hint::black_box(hasher.finalize());
    let sha = mbps(bytes, started.elapsed().as_secs_f64());
    let mut buf = data.clone();
    let mut cipher = ctr::Ctr128BE::<Aes256>::new(&[7u8; 32].into(), &1u128.to_be_bytes().into());
    let started = Instant::now();
    for _ in 0..mib {
        cipher.apply_keystream(&mut buf);
    }
    std::hint::black_box(&buf);
    let aes = mbps(bytes, started.elapsed().as_secs_f64());

    let app =
        TestApp::spawn_with(&[("WHARF_WEBCORE__MAX_FILE_BYTES", &(bytes * 2).to_string())]).await;
    let token = app.new_token().await;
    app.move_bytes("deposit", &token, json!(bytes * 16)).await;
    let rss_before = rss_kib("VmRSS:");

    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{token}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let length = head.len() as u64 + bytes + tail.len() as u64;
    let body = futures::stream::iter(
        std::iter::once(bytes::Bytes::from(head))
            .chain((0..mib).map(|i| bytes::Bytes::from(chunk(i))))
            .chain(std::iter::once(bytes::Bytes::from(tail))),
    )
    .map(Ok::<_, std::io::Error>);
    let started = Instant::now();
    let response = app
        .client
        .post(app.url("/api/upload"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("content-length", length)
        .body(reqwest::Body::wrap_stream(body))
        .timeout(std::time::Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let stored: Value = response.json().await.unwrap();
    let upload_secs = started.elapsed().as_secs_f64();
    assert_eq!(status, 201, "{stored}");

    let filehash = stored["filehash"].as_str().unwrap();
    let key = stored["key"].as_str().unwrap();
    let started = Instant::now();
    let response = app
        .client
        .get(app.url(&format!("/api/download/{filehash}?key={key}&token={token}")))
        .timeout(std::time::Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut received = 0u64;
    let mut check = Sha256::new();
    while let Some(part) = stream.next().await {
        let part = part.unwrap();
        received += part.len() as u64;
        check.update(&part);
    }
    let download_secs = started.elapsed().as_secs_f64();
    assert_eq!(received, bytes);
    let mut expected = Sha256::new();
    for i in 0..mib {
        expected.update(chunk(i));
    }
    assert_eq!(
        check.finalize(),
        expected.finalize(),
        "plaintext round-trips"
    );
    let peak = rss_kib("VmHWM:");

    // Re-upload of the same bytes: one pass (hash), no encryption or storage.
    let body = futures::stream::iter(
        std::iter::once(bytes::Bytes::from(format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{token}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
        )))
        .chain((0..mib).map(|i| bytes::Bytes::from(chunk(i))))
        .chain(std::iter::once(bytes::Bytes::from(format!("\r\n--{BOUNDARY}--\r\n")))),
    )
    .map(Ok::<_, std::io::Error>);
    let started = Instant::now();
    let again = app
        .client
        .post(app.url("/api/upload"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(reqwest::Body::wrap_stream(body))
        .timeout(std::time::Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    let dedupe_secs = started.elapsed().as_secs_f64();

    println!("file: {mib} MiB");
    println!("single core: sha256 {sha:.0} MB/s, aes-256-ctr {aes:.0} MB/s");
    println!(
        "upload (stage + sha256, then encrypt + import): {:.0} MB/s = {:.2}x sha256",
        mbps(bytes, upload_secs),
        mbps(bytes, upload_secs) / sha
    );
    println!(
        "re-upload of the same file (stage + sha256 only): {:.0} MB/s = {:.2}x sha256",
        mbps(bytes, dedupe_secs),
        mbps(bytes, dedupe_secs) / sha
    );
    println!(
        "download with key (read + decrypt + serve): {:.0} MB/s = {:.2}x aes-256-ctr",
        mbps(bytes, download_secs),
        mbps(bytes, download_secs) / aes
    );
    println!(
        "RSS: {} MiB before, peak growth {} MiB",
        rss_before / 1024,
        peak.saturating_sub(rss_before) / 1024
    );
}

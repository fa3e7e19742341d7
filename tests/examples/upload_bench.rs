//! Upload figures (issue 4): a 1 GiB file through `POST /upload` on the embedded default (SQLite,
//! in-process queue, local blobs, free `ipfs` storage), next to plain sha256 in the same run,
//! the server's peak RSS growth, and the time from upload to status 400.
//! Run: `cargo run --release -p wharf-tests --example upload_bench [MiB]` (default 1024).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wharf_core::uploads::upload::signed_text;
use wharf_tests::bench::{mib_chunk as chunk, status_kib as rss_kib};
use wharf_tests::{TestApp, wallet::Wallet};

const BOUNDARY: &str = "wharf-bench-boundary";

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let bytes = mib << 20;

    // The limit: sha256 over the same bytes, one core.
    let started = Instant::now();
    let mut sha = Sha256::new();
    for i in 0..mib {
        sha.update(chunk(i));
    }
    std::hint::black_box(sha.finalize());
    let sha_rate = bytes as f64 / started.elapsed().as_secs_f64() / 1e6;

    let toml = "[[storages]]\ntype = \"ipfs\"\n[dbs]\nmax_total_bytes = 68719476736\n";
    let mut app = TestApp::spawn_with_toml(Some(toml), &[]).await;
    app.spawn_workers();
    let alice = Wallet::new();
    let quote: Value = app
        .client
        .post(app.url("/getQuote"))
        .json(&json!({"type": "ipfs", "files": [{"length": bytes}], "duration": 60,
                      "payment": {"chainId": "0", "tokenAddress": "0x0000000000000000000000000000000000000000"},
                      "userAddress": alice.address().to_checksum(None)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = quote["quoteId"].as_str().unwrap().to_string();
    let signature = alice.personal_sign(signed_text(&id, "1").as_bytes());

    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file1\"; filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(head.into_bytes()) })
        .chain(futures::stream::iter(0..mib).map(|i| Ok(chunk(i))))
        .chain(futures::stream::once(async move { Ok(tail.into_bytes()) }));
    let rss_before = rss_kib("VmRSS:");
    let started = Instant::now();
    let response = app
        .client
        .post(app.url(&format!(
            "/upload?quoteId={id}&nonce=1&signature={signature}"
        )))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(reqwest::Body::wrap_stream(body))
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    let upload_secs = started.elapsed().as_secs_f64();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    loop {
        let status: Value = app
            .client
            .get(app.url(&format!("/getStatus?quoteId={id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let to_done = started.elapsed().as_secs_f64() - upload_secs;
    let peak = rss_kib("VmHWM:");
    let rate = bytes as f64 / upload_secs / 1e6;
    println!(
        "input {mib} MiB, {} threads",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("sha256 (one core, the limit)          {sha_rate:>8.1} MB/s");
    println!(
        "POST /upload ipfs (sha256+CID+CAR)    {rate:>8.1} MB/s  {:.2}x sha256",
        rate / sha_rate
    );
    println!(
        "upload -> status 400 (ipfs storage)   {:>8.0} ms after the upload returned",
        to_done * 1000.0
    );
    println!(
        "process peak RSS growth               {:>8} MiB (client and server in one process)",
        peak.saturating_sub(rss_before) / 1024
    );
}

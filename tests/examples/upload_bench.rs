//! Upload figures (issue 4): a 1 GiB file through `POST /upload` on the embedded default (SQLite,
//! in-process queue, local blobs, free `ipfs` storage), next to its two limits measured in the
//! same run (plain sha256 on one core, and writing the same bytes to a new file where the blob
//! store writes), the CPU it keeps busy, peak RSS growth, and the time from upload to status 400
//! with the statuses on the way.
//! Run: `cargo run --release -p wharf-tests --example upload_bench [MiB]` (default 1024).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::io::Write;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wharf_core::uploads::upload::signed_text;
use wharf_tests::bench::{append_summary, cpu_seconds, mib_chunk as chunk, status_kib as rss_kib};
use wharf_tests::{TestApp, wallet::Wallet};

const BOUNDARY: &str = "wharf-bench-boundary";

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let bytes = mib << 20;

    // The input is made before anything is timed: neither the limit nor the client (which
    // shares the machine's cores with the server) pays for generating it.
    let input: Vec<bytes::Bytes> = (0..mib).map(|i| bytes::Bytes::from(chunk(i))).collect();

    // The limit: sha256 over the same bytes, one core.
    let started = Instant::now();
    let mut sha = Sha256::new();
    for piece in &input {
        sha.update(piece);
    }
    std::hint::black_box(sha.finalize());
    let sha_rate = bytes as f64 / started.elapsed().as_secs_f64() / 1e6;

    let toml = "[[storages]]\ntype = \"ipfs\"\n[dbs]\nmax_total_bytes = 68719476736\n";
    let mut app = TestApp::spawn_with_toml(Some(toml), &[]).await;
    app.spawn_workers();

    // The storage's limit: the same bytes written to a new file on the filesystem the blob
    // store writes to (page cache, no fsync, as the blob store). Removed at once, which drops
    // its dirty pages before the upload starts.
    let probe = app.env.data_dir.path().join("write-limit.bin");
    let started = Instant::now();
    {
        let mut file = std::fs::File::create(&probe).unwrap();
        for piece in &input {
            file.write_all(piece).unwrap();
        }
    }
    let write_rate = bytes as f64 / started.elapsed().as_secs_f64() / 1e6;
    std::fs::remove_file(&probe).unwrap();

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
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(head.into()) })
        .chain(futures::stream::iter(input.clone()).map(Ok))
        .chain(futures::stream::once(async move { Ok(tail.into()) }));
    let rss_before = rss_kib("VmRSS:");
    let cpu_before = cpu_seconds();
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
    let upload_cpu = cpu_seconds() - cpu_before;
    // Freed only now: unmapping the input while it is sent is the client's cost, not the
    // server's, and both share the machine's cores.
    drop(input);
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let mut trail = Vec::new();
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
        if trail.last().is_none_or(|(s, _)| *s != status["status"]) {
            trail.push((
                status["status"].clone(),
                started.elapsed().as_secs_f64() - upload_secs,
            ));
        }
        if status["status"] == 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let to_done = started.elapsed().as_secs_f64() - upload_secs;
    let trail: Vec<String> = trail
        .iter()
        .map(|(status, at)| format!("{status} at {:.0} ms", at * 1000.0))
        .collect();
    let peak = rss_kib("VmHWM:");
    let rate = bytes as f64 / upload_secs / 1e6;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("input {mib} MiB, {cores} threads");
    println!("sha256 (one core, the limit)          {sha_rate:>8.1} MB/s");
    println!("new-file write (the storage's limit)  {write_rate:>8.1} MB/s");
    println!(
        "POST /upload ipfs (CID+CAR)           {rate:>8.1} MB/s  {:.2}x sha256, {:.2}x the storage's write",
        rate / sha_rate,
        rate / write_rate
    );
    println!(
        "CPU during the upload                 {:>8.2} cores busy of {cores} (client and server)",
        upload_cpu / upload_secs
    );
    println!(
        "upload -> status 400 (ipfs storage)   {:>8.0} ms after the upload returned ({})",
        to_done * 1000.0,
        trail.join(", ")
    );
    println!(
        "process peak RSS growth               {:>8} MiB (client and server in one process)",
        peak.saturating_sub(rss_before) / 1024
    );
    append_summary(&[
        (
            "upload ipfs, against sha256 one core (MB/s)",
            format!("{rate:.1}"),
            format!("{:.4}", rate / sha_rate),
        ),
        (
            "upload ipfs, against a new-file write (MB/s)",
            format!("{rate:.1}"),
            format!("{:.4}", rate / write_rate),
        ),
    ]);
}

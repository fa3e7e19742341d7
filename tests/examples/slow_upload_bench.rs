//! A long upload on a slow link (issue "Nothing stranded"): a file sent at a fixed rate far
//! below the machine's, through `POST /upload` on the embedded default with the default
//! request timeout (30 s). Prints whether it succeeded, how long it took, and the process's RSS
//! growth while it ran (client and server share the process; the client holds one chunk).
//! Run: `cargo run --release -p wharf-tests --example slow_upload_bench [MiB] [MB/s]`
//! (default 1024 MiB at 2 MB/s: about nine minutes).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use wharf_core::uploads::upload::signed_text;
use wharf_tests::bench::status_kib as rss_kib;
use wharf_tests::{TestApp, wallet::Wallet};

const BOUNDARY: &str = "wharf-bench-boundary";
const CHUNK: usize = 64 * 1024;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let rate: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2.0);
    let bytes = mib << 20;

    let toml = "[[storages]]\ntype = \"ipfs\"\n";
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
    let chunks = bytes.div_ceil(CHUNK as u64);
    let pause = Duration::from_secs_f64(CHUNK as f64 / (rate * 1e6));
    let started = Instant::now();
    let paced = futures::stream::iter(0..chunks).then(move |i| async move {
        // Paced against the start, so scheduling delays do not add up.
        let due = started + pause * (i as u32);
        tokio::time::sleep_until(due.into()).await;
        let len = (bytes - i * CHUNK as u64).min(CHUNK as u64) as usize;
        Ok::<_, std::io::Error>(vec![(i % 251) as u8; len])
    });
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(head.into_bytes()) })
        .chain(paced)
        .chain(futures::stream::once(async move { Ok(tail.into_bytes()) }));

    let rss_before = rss_kib("VmRSS:");
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
        .timeout(Duration::from_secs(24 * 3600))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let mut final_status = Value::Null;
    for _ in 0..600 {
        let s: Value = app
            .client
            .get(app.url(&format!("/getStatus?quoteId={id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        final_status = s["status"].clone();
        if final_status == 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peak = rss_kib("VmHWM:");
    println!("input {mib} MiB at {rate} MB/s, request timeout 30 s (default)");
    println!(
        "answer {} {text} after {:.1} s ({:.2} MB/s), quote status {final_status}",
        status.as_u16(),
        took.as_secs_f64(),
        bytes as f64 / took.as_secs_f64() / 1e6
    );
    println!(
        "process RSS before {} MiB, peak growth {} MiB",
        rss_before / 1024,
        peak.saturating_sub(rss_before) / 1024
    );
}

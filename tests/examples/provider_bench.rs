//! Ocean Provider data path (issue 11): a 1 GiB `url` file streamed through wharf's SSRF-safe
//! client (what `download` serves) next to fetching it directly in the same run, and the
//! latency of `POST /provider/api/services/fileinfo` (a HEAD-like probe of the file).
//! Run: `cargo run --release -p wharf-tests --example provider_bench [MiB] [fileinfo calls]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Instant;

use axum::{Router, body::Body, response::Response, routing::get};
use futures::StreamExt;
use serde_json::json;
use wharf_tests::TestApp;

const CHUNK: usize = 1 << 20;

async fn serve_file(mib: u64) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let chunk = bytes::Bytes::from(vec![0x5au8; CHUNK]);
    let app = Router::new().route(
        "/big.bin",
        get(move || {
            let chunk = chunk.clone();
            async move {
                let stream = futures::stream::iter(
                    (0..mib).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                );
                Response::builder()
                    .header("content-type", "application/octet-stream")
                    .header("content-length", mib * CHUNK as u64)
                    .body(Body::from_stream(stream))
                    .unwrap()
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let port = serve_file(mib).await;
    let url = format!("http://127.0.0.1:{port}/big.bin");
    let toml = format!("[provider]\nallow_private_networks = [\"127.0.0.1:{port}\"]\n");
    let app = TestApp::spawn_with_toml(Some(&toml), &[]).await;
    let bytes = mib * CHUNK as u64;

    // Directly, as a client on this machine would.
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut stream = client.get(&url).send().await.unwrap().bytes_stream();
    let mut direct = 0u64;
    while let Some(part) = stream.next().await {
        direct += part.unwrap().len() as u64;
    }
    let direct_secs = started.elapsed().as_secs_f64();
    assert_eq!(direct, bytes);

    // Through the provider's file opening (address checks, pinned connection).
    let file = wharf_core::provider::files::FileObject::parse(
        &json!({"type": "url", "url": url, "method": "GET"}),
    )
    .unwrap();
    let started = Instant::now();
    let download = app.services.provider.open(&file, None, None).await.unwrap();
    let mut body = download.body;
    let mut through = 0u64;
    while let Some(part) = body.next().await {
        through += part.unwrap().len() as u64;
    }
    let through_secs = started.elapsed().as_secs_f64();
    assert_eq!(through, bytes);

    // fileinfo over HTTP, one at a time.
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let response = app
            .client
            .post(app.url("/provider/api/services/fileinfo"))
            .json(&json!({"type": "url", "url": url, "method": "GET"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];

    println!("file: {mib} MiB from a local HTTP server");
    println!("direct fetch: {:.0} MB/s", mbps(bytes, direct_secs));
    println!(
        "through wharf's SSRF-safe client: {:.0} MB/s = {:.2}x direct",
        mbps(bytes, through_secs),
        direct_secs / through_secs
    );
    println!(
        "fileinfo ({calls} sequential calls): p50 {:.2} ms, p99 {:.2} ms",
        pct(0.5),
        pct(0.99)
    );
}

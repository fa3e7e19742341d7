//! Concurrent writers (issue "Performance at the limit", item 2): `POST /getQuote` — a priced
//! quote stored in one write transaction — from 64 clients at once for a few seconds, on the
//! embedded SQLite or on PostgreSQL (`WHARF_TEST_DATABASE_URL`). Prints requests per second
//! and latency percentiles, and how many quotes were stored (all of them, or it says so).
//! Run: `cargo run --release -p wharf-tests --example quote_bench [seconds] [clients]`
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use wharf_tests::TestApp;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let toml = "[[chains]]\nchain_id = 1337\nrpc_url = \"http://127.0.0.1:9\"\n\
        tokens = [{ symbol = \"OCEAN\", address = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\", decimals = 18 }]\n\
        [[storages]]\ntype = \"ipfs\"\nprice_per_gib_month = { \"1337:OCEAN\" = \"0.5\" }\n";
    let app = TestApp::spawn_with_toml(
        Some(toml),
        &[(
            "WHARF_TREASURY_KEY_1337",
            "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d",
        )],
    )
    .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let url = app.url("/getQuote");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let latencies: Vec<Vec<Duration>> = futures::stream::iter(0..clients)
        .map(|c| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let mut seen = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let body = json!({
                        "type": "ipfs",
                        "files": [{"length": 1_048_576 + c as u64}, {"length": 42 + i}],
                        "duration": 2_592_000,
                        "payment": {"chainId": "1337", "tokenAddress": "0x5FbDB2315678afecb367f032d93F642f64180aa3"},
                        "userAddress": "0xCC866199C810B216710A3F3714d35920C343a8CD",
                    });
                    let t = Instant::now();
                    let response = client.post(&url).json(&body).send().await.unwrap();
                    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
                    response.bytes().await.unwrap();
                    seen.push(t.elapsed());
                    i += 1;
                }
                seen
            }
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut all: Vec<Duration> = latencies.into_iter().flatten().collect();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    let stored = app.count("quotes").await;
    println!(
        "getQuote on {}: {clients} clients, {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} answered, {stored} stored",
        wharf_tests::backends(),
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        all.last().unwrap().as_secs_f64() * 1000.0,
        all.len(),
    );
    assert_eq!(stored as usize, all.len(), "every answered quote is stored");
}

//! Subscription and sweep figures (issue "Nothing stranded"): database statements per second
//! with 1, 100 and 1,000 `balanceUpdates` subscribers, idle and while the balance changes ten
//! times a second; and the time from a quote stranded between upload and queue to its final
//! status once the reconciliation sweep runs. Embedded default, or PostgreSQL + Redis with
//! `WHARF_TEST_DATABASE_URL` and `WHARF_TEST_REDIS_URL`.
//! Run: `cargo run --release -p wharf-tests --example feed_bench`
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use wharf_tests::{TestApp, WEBCORE_SECRET, wallet::Wallet, ws};

async fn statements_per_second(app: &TestApp, window: Duration) -> f64 {
    let before = app.services.db_statements.load(Ordering::Relaxed);
    tokio::time::sleep(window).await;
    (app.services.db_statements.load(Ordering::Relaxed) - before) as f64 / window.as_secs_f64()
}

/// A connection with `count` balance subscriptions, each past its first value.
async fn subscribers(app: &TestApp, token: &str, count: usize) -> ws::Socket {
    let mut socket = ws::connect(app).await;
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": {}}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(
        ws::next_json(&mut socket).await.unwrap()["type"],
        "connection_ack"
    );
    for i in 0..count {
        socket
            .send(Message::text(
                json!({"id": format!("s{i}"), "type": "subscribe", "payload": {
                    "query": "subscription($t: String!) { balanceUpdates(token: $t) }",
                    "variables": {"t": token}}})
                .to_string(),
            ))
            .await
            .unwrap();
    }
    let mut first = 0;
    while first < count {
        let message = ws::next_json(&mut socket).await.unwrap();
        assert!(message["payload"]["errors"].is_null(), "{message}");
        if message["type"] == "next" {
            first += 1;
        }
    }
    socket
}

async fn subscription_figures() {
    let app = TestApp::spawn_with(&[
        ("WHARF_GRAPHQL__MAX_SUBSCRIPTIONS_PER_CONNECTION", "1000"),
        ("WHARF_GRAPHQL__MAX_SUBSCRIPTIONS", "2000"),
    ])
    .await;
    let token = app.new_token().await;
    println!("backend {}", wharf_tests::backends());
    println!(
        "{:>12} {:>14} {:>26}",
        "subscribers", "idle stmts/s", "stmts/s, 10 changes/s"
    );
    for count in [1usize, 100, 1000] {
        let socket = subscribers(&app, &token, count).await;
        let idle = statements_per_second(&app, Duration::from_secs(3)).await;
        // Read what the subscribers are sent, and change the balance ten times a second.
        let reader = tokio::spawn(async move {
            let mut socket = socket;
            while let Some(Ok(_)) = socket.next().await {}
        });
        let client = app.client.clone();
        let url = app.url(&format!("/accounts/token/deposit/{token}"));
        let changer = tokio::spawn(async move {
            loop {
                let _ = client
                    .post(&url)
                    .header("Authentication", WEBCORE_SECRET)
                    .json(&json!({"bytes": 1}))
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let busy = statements_per_second(&app, Duration::from_secs(3)).await;
        changer.abort();
        reader.abort();
        println!("{count:>12} {idle:>14.1} {busy:>26.1}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn sweep_figure() {
    // Uploads accepted by a process whose queue nobody serves: their jobs are lost for the
    // workers that run later under another queue prefix.
    let toml = "[[storages]]\ntype = \"ipfs\"\n[jobs]\nstale_after_secs = 1\n";
    let app = TestApp::spawn_with_toml(Some(toml), &[]).await;
    let alice = Wallet::new();
    let quote: Value = app
        .client
        .post(app.url("/getQuote"))
        .json(&json!({"type": "ipfs", "files": [{"length": 1048576}], "duration": 60,
                      "payment": {"chainId": "0", "tokenAddress": "0x0000000000000000000000000000000000000000"},
                      "userAddress": alice.address().to_checksum(None)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = quote["quoteId"].as_str().unwrap().to_string();
    let signature =
        alice.personal_sign(wharf_core::uploads::upload::signed_text(&id, "1").as_bytes());
    let mut body =
        b"--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\n".to_vec();
    body.extend(vec![7u8; 1048576]);
    body.extend_from_slice(b"\r\n--x--\r\n");
    let answer = app
        .client
        .post(app.url(&format!(
            "/upload?quoteId={id}&nonce=1&signature={signature}"
        )))
        .header("Content-Type", "multipart/form-data; boundary=x")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    let path = app.env.write_config(toml);
    let mut vars = app.env.vars(&[("WHARF_CONFIG", path.as_str())]);
    vars.retain(|(k, _)| k != "WHARF_QUEUE_PREFIX");
    vars.push((
        "WHARF_QUEUE_PREFIX".into(),
        format!("{}-after", app.env.queue_prefix),
    ));
    let config = wharf_core::config::Config::load_from(Some(&path), &vars).unwrap();
    let services = Arc::new(wharf_core::services::Services::start(config).await.unwrap());
    tokio::spawn(wharf_worker::run(services.clone(), std::future::pending()));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    wharf_core::sweep::reconcile(&services).await.unwrap();
    loop {
        if services.quotes.get(&id).await.unwrap().status == 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "stranded quote -> 400 once the sweep runs: {:.0} ms (a quote counts as stranded after \
         jobs.stale_after_secs untouched, 600 s by default; the sweep runs on \
         jobs.housekeeping_schedule, every 5 min by default)",
        started.elapsed().as_secs_f64() * 1000.0
    );
}

#[tokio::main]
async fn main() {
    subscription_figures().await;
    sweep_figure().await;
}

//! Dataset figures (issue 5) on the backend the environment selects (SQLite by default;
//! `WHARF_TEST_DATABASE_URL` / `WHARF_TEST_REDIS_URL` for PostgreSQL and Redis):
//! CSV import of 100,000 contents (rows/s), `GET /api/v1/replications` with filters over
//! 1,000,000 replications (p50/p99 latency), and replications made per second by `MakeDeals`
//! against the Delta double.
//! Run: `cargo run --release -p wharf-tests --example datasets_bench [rows] [replications]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use wharf_tests::piece_cids as piece;
use wharf_tests::{TestApp, delta::DeltaDouble};

const KEY: &str = "ESTbench-ARY";

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    app.client
        .post(app.url(&format!("/api/v1{path}")))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let replications: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let delta = DeltaDouble::start().await;
    let toml = format!(
        "[filecoin]\ndeal_engine_url = \"{}\"\npoll_schedule = \"0 0 0 1 1 *\"\n[jobs]\npoll_interval_ms = 50\n",
        delta.url
    );
    let mut app = TestApp::spawn_with_toml(
        Some(&toml),
        &[
            ("WHARF_ADMIN_API_KEY", KEY),
            ("WHARF_DEAL_ENGINE_TOKEN", wharf_tests::delta::TOKEN),
        ],
    )
    .await;
    app.spawn_workers();
    let backend = wharf_tests::backends();
    println!("backend: {backend}");

    // 1. CSV import.
    let dataset = post(
        &app,
        "/datasets",
        json!({"name": "bench", "replication_quota": 1000, "deal_duration": 540}),
    )
    .await;
    let id = dataset["ID"].as_i64().unwrap();
    let mut csv = String::from("commP,payloadCid,size,paddedSize\n");
    for i in 0..rows {
        let (p, c) = piece(i);
        csv.push_str(&format!("{p},{c},1000,1024\n"));
    }
    let started = Instant::now();
    let outcome: Value = app
        .client
        .post(app.url(&format!("/api/v1/contents/{id}?import_type=csv")))
        .bearer_auth(KEY)
        .body(csv)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(outcome["success"].as_array().unwrap().len() as u64, rows);
    println!(
        "CSV import, {rows} rows: {:.2} s, {:.0} rows/s",
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64()
    );

    // 2. 1,000,000 replications spread over 10 providers and 8 statuses, written directly.
    let db = &app.services.db;
    let statuses = [
        "ddm-pending",
        "making-deal-proposal",
        "deal-proposal-sent",
        "StorageDealActive",
        "StorageDealSealing",
        "StorageDealError",
        "transfer-failed",
        "StorageDealProposalRejected",
    ];
    let started = Instant::now();
    let batch = 2000u64;
    let mut written = 0u64;
    let txn_db = db;
    while written < replications {
        let mut text = String::from(
            "INSERT INTO replications (content_comm_p, dataset_id, provider_actor_id, deal_time, delta_content_id, deal_uuid, on_chain_deal_id, proposal_cid, status, delta_message, start_epoch, end_epoch, ss_is_self_service, ss_last_update, ss_status, ss_message, created_at, updated_at) VALUES ",
        );
        for j in 0..batch.min(replications - written) {
            let n = written + j;
            let (p, _) = piece(n % rows);
            if j > 0 {
                text.push(',');
            }
            text.push_str(&format!(
                "('{p}', {id}, 'f0{}', {}, {n}, 'uuid-{n}', 0, 'prop-{n}', '{}', 'message {}', 0, 0, {}, 0, '', '', 0, 0)",
                1000 + n % 10,
                1_700_000_000_000i64 + n as i64 * 1000,
                statuses[(n % 8) as usize],
                n % 97,
                if n.is_multiple_of(5) { "true" } else { "false" },
            ));
        }
        txn_db.execute_unprepared(&text).await.unwrap();
        written += batch.min(replications - written);
    }
    // What autovacuum would do after a bulk load: fresh planner statistics and (PostgreSQL)
    // a visibility map for index-only counts.
    let refresh = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "VACUUM ANALYZE replications",
        _ => "ANALYZE",
    };
    db.execute_unprepared(refresh).await.unwrap();
    println!(
        "wrote {replications} replications in {:.1} s (setup, then {refresh})",
        started.elapsed().as_secs_f64()
    );
    let queries = [
        "statuses=StorageDealActive&providers=f01003&limit=100",
        "datasets=bench&self_service=true&limit=100",
        "providers=f01001,f01002&deal_time_start=1700100000&deal_time_end=1700500000&limit=100",
        "piece_cid=PIECE&limit=100",
        "limit=100&offset=5000",
    ];
    let (first_piece, _) = piece(7);
    for query in queries {
        let query = query.replace("PIECE", &first_piece);
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..50 {
            let started = Instant::now();
            let body: Value = app
                .client
                .get(app.url(&format!("/api/v1/replications?{query}")))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            times.push(started.elapsed());
            total = body["totalCount"].as_u64().unwrap();
        }
        times.sort();
        println!(
            "GET /replications?{query}: totalCount {total}, p50 {:.1} ms, p99 {:.1} ms",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }

    // 3. MakeDeals throughput: a fresh dataset and provider, 5,000 deals.
    let deals = 5000u64.min(rows);
    let d2 = post(
        &app,
        "/datasets",
        json!({"name": "deals", "replication_quota": 1, "deal_duration": 540}),
    )
    .await;
    let d2 = d2["ID"].as_i64().unwrap();
    let mut csv = String::from("commP,payloadCid,size,paddedSize\n");
    for i in 0..deals {
        let (p, c) = piece(10_000_000 + i);
        csv.push_str(&format!("{p},{c},1000,1024\n"));
    }
    app.client
        .post(app.url(&format!("/api/v1/contents/{d2}?import_type=csv")))
        .bearer_auth(KEY)
        .body(csv)
        .send()
        .await
        .unwrap();
    let wallet = post(
        &app,
        "/wallets",
        json!({"Type": "secp256k1", "PrivateKey": "YmVuY2g="}),
    )
    .await;
    post(
        &app,
        "/wallets/associate",
        json!({"address": wallet["address"], "datasets": [d2]}),
    )
    .await;
    post(&app, "/providers", json!({"actor_id": "f09999"})).await;
    post(
        &app,
        "/replication-profiles",
        json!({"provider_actor_id": "f09999", "dataset_id": d2}),
    )
    .await;
    let started = Instant::now();
    let made = post(
        &app,
        "/replications",
        json!({"provider": "f09999", "num_deals": deals}),
    )
    .await;
    let reserved = started.elapsed();
    assert_eq!(made.as_array().unwrap().len() as u64, deals);
    loop {
        if delta.lock().contents.len() as u64 >= deals {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    println!(
        "MakeDeals: {deals} replications reserved in {:.2} s, all at the engine after {:.2} s: {:.0} replications/s",
        reserved.as_secs_f64(),
        took.as_secs_f64(),
        deals as f64 / took.as_secs_f64()
    );
}

//! The deferred CommP stage (issue 15): a stored CAR added to a dataset and computed by the
//! `ComputePiece` job body, reading the CAR back from the local blob store, against the CommP
//! limit measured in the same run (SHA-256 compressions per second on one core, at 4 per 64
//! padded bytes) on every core. Also the peak RSS growth of the computation.
//! Run: `cargo run --release -p wharf-tests --example piece_bench [MiB]` (default 1024).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Instant;

use wharf_content::{Profile, commp::CommP};
use wharf_core::filecoin::{datasets, stored_cars};
use wharf_tests::TestApp;
use wharf_tests::bench::{mib_chunk as chunk, status_kib};

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        for i in 0..mib {
            out.write_all(&chunk(i)).unwrap();
        }
    }
    let app = TestApp::spawn().await;
    let services = &app.services;
    let input = tokio::fs::File::open(&file).await.unwrap();
    let imported = services
        .content
        .import(input, Profile::KUBO, None)
        .await
        .unwrap();
    let root = imported.summary.root.to_string();
    let car_bytes = imported.summary.car_size();
    let bounds = services.config.filecoin.deal_bounds();
    let dataset = datasets::create(&services.db, &bounds, "bench", 1, 540)
        .await
        .unwrap();
    stored_cars::add(
        &services.db,
        &services.content,
        &services.queue,
        dataset.id,
        &root,
        None,
    )
    .await
    .unwrap();

    let limit = wharf_content::commp::limit_per_core(&chunk(7));
    let threads = CommP::available_threads();
    // Peak RSS from here on (writing 5 to clear_refs resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS:");
    let started = Instant::now();
    let done = stored_cars::compute(&services.db, &services.content, &imported.car_id)
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    let stored_cars::Computed::Added { comm_p, .. } = done else {
        panic!("no piece: {done:?}");
    };
    let rate = car_bytes as f64 / secs;
    println!("CAR of {mib} MiB ({car_bytes} bytes), root {root}, piece {comm_p}");
    println!(
        "CommP per-core limit (SHA-256 compressions, 4 per 64 padded bytes): {:.3} GB/s",
        limit / 1e9
    );
    println!(
        "deferred CommP job, {threads} threads: {:.3} GB/s in {secs:.2} s = {:.2} of the limit on each core ({:.2}x one core's limit)",
        rate / 1e9,
        rate / (limit * threads as f64),
        rate / limit
    );
    println!(
        "peak RSS growth during the job: {} MiB",
        peak.saturating_sub(rss_before) / 1024
    );
}

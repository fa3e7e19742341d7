//! Compute figures (issue "Compute-to-data"): the start-to-finish overhead of a trivial job in
//! the embedded sandbox against the bare cost of its parts measured in the same run (python3
//! started directly, and inside bubblewrap alone); jobs per minute with N jobs at once; and
//! the time from a job's end to its change reaching a subscriber of the change feed (what
//! `computeJobUpdates` waits on). Jobs are recorded as `start` records them after its order
//! checks (which need a chain, and are not what is measured here) and run by the workers.
//! Run: `cargo run --release -p wharf-tests --example compute_bench`
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::{Duration, Instant};

use axum::{Router, routing::get};
use serde_json::json;
use wharf_core::{
    compute::{
        jobs::NewJob,
        sandbox::{JobDirs, Sandbox},
    },
    config::SandboxLimits,
    feed::Topic,
};
use wharf_tests::TestApp;

const ALGORITHM: &str = "import json, os\nd = json.loads(os.environ['DIDS'])[0]\nprint(open(f'/data/inputs/{d}/0').read()[:8])\n";

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

async fn reference_figures(runs: usize) -> (f64, f64) {
    let mut bare = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        // Isolated (-I) and without the environment, as in the sandbox.
        let status = tokio::process::Command::new("python3")
            .args(["-I", "-c", "print(1)"])
            .env_clear()
            .output()
            .await
            .unwrap();
        assert!(status.status.success());
        bare.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let sandbox = Sandbox::check().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut boxed = Vec::new();
    for i in 0..runs {
        let dirs = JobDirs::create(work.path(), &format!("r{i}")).unwrap();
        std::fs::write(dirs.transformations.join("algorithm"), "print(1)").unwrap();
        dirs.open_up().unwrap();
        let started = Instant::now();
        let outcome = sandbox
            .run(
                &dirs,
                &SandboxLimits::default(),
                Duration::from_secs(30),
                &[],
                &["/bin/sh", "-c", "python3 /data/transformations/algorithm"],
                || async { true },
            )
            .await
            .unwrap();
        assert_eq!(outcome.failure, None);
        boxed.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    (median(bare), median(boxed))
}

/// An app whose `sandbox` environment runs `concurrency` jobs at once, with a dataset
/// published in its registry (one small file on a local server).
async fn app(concurrency: usize, file_port: u16) -> (TestApp, String) {
    let toml = format!(
        "[provider]\nallow_private_networks = [\"127.0.0.1:{file_port}\"]\n\
         [jobs]\nconcurrency = {concurrency}\n\
         [[compute.environments]]\nid = \"sandbox\"\nexecutor = \"sandbox\"\nmax_jobs = {concurrency}\n"
    );
    let mut app = TestApp::spawn_with_toml(Some(&toml), &[]).await;
    app.spawn_workers();
    let provider = &app.services.provider;
    let nft = alloy_signer_local::PrivateKeySigner::random().address();
    let datatoken = alloy_signer_local::PrivateKeySigner::random().address();
    let files = json!({
        "datatokenAddress": datatoken.to_checksum(None),
        "nftAddress": nft.to_checksum(None),
        "files": [{"type": "url", "url": format!("http://127.0.0.1:{file_port}/data.csv"), "method": "GET"}],
    });
    let sealed = provider.encrypt(1, files.to_string().as_bytes()).unwrap();
    let did = wharf_core::provider::assets::did_of(&nft, 1);
    provider
        .assets
        .publish(json!({
            "id": did, "chainId": 1, "nftAddress": nft.to_checksum(None), "version": "4.1.0",
            "metadata": {"type": "dataset", "name": "bench"},
            "services": [{"id": "compute-1", "type": "compute", "files": format!("0x{}", hex::encode(sealed)),
                "datatokenAddress": datatoken.to_checksum(None), "serviceEndpoint": "", "timeout": 0,
                "compute": {"allowRawAlgorithm": true}}],
        }))
        .await
        .unwrap();
    (app, did)
}

async fn submit(app: &TestApp, did: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let request = json!({
        "datasets": [{"document_id": did, "service_id": "compute-1", "transfer_tx": null, "userdata": null}],
        "algorithm": {"document_id": null, "service_id": null, "transfer_tx": null,
            "meta": {"rawcode": ALGORITHM, "container": {"entrypoint": "python3 $ALGO"}},
            "custom_data": null, "userdata": null},
    });
    let compute = &app.services.compute;
    compute
        .jobs
        .insert(&NewJob {
            id: &id,
            agreement_id: "0x00",
            owner: "0x0000000000000000000000000000000000000001",
            chain_id: 1,
            environment: "sandbox",
            dataset_did: did,
            algorithm_did: None,
            request: &request,
            max_duration_secs: 60,
        })
        .await
        .unwrap();
    app.services.queue.push_compute(&id).await.unwrap();
    id
}

#[tokio::main]
async fn main() {
    wharf_tests::ensure_bubblewrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let router = Router::new().route("/data.csv", get(|| async { "1,7\n2,14\n3,21\n" }));
        axum::serve(listener, router).await
    });
    println!("backend {}", wharf_tests::backends());
    println!(
        "cores {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let (bare, boxed) = reference_figures(20).await;
    println!("python3 -I -c print(1), started directly: median {bare:.1} ms");
    println!("the same inside the bubblewrap sandbox: median {boxed:.1} ms");

    // One job at a time: start-to-finish, and how soon a subscriber hears of its end.
    let (one, did) = app(1, port).await;
    let mut changes = one.services.feed.subscribe();
    let mut totals = Vec::new();
    let mut heard = Vec::new();
    for _ in 0..20 {
        let submitted = Instant::now();
        let id = submit(&one, &did).await;
        loop {
            let change = changes.recv().await.unwrap();
            if change.topic != Topic::ComputeJob || change.key != id {
                continue;
            }
            let job = one.services.compute.jobs.get(&id).await.unwrap().unwrap();
            if job.status == 70 {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as i64;
                assert_eq!(job.error, None, "{}", job.status_text);
                totals.push(submitted.elapsed().as_secs_f64() * 1000.0);
                heard.push((now - job.finished_at.unwrap()) as f64);
                break;
            }
        }
    }
    println!(
        "trivial job, queued to ended (embedded sandbox, one at a time): median {:.1} ms (overhead over the sandboxed run {:.1} ms)",
        median(totals.clone()),
        median(totals) - boxed
    );
    println!(
        "job end to the change feed's subscriber: median {:.1} ms",
        median(heard)
    );
    drop(one);

    for concurrency in [1usize, 2, 4, 8] {
        let (app, did) = app(concurrency, port).await;
        let jobs = 8 * concurrency.max(2);
        let started = Instant::now();
        let mut ids = Vec::new();
        for _ in 0..jobs {
            ids.push(submit(&app, &did).await);
        }
        for id in &ids {
            loop {
                let job = app.services.compute.jobs.get(id).await.unwrap().unwrap();
                if job.status == 70 {
                    assert_eq!(job.error, None, "{}", job.status_text);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{concurrency} at once: {jobs} trivial jobs in {secs:.2} s = {:.0} jobs/min",
            jobs as f64 / secs * 60.0
        );
    }
}

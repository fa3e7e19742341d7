//! Compute-to-data against Ocean's contracts on ganache with ocean.js 3.2 unmodified as the
//! client: a dataset and a Python algorithm published and ordered, the job run by wharf's
//! workers in the bubblewrap sandbox, followed to "Job finished", its result (computed from
//! the dataset's bytes) and log fetched, then deleted. Also: fees from whole seconds, stop
//! mid-run, other consumers kept out, untrusted and raw algorithms refused, GraphQL with its
//! subscription, and bad input.
use std::time::{Duration, Instant};

use alloy_primitives::keccak256;
use alloy_signer::SignerSync;
use serde_json::{Value, json};

use super::provider::{World, now_nonce, ocean_js};
use wharf_tests::chain;

const PUBLISHER: usize = 1;
const CONSUMER: usize = 2;
const OTHER: usize = 3;

/// Sums the second column of the dataset (rows "i,7i") and writes it as JSON.
pub(crate) const SUM_ALGORITHM: &str = r#"
import json, os
dids = json.loads(os.environ["DIDS"])
rows = 0
total = 0
for did in dids:
    with open(f"/data/inputs/{did}/0") as f:
        for line in f:
            a, b = line.strip().split(",")
            rows += 1
            total += int(b)
json.dump({"rows": rows, "sum": total}, open("/data/outputs/result.json", "w"))
print("rows", rows)
"#;

/// What the sum algorithm computes from the test dataset (rows i,7i for i < 200000).
pub(crate) fn expected_sum() -> Value {
    let n: u64 = 200_000;
    json!({"rows": n, "sum": 7 * (n - 1) * n / 2})
}

pub(crate) fn algorithm_metadata(checksum_of: &str) -> Value {
    json!({
        "language": "python",
        "version": "3",
        "container": {
            "entrypoint": "python3 $ALGO",
            "image": "python",
            "tag": "3.11",
            "checksum": format!("sha256:{}", hex::encode(sha2::Sha256::digest(checksum_of.as_bytes()))),
        }
    })
}

use sha2::Digest;

/// A compute dataset (the file server's CSV) and an algorithm served by the file server.
pub(crate) struct Published {
    pub(crate) dataset: Value,
    pub(crate) algorithm: Value,
}

pub(crate) async fn publish_pair(world: &World, compute_options: Value, code: &str) -> Published {
    let file = json!({"type": "url", "url": world.data_url(), "method": "GET"});
    let algorithm_url = world
        .files
        .put(&format!("algo-{}.py", now_nonce()), code.as_bytes());
    // One after the other: both are sent by the same publisher account.
    let dataset = world
        .publish_with(
            0,
            &file,
            &json!({"serviceType": "compute", "compute": compute_options}),
        )
        .await;
    let algorithm = world
        .publish_with(
            0,
            &json!({"type": "url", "url": algorithm_url, "method": "GET"}),
            &json!({"type": "algorithm", "algorithm": algorithm_metadata(code)}),
        )
        .await;
    Published { dataset, algorithm }
}

pub(crate) fn open_options() -> Value {
    json!({
        "allowRawAlgorithm": false,
        "allowNetworkAccess": false,
        "publisherTrustedAlgorithms": [],
        "publisherTrustedAlgorithmPublishers": []
    })
}

fn plan(published: &Published, extra: Value) -> String {
    let mut plan = json!({
        "dataset": {"did": published.dataset["did"], "serviceId": "compute-1", "datatoken": published.dataset["datatoken"]},
        "algorithm": {"did": published.algorithm["did"], "serviceId": "access-1", "datatoken": published.algorithm["datatoken"]},
    });
    if let (Value::Object(plan), Value::Object(extra)) = (&mut plan, extra) {
        plan.extend(extra);
    }
    plan.to_string()
}

async fn run_plan(world: &World, who: usize, plan: &str) -> Value {
    ocean_js(&[
        "compute",
        &world.chain.url,
        chain::KEYS[who],
        &world.provider_url,
        plan,
    ])
    .await
}

/// Signs a compute request as ocean.js does: personal_sign of keccak256(message + nonce).
fn sign(who: usize, message: &str) -> String {
    let hash = keccak256(message.as_bytes());
    let signature = chain::signer(who)
        .sign_message_sync(hash.as_slice())
        .unwrap();
    format!("0x{}", hex::encode(signature.as_bytes()))
}

fn address(who: usize) -> String {
    chain::signer(who).address().to_checksum(None)
}

async fn compute_world() -> World {
    wharf_tests::ensure_bubblewrap();
    let mut world = World::start("").await;
    world.app.spawn_workers();
    world
}

/// Files of a job left in the blob store.
fn blobs_of(world: &World, job_id: &str) -> usize {
    let dir = world
        .app
        .services
        .config
        .blob_dir()
        .join("compute")
        .join(job_id);
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn ocean_js_runs_a_job_from_publish_to_results_and_deletes_it() {
    let world = compute_world().await;
    let published = publish_pair(&world, open_options(), SUM_ALGORITHM).await;
    let out = run_plan(&world, CONSUMER, &plan(&published, json!({"delete": true}))).await;
    assert!(out["error"].is_null(), "compute: {out}");

    // The environment, as ocean.js read it: a map keyed by chain.
    let env = &out["environments"]["1337"][0];
    assert_eq!(env["id"], "sandbox");
    assert_eq!(env["priceMin"], 0.0);
    let provider = world.app.services.provider.keys.address(1337);
    assert_eq!(env["consumerAddress"], provider.to_checksum(None));
    // Fees for both items, none of them charging on a free environment.
    for item in [
        &out["initialized"]["datasets"][0],
        &out["initialized"]["algorithm"],
    ] {
        assert_eq!(item["providerFee"]["providerFeeAmount"], "0", "{out}");
        let data = hex::decode(
            item["providerFee"]["providerData"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
        )
        .unwrap();
        let data: Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(data["environment"], "sandbox");
    }

    // Started waiting, ran, ended with the result computed from the dataset's bytes.
    assert_eq!(out["started"][0]["status"], 1, "{out}");
    assert_eq!(out["started"][0]["statusText"], "Warming up");
    let job = &out["job"];
    assert_eq!(job["status"], 70, "{out}");
    assert_eq!(job["statusText"], "Job finished", "{out}");
    assert_eq!(
        job["owner"],
        format!("{:#x}", chain::signer(CONSUMER).address())
    );
    assert_eq!(job["inputDID"], json!([published.dataset["did"]]));
    assert_eq!(job["algoDID"], published.algorithm["did"]);
    assert_eq!(job["results"][0]["filename"], "result.json");
    assert_eq!(job["results"][0]["type"], "output");
    assert_eq!(job["results"][1]["type"], "algorithmLog");
    let result: Value = serde_json::from_str(out["results"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(result, expected_sum());
    assert!(
        out["results"][1]["body"]
            .as_str()
            .unwrap()
            .contains("rows 200000"),
        "{out}"
    );

    // Deleted: no longer listed, its results gone from the blob store.
    let job_id = out["jobId"].as_str().unwrap();
    assert_eq!(out["deleted"][0]["jobId"], job_id, "{out}");
    assert_eq!(out["afterDelete"], json!([]), "{out}");
    assert_eq!(blobs_of(&world, job_id), 0);
    assert!(
        world
            .app
            .services
            .compute
            .jobs
            .get(job_id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_job_stops_mid_run_and_other_consumers_are_kept_out() {
    let world = compute_world().await;
    let code = "import time\nprint('started', flush=True)\ntime.sleep(60)\n";
    let published = publish_pair(&world, open_options(), code).await;
    let started = Instant::now();
    let out = run_plan(&world, CONSUMER, &plan(&published, json!({"stopAt": 40}))).await;
    assert!(out["error"].is_null(), "compute: {out}");
    assert_eq!(out["job"]["status"], 70, "{out}");
    assert_eq!(out["job"]["statusText"], "Job stopped", "{out}");
    assert_eq!(out["job"]["stopreq"], 1);
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "the stop took effect late"
    );
    // No output, and the log of what ran until the stop.
    assert_eq!(out["job"]["results"][0]["type"], "algorithmLog", "{out}");
    let log = out["results"][0]["body"].as_str().unwrap_or_default();
    assert!(
        log.contains("started") && log.contains("[wharf] the job was stopped"),
        "{log}"
    );
    let job_id = out["jobId"].as_str().unwrap();

    // Another consumer, signing for itself, can neither read, stop nor delete the job.
    let client = &world.app.client;
    let nonce = now_nonce().to_string();
    let other = address(OTHER);
    let url = format!(
        "{}/api/services/computeResult?consumerAddress={other}&jobId={job_id}&index=0&nonce={nonce}&signature={}",
        world.provider_url,
        sign(OTHER, &format!("{other}{job_id}0{nonce}"))
    );
    assert_eq!(client.get(url).send().await.unwrap().status(), 404);
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let nonce = (now_nonce() + 1).to_string();
        let response = client
            .request(
                method,
                format!("{}/api/services/compute", world.provider_url),
            )
            .json(
                &json!({"consumerAddress": other, "jobId": job_id, "nonce": nonce,
                "signature": sign(OTHER, &format!("{other}{job_id}{nonce}"))}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }
    let status: Value = client
        .get(format!(
            "{}/api/services/compute?consumerAddress={other}&jobId={job_id}",
            world.provider_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status, json!([]), "another consumer sees none of it");
    // The owner still does, and a forged owner signature reads nothing.
    let owner = address(CONSUMER);
    let nonce = (now_nonce() + 2).to_string();
    let forged = format!(
        "{}/api/services/computeResult?consumerAddress={owner}&jobId={job_id}&index=0&nonce={nonce}&signature={}",
        world.provider_url,
        sign(OTHER, &format!("{owner}{job_id}0{nonce}"))
    );
    assert_eq!(client.get(forged).send().await.unwrap().status(), 400);
    assert!(
        world
            .app
            .services
            .compute
            .jobs
            .get(job_id)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn untrusted_and_raw_algorithms_are_refused_where_the_dataset_says() {
    let world = compute_world().await;
    let published = publish_pair(&world, open_options(), SUM_ALGORITHM).await;
    let algorithm_did = published.algorithm["did"].as_str().unwrap().to_string();
    let file = json!({"type": "url", "url": world.data_url(), "method": "GET"});
    let consumer = address(CONSUMER);
    let valid_until = now_nonce() / 1000 + 600;
    let initialize = |dataset_did: String, algorithm: Value| {
        let world = &world;
        let consumer = consumer.clone();
        async move {
            let response = world
                .app
                .client
                .post(format!(
                    "{}/api/services/initializeCompute",
                    world.provider_url
                ))
                .json(&json!({
                    "datasets": [{"documentId": dataset_did, "serviceId": "compute-1"}],
                    "algorithm": algorithm,
                    "compute": {"env": "sandbox", "validUntil": valid_until},
                    "consumerAddress": consumer,
                }))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let published_algorithm = json!({"documentId": algorithm_did, "serviceId": "access-1"});
    let raw = json!({"meta": {"rawcode": "print(1)", "container": {"entrypoint": "python3 $ALGO", "image": "python", "tag": "3"}}});

    // Open options: the published algorithm is welcome, raw code is not.
    let open = published.dataset["did"].as_str().unwrap().to_string();
    let (status, body) = initialize(open.clone(), published_algorithm.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = initialize(open, raw.clone()).await;
    assert_eq!(
        (status, body),
        (400, json!({"error": {"dataset": "no_raw_algo_allowed"}}))
    );

    // A dataset trusting another algorithm only.
    let trusting_other = world
        .publish_with(0, &file, &json!({"serviceType": "compute", "compute": {
            "allowRawAlgorithm": true,
            "publisherTrustedAlgorithms": [{"did": "did:op:0000000000000000000000000000000000000000000000000000000000000000",
                "filesChecksum": "", "containerSectionChecksum": ""}],
            "publisherTrustedAlgorithmPublishers": []}}))
        .await;
    let (status, body) = initialize(
        trusting_other["did"].as_str().unwrap().into(),
        published_algorithm.clone(),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"error": {"dataset": "not_trusted_algo"}}))
    );
    // Raw code is allowed there.
    let (status, body) = initialize(trusting_other["did"].as_str().unwrap().into(), raw).await;
    assert_eq!(status, 200, "{body}");

    // Trusted by DID, but its container is not the one trusted.
    let mismatch = world
        .publish_with(0, &file, &json!({"serviceType": "compute", "compute": {
            "publisherTrustedAlgorithms": [{"did": algorithm_did, "filesChecksum": "",
                "containerSectionChecksum": hex::encode(sha2::Sha256::digest(b"something else"))}]}}))
        .await;
    let (status, body) = initialize(
        mismatch["did"].as_str().unwrap().into(),
        published_algorithm.clone(),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": {"dataset": "algorithm_container_checksum_mismatch"}})
        )
    );

    // Trusted by DID with the right container and files checksums: admitted.
    let container = algorithm_metadata(SUM_ALGORITHM)["container"].clone();
    let section = hex::encode(sha2::Sha256::digest(format!(
        "{}{}",
        container["entrypoint"].as_str().unwrap(),
        container["checksum"].as_str().unwrap()
    )));
    let files = hex::encode(sha2::Sha256::digest(SUM_ALGORITHM.as_bytes()));
    let exact = world
        .publish_with(0, &file, &json!({"serviceType": "compute", "compute": {
            "publisherTrustedAlgorithms": [{"did": algorithm_did, "filesChecksum": files, "containerSectionChecksum": section}]}}))
        .await;
    let (status, body) = initialize(
        exact["did"].as_str().unwrap().into(),
        published_algorithm.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A wrong files checksum is refused.
    let wrong_files = world
        .publish_with(0, &file, &json!({"serviceType": "compute", "compute": {
            "publisherTrustedAlgorithms": [{"did": algorithm_did, "filesChecksum": "00", "containerSectionChecksum": section}]}}))
        .await;
    let (status, body) = initialize(
        wrong_files["did"].as_str().unwrap().into(),
        published_algorithm.clone(),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": {"dataset": "algorithm_file_checksum_mismatch"}})
        )
    );

    // Trusted publishers: the algorithm's publisher (its NFT owner) listed or not.
    let publisher = address(PUBLISHER);
    for (listed, expected) in [
        (publisher.as_str(), 200),
        ("0x000000000000000000000000000000000000dEaD", 400),
    ] {
        let dataset = world
            .publish_with(
                0,
                &file,
                &json!({"serviceType": "compute", "compute": {
                "publisherTrustedAlgorithmPublishers": [listed]}}),
            )
            .await;
        let (status, body) = initialize(
            dataset["did"].as_str().unwrap().into(),
            published_algorithm.clone(),
        )
        .await;
        assert_eq!(status, expected, "{listed}: {body}");
        if expected == 400 {
            assert_eq!(
                body,
                json!({"error": {"dataset": "not_trusted_algo_publisher"}})
            );
        }
    }

    // An asset that is not an algorithm is not one.
    let (status, body) = initialize(
        published.dataset["did"].as_str().unwrap().into(),
        json!({"documentId": published.dataset["did"], "serviceId": "compute-1"}),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "DID is not a valid algorithm"}))
    );

    // And compute start refuses an unordered job whatever the algorithm.
    let nonce = now_nonce().to_string();
    let dataset_did = published.dataset["did"].as_str().unwrap();
    let response = world
        .app
        .client
        .post(format!("{}/api/services/compute", world.provider_url))
        .json(&json!({
            "dataset": {"documentId": dataset_did, "serviceId": "compute-1", "transferTxId": format!("0x{}", "ab".repeat(32))},
            "algorithm": published_algorithm,
            "environment": "sandbox",
            "consumerAddress": consumer,
            "nonce": nonce,
            "signature": sign(CONSUMER, &format!("{consumer}{dataset_did}{nonce}")),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"dataset.serviceId": "order_invalid"}})
    );
}

#[tokio::test]
async fn fees_count_every_second_and_one_item_carries_them() {
    wharf_tests::ensure_bubblewrap();
    // A paid environment, priced in the chain's fee token (Ocean's, 18 decimals).
    let world = World::start(
        "[compute]\n[[compute.environments]]\nid = \"paid\"\nexecutor = \"sandbox\"\nprice_min = \"0.5\"\nmax_job_duration_secs = 172800\n\
         [[compute.environments]]\nid = \"free\"\nexecutor = \"sandbox\"\n",
    )
    .await;
    let published = publish_pair(&world, open_options(), SUM_ALGORITHM).await;
    let consumer = address(CONSUMER);
    let seconds = 86_400 + 600;
    let valid_until = now_nonce() / 1000 + seconds;
    let response = world
        .app
        .client
        .post(format!(
            "{}/api/services/initializeCompute",
            world.provider_url
        ))
        .json(&json!({
            "datasets": [{"documentId": published.dataset["did"], "serviceId": "compute-1"}],
            "algorithm": {"documentId": published.algorithm["did"], "serviceId": "access-1"},
            "compute": {"env": "paid", "validUntil": valid_until},
            "consumerAddress": consumer,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let amount = |item: &Value| -> u128 {
        item["providerFee"]["providerFeeAmount"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    // 0.5 per minute over a day and ten minutes: the whole day counts (upstream dropped it).
    let dataset_fee = amount(&body["datasets"][0]);
    let per_second = 5 * 10u128.pow(17) / 60;
    let low = per_second * (seconds as u128 - 5);
    let high = per_second * (seconds as u128 + 1) + 1;
    assert!(
        (low..=high).contains(&dataset_fee),
        "{dataset_fee} for {seconds} s: {body}"
    );
    assert_eq!(
        amount(&body["algorithm"]),
        0,
        "only one item carries the fee: {body}"
    );
    assert_eq!(
        body["datasets"][0]["providerFee"]["validUntil"], valid_until,
        "{body}"
    );
    assert_eq!(
        body["datasets"][0]["providerFee"]["providerFeeToken"]
            .as_str()
            .unwrap()
            .to_lowercase(),
        world.deployed["ocean"].as_str().unwrap().to_lowercase()
    );

    // Bad requests get flask-sieve's shape or upstream's message.
    let post = |body: Value| {
        let client = world.app.client.clone();
        let url = format!("{}/api/services/initializeCompute", world.provider_url);
        async move {
            let response = client.post(url).json(&body).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, body) = post(json!({"datasets": []})).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Validation error");
    assert!(body["errors"]["compute.env"].is_array(), "{body}");
    assert!(body["errors"]["consumerAddress"].is_array(), "{body}");
    let base = json!({
        "datasets": [{"documentId": published.dataset["did"], "serviceId": "compute-1"}],
        "algorithm": {"documentId": published.algorithm["did"], "serviceId": "access-1"},
        "consumerAddress": consumer,
    });
    let mut unknown = base.clone();
    unknown["compute"] = json!({"env": "nowhere", "validUntil": valid_until});
    assert_eq!(
        post(unknown).await,
        (400, json!({"error": "Compute environment does not exist"}))
    );
    let mut past = base.clone();
    past["compute"] = json!({"env": "free", "validUntil": 1000});
    assert_eq!(
        post(past).await,
        (
            400,
            json!({"error": "The validUntil value is not correct."})
        )
    );
    let (status, _) = post(json!("not an object")).await;
    assert_eq!(status, 400);
    let raw = world
        .app
        .client
        .post(format!(
            "{}/api/services/initializeCompute",
            world.provider_url
        ))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);

    // Both environments are listed, each with its price.
    let envs: Value = world
        .app
        .client
        .get(format!(
            "{}/api/services/computeEnvironments",
            world.provider_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = envs["1337"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["paid", "free"]);
    assert_eq!(envs["1337"][0]["priceMin"], 0.5);
    assert_eq!(envs["1337"][0]["maxJobDuration"], 172800);
}

/// A published algorithm whose command line carries `marker`, so its processes can be found.
async fn publish_marked_algorithm(world: &World, code: &str, marker: &str) -> Value {
    let url = world
        .files
        .put(&format!("algo-{}.py", now_nonce()), code.as_bytes());
    let mut metadata = algorithm_metadata(code);
    metadata["container"]["entrypoint"] = json!(format!("python3 $ALGO {marker}"));
    world
        .publish_with(
            0,
            &json!({"type": "url", "url": url, "method": "GET"}),
            &json!({"type": "algorithm", "algorithm": metadata}),
        )
        .await
}

fn processes_with(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .count()
}

#[tokio::test]
async fn a_worker_killed_mid_job_leaves_it_failed_not_running() {
    wharf_tests::ensure_bubblewrap();
    // The API in this process runs no jobs; `wharf worker` processes do.
    let world =
        World::start("[compute]\nlease_secs = 3\npoll_schedule = \"*/1 * * * * *\"\n").await;
    let config = world.app.env.data_dir.path().join("wharf.toml");
    let vars = world
        .app
        .env
        .vars(&[("WHARF_CONFIG", config.to_str().unwrap())]);
    let cwd = world.app.env.data_dir.path();
    let first = wharf_tests::WharfProcess::start(&["worker"], &vars, cwd).await;

    let marker = format!("marker{}", now_nonce());
    let file = json!({"type": "url", "url": world.data_url(), "method": "GET"});
    let dataset = world
        .publish_with(
            0,
            &file,
            &json!({"serviceType": "compute", "compute": open_options()}),
        )
        .await;
    let algorithm = publish_marked_algorithm(
        &world,
        "import time\nprint('started', flush=True)\ntime.sleep(120)\n",
        &marker,
    )
    .await;
    let published = Published { dataset, algorithm };
    let plan = plan(&published, json!({"timeoutSecs": 90}));
    let client = tokio::spawn({
        let chain = world.chain.url.clone();
        let provider = world.provider_url.clone();
        async move { ocean_js(&["compute", &chain, chain::KEYS[CONSUMER], &provider, &plan]).await }
    });

    // Wait until the job runs in the first worker, then kill that worker outright.
    let owner = format!("{:#x}", chain::signer(CONSUMER).address());
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let jobs = world
            .app
            .services
            .compute
            .jobs
            .of_owner(&owner, None, None, None, None, 10)
            .await
            .unwrap();
        if let Some(job) = jobs.into_iter().find(|j| j.status == 40) {
            break job;
        }
        assert!(Instant::now() < deadline, "the job never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Running (40) is recorded as the sandbox starts: on a busy machine its process shows a
    // moment later.
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_with(&marker) == 0 {
        assert!(Instant::now() < deadline, "the algorithm never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = first.child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    // The sandbox dies with its worker.
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with(&marker) > 0 {
        assert!(
            Instant::now() < deadline,
            "the algorithm outlived its worker"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Another worker notices the lost lease and ends the job; the client sees it end.
    let _second = wharf_tests::WharfProcess::start(&["worker"], &vars, cwd).await;
    let out = client.await.unwrap();
    assert!(out["error"].is_null(), "{out}");
    assert_eq!(out["jobId"], job.id.as_str());
    assert_eq!(out["job"]["status"], 70, "{out}");
    assert_eq!(
        out["job"]["statusText"], "Job failed: the worker running it stopped",
        "{out}"
    );
    // It ran once: nothing started it again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(processes_with(&marker), 0);
    let ended = world
        .app
        .services
        .compute
        .jobs
        .get(&job.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status, 70);
}

#[tokio::test]
async fn the_operator_executor_hands_jobs_over_and_follows_them() {
    let double = wharf_tests::operator::OperatorDouble::start().await;
    let mut world = World::start(&format!(
        "[compute]\npoll_schedule = \"*/1 * * * * *\"\n[[compute.environments]]\nid = \"k8s\"\n\
         executor = \"operator\"\noperator_url = \"{}\"\nconsumer_address = \"{}\"\n",
        double.base,
        double.consumer.to_checksum(None)
    ))
    .await;
    world.app.spawn_workers();
    double.trust(world.app.services.provider.keys.address(1337));
    let published = publish_pair(&world, open_options(), SUM_ALGORITHM).await;

    // A whole job through operator-service: handed over, polled, results copied back.
    let out = run_plan(
        &world,
        CONSUMER,
        &plan(&published, json!({"environment": "k8s"})),
    )
    .await;
    assert!(out["error"].is_null(), "compute: {out}");
    assert_eq!(
        out["environments"]["1337"][0]["consumerAddress"],
        double.consumer.to_checksum(None)
    );
    assert_eq!(out["job"]["status"], 70, "{out}");
    assert_eq!(out["job"]["statusText"], "Job finished", "{out}");
    let result: Value = serde_json::from_str(out["results"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(result, expected_sum());
    assert!(
        out["results"][1]["body"]
            .as_str()
            .unwrap()
            .contains("rows 200000"),
        "{out}"
    );
    // Statuses seen on the way came from the operator.
    let statuses: Vec<i64> = out["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_i64().unwrap())
        .collect();
    assert!(
        statuses.iter().any(|s| (10..70).contains(s)),
        "{statuses:?}"
    );

    // A second job, stopped mid-run, then deleted.
    let sleeper = publish_pair(
        &world,
        open_options(),
        "import time\nprint('started', flush=True)\ntime.sleep(60)\n",
    )
    .await;
    let out = run_plan(
        &world,
        CONSUMER,
        &plan(
            &sleeper,
            json!({"environment": "k8s", "stopAt": 40, "delete": true}),
        ),
    )
    .await;
    assert!(out["error"].is_null(), "compute: {out}");
    assert_eq!(out["job"]["statusText"], "Job stopped", "{out}");
    assert_eq!(out["afterDelete"], json!([]));

    // Every call was signed by the provider with a nonce never used before.
    let calls = double.calls.lock().unwrap().clone();
    let count = |method: &str, path: &str| {
        calls
            .iter()
            .filter(|c| c.method == method && c.path == path)
            .count()
    };
    assert_eq!(count("POST", "compute"), 2, "{calls:?}");
    assert!(count("GET", "compute") >= 2, "{calls:?}");
    assert!(count("GET", "getResult") >= 3, "{calls:?}");
    // The stop is said again at each poll until the operator ends the job.
    assert!(count("PUT", "compute") >= 1, "{calls:?}");
    assert_eq!(count("DELETE", "compute"), 1, "{calls:?}");
    assert!(calls.iter().all(|c| c.accepted), "{calls:?}");
    let nonces: Vec<u128> = calls.iter().map(|c| c.nonce.parse().unwrap()).collect();
    assert!(
        nonces.windows(2).all(|w| w[0] < w[1]),
        "nonces not increasing: {nonces:?}"
    );
}

#[tokio::test]
async fn graphql_starts_a_job_follows_it_and_reads_its_results() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let world = compute_world().await;
    let published = publish_pair(&world, open_options(), SUM_ALGORITHM).await;
    let ordered = run_plan(
        &world,
        CONSUMER,
        &plan(&published, json!({"orderOnly": true})),
    )
    .await;
    assert!(ordered["error"].is_null(), "{ordered}");
    let wallet = wharf_tests::wallet::Wallet {
        signer: chain::signer(CONSUMER),
    };
    let app = &world.app;
    let domain = app.services.config.siwe_domain();
    let token = app.sign_in(&wallet, &domain).await;

    let (_, body) = app
        .graphql(
            "{ computeEnvironments { id chainId executor consumerAddress priceMin maxJobs } }",
            json!({}),
            None,
        )
        .await;
    let env = &body["data"]["computeEnvironments"][0];
    assert_eq!(env["id"], "sandbox", "{body}");
    assert_eq!(env["executor"], "SANDBOX");
    assert_eq!(env["chainId"], 1337, "a chain id is a number in GraphQL");

    let (_, body) = app
        .graphql(
            "mutation($i: StartComputeInput!) { startCompute(input: $i) { id status statusText } }",
            json!({"i": {
                "environment": "sandbox",
                "datasets": [{"did": published.dataset["did"], "serviceId": "compute-1", "transferTxId": ordered["orders"]["dataset"]}],
                "algorithm": {"did": published.algorithm["did"], "serviceId": "access-1", "transferTxId": ordered["orders"]["algorithm"]},
            }}),
            Some(&token),
        )
        .await;
    let id = body["data"]["startCompute"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string();

    // Follow it on the change feed until it ends.
    let mut socket = wharf_tests::ws::connect(app).await;
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(
        wharf_tests::ws::next_json(&mut socket).await.unwrap()["type"],
        "connection_ack"
    );
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {
                "query": "subscription($id: String!) { computeJobUpdates(id: $id) { status statusText finished finishedAt } }",
                "variables": {"id": id}}})
            .to_string(),
        ))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut visible_after_ms = None;
    loop {
        let message = tokio::time::timeout(
            Duration::from_secs(60),
            wharf_tests::ws::next_json(&mut socket),
        )
        .await
        .expect("an update within a minute")
        .unwrap();
        match message["type"].as_str() {
            Some("next") => {
                let job = &message["payload"]["data"]["computeJobUpdates"];
                seen.push(job["status"].as_i64().unwrap());
                if job["finished"] == true {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis() as i64;
                    visible_after_ms = Some(now - job["finishedAt"].as_i64().unwrap());
                    assert_eq!(job["statusText"], "Job finished", "{message}");
                }
            }
            Some("complete") => break,
            other => panic!("unexpected {other:?}: {message}"),
        }
    }
    eprintln!(
        "figure: job end visible over GraphQL {} ms after the job ended",
        visible_after_ms.unwrap()
    );
    assert_eq!(seen.last(), Some(&70), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "statuses go forward: {seen:?}"
    );
    let _ = socket.close(None).await;

    // The job with its result links and log tail; the link serves the result to its owner.
    let (_, body) = app
        .graphql(
            "query($id: String!) { computeJob(id: $id) { status results { index filename type url } logTail(bytes: 200) } computeJobs(first: 5) { edges { node { id } } } }",
            json!({"id": id}),
            Some(&token),
        )
        .await;
    let job = &body["data"]["computeJob"];
    assert_eq!(job["status"], 70, "{body}");
    assert!(
        job["logTail"].as_str().unwrap().contains("rows 200000"),
        "{body}"
    );
    assert_eq!(
        body["data"]["computeJobs"]["edges"][0]["node"]["id"],
        id.as_str()
    );
    let url = app.url(job["results"][0]["url"].as_str().unwrap());
    let response = app
        .client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result, expected_sum());
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);

    // Another wallet sees none of it.
    let other = wharf_tests::wallet::Wallet::new();
    let other_token = app.sign_in(&other, &domain).await;
    let (_, body) = app
        .graphql(
            "query($id: String!) { computeJob(id: $id) { id } }",
            json!({"id": id}),
            Some(&other_token),
        )
        .await;
    assert_eq!(wharf_tests::error_code(&body), Some("NOT_FOUND"), "{body}");
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(&other_token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let (_, body) = app
        .graphql(
            "mutation($id: String!) { stopCompute(id: $id) { id } }",
            json!({"id": id}),
            Some(&other_token),
        )
        .await;
    assert_eq!(wharf_tests::error_code(&body), Some("NOT_FOUND"), "{body}");

    // The owner deletes it: gone, results and all.
    let (_, body) = app
        .graphql(
            "mutation($id: String!) { deleteCompute(id: $id) }",
            json!({"id": id}),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["deleteCompute"], true, "{body}");
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(blobs_of(&world, &id), 0);
}

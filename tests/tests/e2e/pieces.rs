//! Stored CARs added to a dataset: the piece CID is computed later by a job, from the stored
//! CAR, and must be the one computed over the same CAR file in one go (by us and by
//! @web3-storage/data-segment); a computation whose job was lost or whose runs all died is
//! moved on by the reconciliation sweep.
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use wharf_content::Profile;
use wharf_tests::{ADMIN_KEY, TestApp, ensure_npm_packages, error_code};

use crate::crosscheck::{generate, run_node, wharf_json};

async fn operator(app: &TestApp, query: &str, variables: Value) -> Value {
    let (status, body) = app.graphql(query, variables, Some(ADMIN_KEY)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn create_dataset(app: &TestApp, name: &str) -> i64 {
    let created = operator(
        app,
        "mutation($n: String!) { createDataset(name: $n, replicationQuota: 2, dealDuration: 540) }",
        json!({ "n": name }),
    )
    .await;
    created["data"]["createDataset"].as_i64().unwrap()
}

const ADD: &str = "mutation($d: Int!, $r: String!, $l: String) { addStoredCar(datasetId: $d, root: $r, contentLocation: $l) { carId datasetId root contentLocation status error attempts } }";

async fn add(app: &TestApp, dataset: i64, root: &str, location: Option<&str>) -> Value {
    operator(app, ADD, json!({"d": dataset, "r": root, "l": location})).await
}

async fn dataset_state(app: &TestApp, id: i64) -> Value {
    let body = operator(
        app,
        "query($id: Int!) { dataset(id: $id) { countTotal contents { edges { node { commP payloadCid size paddedSize contentLocation } } } pieceComputations { carId status error attempts } } }",
        json!({ "id": id }),
    )
    .await;
    body["data"]["dataset"].clone()
}

/// Waits until the dataset's computations are all ended (none computing) and returns it.
async fn settled(app: &TestApp, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = dataset_state(app, id).await;
        let computing = state["pieceComputations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["status"] == "COMPUTING");
        if !computing {
            // Fields resolve one after another: read again, now that nothing changes.
            return dataset_state(app, id).await;
        }
        assert!(Instant::now() < deadline, "still computing: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sample(size: usize, seed: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    generate(&file, size, seed);
    (dir, file)
}

#[tokio::test]
async fn a_stored_car_becomes_a_piece_with_the_piece_cid_of_the_whole_car_file() {
    ensure_npm_packages();
    let mut app = TestApp::spawn().await;
    app.spawn_workers();
    // Over two CommP segments, so the job's threads each take some.
    let (dir, file) = sample(5_000_000, 21);
    let car_path = dir.path().join("data.car");
    let ours = wharf_json(&[
        "car",
        "--json",
        file.to_str().unwrap(),
        "-o",
        car_path.to_str().unwrap(),
    ]);
    let car = std::fs::read(&car_path).unwrap();
    // Inline: the CAR file hashed in one go, by us and by the JavaScript reference.
    let reference = run_node(&[format!("commp {}", car_path.display())]).remove(0);
    let inline = wharf_content::commp::commp(&car);
    assert_eq!(inline.cid_v1().to_string(), reference["v1"]);

    // Stored as an upload to a non-Filecoin storage stores it: no CommP at import.
    let data = std::fs::read(&file).unwrap();
    let imported = app
        .services
        .content
        .import(&data[..], Profile::KUBO, None)
        .await
        .unwrap();
    assert!(imported.summary.piece.is_none());
    let root = imported.summary.root.to_string();
    assert_eq!(root, ours["root"].as_str().unwrap());

    let dataset = create_dataset(&app, "stored-cars").await;
    let location = "https://cars.example/piece/{pieceCid}";
    let added = add(&app, dataset, &root, Some(location)).await;
    let computation = &added["data"]["addStoredCar"];
    assert_eq!(computation["status"], "COMPUTING", "{added}");
    assert_eq!(computation["root"], root.as_str());
    assert_eq!(computation["carId"], imported.car_id.as_str());

    let state = settled(&app, dataset).await;
    assert_eq!(state["pieceComputations"], json!([]), "{state}");
    assert_eq!(state["countTotal"], 1);
    let piece = &state["contents"]["edges"][0]["node"];
    assert_eq!(piece["commP"], reference["v1"], "deferred CommP = inline");
    assert_eq!(piece["paddedSize"], reference["padded"]);
    assert_eq!(piece["size"], car.len() as u64);
    assert_eq!(piece["payloadCid"], root.as_str());
    let comm_p = piece["commP"].as_str().unwrap();
    assert_eq!(
        piece["contentLocation"],
        format!("https://cars.example/piece/{comm_p}"),
        "the placeholder names the piece"
    );

    // Providers fetch the piece's data by piece CID: the very bytes of the CAR file.
    let fetched = app
        .client
        .get(app.url(&format!("/piece/{comm_p}")))
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(
        fetched.headers()["content-type"],
        "application/vnd.ipld.car"
    );
    assert_eq!(
        fetched.headers()["content-length"],
        car.len().to_string().as_str()
    );
    assert!(
        fetched.bytes().await.unwrap() == car,
        "served CAR = the CAR file"
    );
    let head = app
        .client
        .head(app.url(&format!("/piece/{comm_p}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        car.len().to_string().as_str()
    );
    for (path, status) in [
        // A piece CID of nothing stored here, and a payload CID.
        (
            "/piece/baga6ea4seaqjtm4sapz4vlxur6m37griffry266er5jwrwvpoodfg7mfl33ukcy".to_string(),
            404,
        ),
        (format!("/piece/{root}"), 400),
        ("/piece/nope".to_string(), 400),
    ] {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
    }

    // Its payload is a piece now: adding it again, here or elsewhere, is a conflict.
    let other = create_dataset(&app, "elsewhere").await;
    for target in [dataset, other] {
        let again = add(&app, target, &root, None).await;
        assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
    }
    // What is not stored, and what is not a CID.
    let unknown = add(
        &app,
        dataset,
        "bafkreie3ntx3nzvhuv63btdsgaeste6gurdigzw2soryitq6m3f3p24nba",
        None,
    )
    .await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"), "{unknown}");
    let bad = add(&app, dataset, "not-a-cid", None).await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"), "{bad}");
    let missing = add(&app, 999_999, &root, None).await;
    assert_eq!(error_code(&missing), Some("NOT_FOUND"), "{missing}");
    // Operators only.
    let (_, anonymous) = app
        .graphql(
            ADD,
            json!({"d": dataset, "r": root, "l": Value::Null}),
            None,
        )
        .await;
    assert!(anonymous["data"].is_null(), "{anonymous}");
    assert!(error_code(&anonymous).is_some(), "{anonymous}");

    // Once the CAR is removed, its piece is not served any more.
    app.services
        .content
        .remove_car(&imported.car_id)
        .await
        .unwrap();
    let gone = app
        .client
        .get(app.url(&format!("/piece/{comm_p}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn lost_and_dead_piece_computations_are_moved_on_by_the_sweep() {
    // Added through a process whose queue nobody serves: its jobs are lost for the workers
    // that run later under another queue prefix.
    let toml = "[jobs]\nstale_after_secs = 1\n";
    let app = TestApp::spawn_with_toml(Some(toml), &[]).await;
    let dataset = create_dataset(&app, "swept").await;
    let import = |seed: u64| {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed as u32) >> 13) as u8)
            .collect();
        let content = app.services.content.clone();
        async move {
            content
                .import(&data[..], Profile::KUBO, None)
                .await
                .unwrap()
        }
    };
    let lost = import(1).await;
    let dead = import(2).await;
    let removed = import(3).await;
    for car in [&lost, &dead, &removed] {
        let added = add(&app, dataset, &car.summary.root.to_string(), None).await;
        assert_eq!(added["data"]["addStoredCar"]["status"], "COMPUTING");
    }
    // `dead`: every run it was allowed started and died (attempts used up, no progress since).
    let db = &app.services.db;
    let attempts = app.services.queue.max_attempts() as i64;
    db.execute_raw(wharf_core::sql::statement(
        db,
        "UPDATE piece_computations SET attempts = $1, error = 'the process died' WHERE car_id = $2",
        [attempts.into(), dead.car_id.clone().into()],
    ))
    .await
    .unwrap();
    // `removed`: its CAR is deleted before any job runs.
    app.services
        .content
        .remove_car(&removed.car_id)
        .await
        .unwrap();

    let (services, stop) = app.workers_under_another_prefix(toml).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = wharf_core::sweep::reconcile(&services).await.unwrap();
    assert_eq!(
        (report.requeued_pieces, report.failed_pieces),
        (2, 1),
        "{report:?}"
    );
    // Queued once: a second sweep right away leaves them to their jobs.
    let again = wharf_core::sweep::reconcile(&services).await.unwrap();
    assert_eq!((again.requeued_pieces, again.failed_pieces), (0, 0));

    let state = settled(&app, dataset).await;
    let nodes = state["contents"]["edges"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{state}");
    assert_eq!(
        nodes[0]["node"]["payloadCid"],
        lost.summary.root.to_string().as_str()
    );
    let failed: Vec<(String, String)> = state["pieceComputations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["status"], "FAILED");
            (
                p["carId"].as_str().unwrap().to_string(),
                p["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(failed.len(), 2, "{state}");
    let reason = |car: &str| &failed.iter().find(|(c, _)| c == car).unwrap().1;
    assert!(
        reason(&dead.car_id).starts_with(&format!("gave up after {attempts} attempts")),
        "{failed:?}"
    );
    assert_eq!(reason(&removed.car_id), "the stored CAR was removed");

    // Adding a failed one again starts over, and this time it is computed.
    let retried = add(&app, dataset, &dead.summary.root.to_string(), None).await;
    assert_eq!(retried["data"]["addStoredCar"]["status"], "COMPUTING");
    assert_eq!(retried["data"]["addStoredCar"]["attempts"], 0);
    assert_eq!(retried["data"]["addStoredCar"]["error"], Value::Null);
    // The job went to this app's queue, which nobody serves: the sweep hands it over.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = wharf_core::sweep::reconcile(&services).await.unwrap();
    assert_eq!(report.requeued_pieces, 1, "{report:?}");
    let state = settled(&app, dataset).await;
    assert_eq!(state["countTotal"], 2, "{state}");
    assert_eq!(state["pieceComputations"].as_array().unwrap().len(), 1);
    let _ = stop.send(());
}

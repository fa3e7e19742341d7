//! The delta-dm API at /api/v1: operator auth, datasets, contents in every import format,
//! providers and replication profiles, with the shapes of shared/reference/delta-dm.md.
use serde_json::{Value, json};
use wharf_tests::TestApp;
use wharf_tests::piece_cids as piece;

const KEY: &str = "ESTxyz-operator-ARY";
const PIECE: &str = "baga6ea4seaqjtm4sapz4vlxur6m37griffry266er5jwrwvpoodfg7mfl33ukcy";
const PAYLOAD: &str = "bafybeien5jzez2bsn3eluylu2mcdubnnz7bqbx6umw7ijxwl7ghauaaxjq";

async fn app() -> TestApp {
    TestApp::spawn_with(&[("WHARF_ADMIN_API_KEY", KEY)]).await
}

struct Ddm<'a> {
    app: &'a TestApp,
}

impl Ddm<'_> {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(&format!("/api/v1{path}")))
            .bearer_auth(KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
    async fn delete(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, Some(body)).await
    }
    async fn post_csv(&self, path: &str, csv: String) -> (u16, Value) {
        let response = self
            .app
            .client
            .post(self.app.url(&format!("/api/v1{path}")))
            .bearer_auth(KEY)
            .header("Content-Type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// A distinct, valid piece CID and payload CID for `i`.
fn envelope(code: u16) -> impl Fn(&Value) -> bool {
    move |body: &Value| body["error"]["code"] == code && body["error"]["details"].is_string()
}

#[tokio::test]
async fn operator_routes_need_the_bearer_key() {
    let app = app().await;
    let health = |auth: Option<&'static str>| {
        let mut request = app.client.get(app.url("/api/v1/health"));
        if let Some(a) = auth {
            request = request.header("Authorization", a);
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = health(None).await;
    assert_eq!(status, 401);
    assert!(body.is_string(), "a bare JSON string: {body}");
    assert_eq!(health(Some("Bearer wrong")).await.0, 401);
    assert_eq!(health(Some(KEY)).await.0, 401, "without Bearer");
    let (status, body) = health(Some("Bearer ESTxyz-operator-ARY")).await;
    assert_eq!(status, 200);
    assert!(body["ddm_info"]["version"].is_string());
}

#[tokio::test]
async fn datasets_are_validated_created_updated_and_counted() {
    let app = app().await;
    let ddm = Ddm { app: &app };
    // The reference's request example.
    let (status, created) = ddm
        .post(
            "/datasets",
            json!({"name": "test-dataset", "replication_quota": 6, "deal_duration": 540}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["name"], "test-dataset");
    assert_eq!(created["replication_quota"], 6);
    assert_eq!(created["deal_duration"], 540);
    let id = created["ID"].as_i64().unwrap();
    assert!(created["CreatedAt"].is_string());

    for bad in [
        json!({"name": "Invalid", "replication_quota": 1, "deal_duration": 540}),
        json!({"name": "doubledash--is-invalid", "replication_quota": 1, "deal_duration": 540}),
        json!({"name": "ok", "replication_quota": 0, "deal_duration": 540}),
        json!({"name": "ok", "replication_quota": 1, "deal_duration": 179}),
        json!({"name": "ok", "replication_quota": 1, "deal_duration": 1279}),
        json!({"name": "ok", "replication_quota": -1, "deal_duration": 540}),
        json!({"name": "ok"}),
        json!([1, 2]),
    ] {
        let (status, body) = ddm.post("/datasets", bad.clone()).await;
        assert_eq!(status, 400, "{bad} -> {body}");
        assert!(envelope(400)(&body), "{body}");
    }
    let (status, body) = ddm
        .post(
            "/datasets",
            json!({"name": "test-dataset", "replication_quota": 2, "deal_duration": 200}),
        )
        .await;
    assert_eq!(status, 409, "{body}");

    let (status, updated) = ddm
        .put(
            &format!("/datasets/{id}"),
            json!({"replication_quota": 3, "name": "renamed"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (
            updated["replication_quota"].as_i64(),
            updated["name"].as_str()
        ),
        (Some(3), Some("renamed"))
    );
    assert_eq!(ddm.put(&format!("/datasets/{id}"), json!({})).await.0, 400);
    assert_eq!(
        ddm.put("/datasets/999", json!({"replication_quota": 2}))
            .await
            .0,
        404
    );
    assert_eq!(
        ddm.put("/datasets/abc", json!({"replication_quota": 2}))
            .await
            .0,
        400
    );

    let (_, outcome) = ddm
        .post(
            &format!("/contents/{id}"),
            json!([{"payload_cid": PAYLOAD, "commp": PIECE, "padded_size": 34359738368u64, "size": 24692724205u64}]),
        )
        .await;
    assert_eq!(outcome, json!({"success": [PIECE], "fail": []}));
    let (status, list) = ddm.get("/datasets").await;
    assert_eq!(status, 200);
    let d = &list[0];
    assert_eq!(d["count_total"], 1);
    assert_eq!(
        d["bytes_total"],
        json!({"raw": 24692724205u64, "padded": 34359738368u64})
    );
    assert_eq!(d["count_replicated"], 0);
    assert_eq!(d["bytes_replicated"], json!({"raw": 0, "padded": 0}));
    assert_eq!(d["replication_profiles"], json!([]));
}

#[tokio::test]
async fn every_import_format_answers_per_row() {
    let app = app().await;
    let ddm = Ddm { app: &app };
    let (_, a) = ddm
        .post(
            "/datasets",
            json!({"name": "alpha", "replication_quota": 2, "deal_duration": 540}),
        )
        .await;
    let (_, b) = ddm
        .post(
            "/datasets",
            json!({"name": "beta", "replication_quota": 2, "deal_duration": 540}),
        )
        .await;
    let (a, b) = (a["ID"].as_i64().unwrap(), b["ID"].as_i64().unwrap());

    // delta-dm JSON: good rows, then a swapped CID, a bad padded size, a size too big, a
    // missing field, a repeat.
    let (p1, c1) = piece(1);
    let (p2, c2) = piece(2);
    let (p3, c3) = piece(3);
    let (status, outcome) = ddm
        .post(
            &format!("/contents/{a}"),
            json!([
                {"payload_cid": c1, "commp": p1, "padded_size": 1024, "size": 1000, "content_location": "http://x/1.car"},
                {"payload_cid": p2, "commp": c2, "padded_size": 1024, "size": 1000},
                {"payload_cid": c2, "commp": p2, "padded_size": 1000, "size": 900},
                {"payload_cid": c2, "commp": p2, "padded_size": 1024, "size": 1024},
                {"payload_cid": c3, "commp": p3, "size": 10},
                {"payload_cid": c1, "commp": p1, "padded_size": 1024, "size": 1000},
                {"payload_cid": c3, "commp": p3, "padded_size": 256, "size": 200},
            ]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(outcome["success"], json!([p1, p3]));
    assert_eq!(outcome["fail"].as_array().unwrap().len(), 5, "{outcome}");
    // Already stored: fails again, nothing changes.
    let (_, again) = ddm
        .post(
            &format!("/contents/{a}"),
            json!([{"payload_cid": c1, "commp": p1, "padded_size": 1024, "size": 1000}]),
        )
        .await;
    assert_eq!(again, json!({"success": [], "fail": [p1]}));

    // Singularity.
    let (p4, c4) = piece(4);
    let (_, outcome) = ddm
        .post(
            &format!("/contents/{a}?import_type=singularity"),
            json!([{"carSize": 100, "dataCid": c4, "pieceCid": p4, "pieceSize": 128},
                   {"carSize": "x", "dataCid": c4, "pieceCid": "nope", "pieceSize": 128}]),
        )
        .await;
    assert_eq!(outcome, json!({"success": [p4], "fail": ["nope"]}));

    // CSV: the reference example plus broken rows.
    let (p5, c5) = piece(5);
    let csv = format!(
        "commP,payloadCid,size,paddedSize,ContentLocation\n{PIECE},{PAYLOAD},24692724205,34359738368,\n{p5},{c5},-1,128,\nonly-two,cols\n"
    );
    let (status, outcome) = ddm
        .post_csv(&format!("/contents/{b}?import_type=csv"), csv)
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["success"], json!([PIECE]));
    assert_eq!(outcome["fail"], json!([p5, "only-two"]));
    let (status, body) = ddm
        .post_csv(
            &format!("/contents/{b}?import_type=csv"),
            "a,b\n1,2\n".into(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        ddm.post_csv(&format!("/contents/{b}?import_type=xml"), "x".into())
            .await
            .0,
        400
    );
    assert_eq!(ddm.post("/contents/999", json!([])).await.0, 404);

    // Collections: rows of one collection alternate with another's (upstream lost every
    // second row of a collection); a missing location and an unknown collection fail.
    let rows: Vec<Value> = (10..16u64)
        .map(|i| {
            let (p, c) = piece(i);
            json!({"commp": p, "payload_cid": c, "size": 100, "padded_size": 128,
                   "collection": if i % 2 == 0 { "alpha" } else { "beta" },
                   "content_location": format!("http://x/{i}.car")})
        })
        .chain([
            json!({"commp": piece(20).0, "payload_cid": piece(20).1, "size": 100, "padded_size": 128, "collection": "alpha"}),
            json!({"commp": piece(21).0, "payload_cid": piece(21).1, "size": 100, "padded_size": 128, "collection": "gamma", "content_location": "x"}),
        ])
        .collect();
    let (_, outcome) = ddm.post("/contents", Value::Array(rows)).await;
    assert_eq!(outcome["success"].as_array().unwrap().len(), 6, "{outcome}");
    assert_eq!(outcome["fail"], json!([piece(20).0, piece(21).0]));
    let (_, listed) = ddm.get(&format!("/contents/{b}")).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 4, "CSV row + three collection rows");
    assert!(listed.iter().all(|c| c["dataset_id"] == b));
    assert_eq!(listed[0]["commp"], PIECE);
    assert_eq!(listed[0]["num_replications"], 0);
}

#[tokio::test]
async fn a_hundred_thousand_row_csv_imports() {
    let app = app().await;
    let ddm = Ddm { app: &app };
    let (_, d) = ddm
        .post(
            "/datasets",
            json!({"name": "big", "replication_quota": 1, "deal_duration": 540}),
        )
        .await;
    let id = d["ID"].as_i64().unwrap();
    let mut csv = String::from("commP,payloadCid,size,paddedSize\n");
    for i in 0..100_000u64 {
        let (p, c) = piece(i);
        // Every thousandth row is broken.
        if i % 1000 == 999 {
            csv.push_str(&format!("{p},{c},5000,1024\n"));
        } else {
            csv.push_str(&format!("{p},{c},1000,1024\n"));
        }
    }
    let (status, outcome) = ddm
        .post_csv(&format!("/contents/{id}?import_type=csv"), csv)
        .await;
    assert_eq!(status, 200);
    assert_eq!(outcome["success"].as_array().unwrap().len(), 99_900);
    assert_eq!(outcome["fail"].as_array().unwrap().len(), 100);
    let (_, list) = ddm.get("/datasets").await;
    assert_eq!(list[0]["count_total"], 99_900);
}

#[tokio::test]
async fn providers_and_replication_profiles() {
    let app = app().await;
    let ddm = Ddm { app: &app };
    let (status, created) = ddm
        .post(
            "/providers",
            json!({"actor_id": "f01963614", "actor_name": "sp one"}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let key = created["key"].as_str().unwrap();
    assert_eq!(key.len(), 36, "a UUID shown once");
    assert_eq!(
        created["allow_self_service"], true,
        "on unless asked otherwise"
    );
    assert_eq!(
        ddm.post("/providers", json!({"actor_id": "f01963614"}))
            .await
            .0,
        409
    );
    for bad in ["", "x0123", "f0abc", "f9"] {
        assert_eq!(
            ddm.post("/providers", json!({"actor_id": bad})).await.0,
            400,
            "{bad}"
        );
    }
    let (status, updated) = ddm
        .put("/providers/f01963614", json!({"allow_self_service": "on"}))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (
            updated["allow_self_service"].as_bool(),
            updated["actor_name"].as_str()
        ),
        (Some(true), Some("sp one"))
    );
    assert_eq!(
        ddm.put(
            "/providers/f01963614",
            json!({"allow_self_service": "maybe"})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        ddm.put("/providers/f0999", json!({"actor_name": "x"}))
            .await
            .0,
        404
    );
    let (_, list) = ddm.get("/providers").await;
    assert!(
        list[0].get("key").is_none(),
        "the key is never listed: {list}"
    );
    assert_eq!(list[0]["count_replicated"], 0);

    let (_, d) = ddm
        .post(
            "/datasets",
            json!({"name": "ds", "replication_quota": 2, "deal_duration": 540}),
        )
        .await;
    let id = d["ID"].as_i64().unwrap();
    let profile = json!({"provider_actor_id": "f01963614", "dataset_id": id, "unsealed": true, "indexed": false});
    let (status, body) = ddm.post("/replication-profiles", profile.clone()).await;
    assert_eq!((status, body), (200, profile.clone()));
    assert_eq!(
        ddm.post("/replication-profiles", profile.clone()).await.0,
        409
    );
    assert_eq!(
        ddm.post(
            "/replication-profiles",
            json!({"provider_actor_id": "f0404", "dataset_id": id})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        ddm.post(
            "/replication-profiles",
            json!({"provider_actor_id": "f01963614", "dataset_id": 999})
        )
        .await
        .0,
        404
    );
    let changed = json!({"provider_actor_id": "f01963614", "dataset_id": id, "unsealed": false, "indexed": true});
    assert_eq!(
        ddm.put("/replication-profiles", changed.clone()).await,
        (200, changed.clone())
    );
    let (_, list) = ddm.get("/replication-profiles").await;
    assert_eq!(list, json!([changed]));
    let (_, datasets) = ddm.get("/datasets").await;
    assert_eq!(datasets[0]["replication_profiles"], json!([changed]));
    let key_body = json!({"provider_actor_id": "f01963614", "dataset_id": id});
    let (status, body) = ddm.delete("/replication-profiles", key_body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        format!(
            "replication profile with ProviderActorID f01963614 and DatasetID {id} deleted successfully"
        )
    );
    assert_eq!(ddm.delete("/replication-profiles", key_body).await.0, 404);
}

/// `wharf ddm …` (the delta-dm command line) against a running server.
#[tokio::test]
async fn the_command_line_drives_the_api() {
    let app = app().await;
    let dir = tempfile::tempdir().unwrap();
    let wharf = |args: &[&str], auth: Option<&str>| {
        let mut command = std::process::Command::new(wharf_tests::wharf_bin());
        command
            .arg("ddm")
            .args(args)
            .env("DDM_API_INFO", &app.base)
            .env_remove("DELTA_AUTH");
        if let Some(key) = auth {
            command.env("DELTA_AUTH", key);
        }
        async move {
            let output = tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap();
            (
                output.status.success(),
                String::from_utf8_lossy(&output.stdout).to_string(),
                String::from_utf8_lossy(&output.stderr).to_string(),
            )
        }
    };
    let (ok, _, err) = wharf(&["dataset", "list"], Some("wrong")).await;
    assert!(!ok && err.contains("401"), "{err}");
    let (ok, out, err) = wharf(
        &[
            "dataset",
            "add",
            "--name",
            "cli-set",
            "--replication-quota",
            "2",
        ],
        Some(KEY),
    )
    .await;
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (created["name"].as_str(), created["deal_duration"].as_i64()),
        (Some("cli-set"), Some(540))
    );
    let id = created["ID"].as_i64().unwrap().to_string();
    let csv = dir.path().join("pieces.csv");
    let (p, c) = piece(9_000);
    std::fs::write(
        &csv,
        format!("commP,payloadCid,size,paddedSize\n{p},{c},1000,1024\n"),
    )
    .unwrap();
    let (ok, out, err) = wharf(
        &[
            "content",
            "import",
            "--dataset",
            &id,
            "--csv",
            csv.to_str().unwrap(),
        ],
        Some(KEY),
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["success"],
        json!([p])
    );
    let (ok, _, err) = wharf(
        &["provider", "add", "--id", "f01234", "--name", "cli sp"],
        Some(KEY),
    )
    .await;
    assert!(ok, "{err}");
    let (ok, _, err) = wharf(
        &[
            "provider",
            "modify",
            "--id",
            "f01234",
            "--allow-selfserve",
            "on",
        ],
        Some(KEY),
    )
    .await;
    assert!(ok, "{err}");
    let (ok, _, err) = wharf(
        &[
            "rp",
            "add",
            "--spid",
            "f01234",
            "--dataset",
            &id,
            "--unsealed",
        ],
        Some(KEY),
    )
    .await;
    assert!(ok, "{err}");
    // A modification changes only what it names; the dataset may be given by name.
    let (ok, _, err) = wharf(
        &[
            "rp",
            "modify",
            "--spid",
            "f01234",
            "--dataset",
            "cli-set",
            "--indexed",
        ],
        Some(KEY),
    )
    .await;
    assert!(ok, "{err}");
    let (ok, _, err) = wharf(
        &["rp", "modify", "--spid", "f01234", "--dataset", &id],
        Some(KEY),
    )
    .await;
    assert!(ok, "{err}");
    let (ok, out, _) = wharf(&["rp", "list"], Some(KEY)).await;
    assert!(ok);
    let profiles: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            profiles[0]["unsealed"].clone(),
            profiles[0]["indexed"].clone()
        ),
        (json!(true), json!(true)),
        "unsealed kept, indexed set: {profiles}"
    );
    // An import with refused rows says which and why, and fails; CSV is recognised as such.
    let (p2, c2) = piece(9_001);
    std::fs::write(
        &csv,
        format!("commP,payloadCid,size,paddedSize\n{p2},{c2},1000,1024\nnot-a-piece,{c2},1,128\n{p},{c},1000,1024\n"),
    )
    .unwrap();
    let (ok, out, err) = wharf(
        &[
            "content",
            "import",
            "--dataset",
            "cli-set",
            csv.to_str().unwrap(),
        ],
        Some(KEY),
    )
    .await;
    assert!(!ok, "refused rows fail the command: {out}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["success"],
        json!([p2])
    );
    assert!(err.contains("fail not-a-piece: "), "{err}");
    assert!(
        err.contains(&format!("fail {p}: already in a dataset")),
        "{err}"
    );
    assert!(err.contains("2 row(s) refused, 1 imported"), "{err}");
    let (ok, _, err) = wharf(&["content", "list", "--dataset", "no-such-set"], Some(KEY)).await;
    assert!(
        !ok && err.contains("no dataset is named \"no-such-set\""),
        "{err}"
    );
    let (ok, out, _) = wharf(&["dataset", "list"], Some(KEY)).await;
    assert!(ok);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["count_total"], 2);
    assert_eq!(list[0]["replication_profiles"][0]["unsealed"], true);
    let (ok, out, _) = wharf(&["provider", "list"], Some(KEY)).await;
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()[0]["allow_self_service"],
        true
    );
    // Errors come back as errors (exit status 1) with the server's message.
    let (ok, _, err) = wharf(&["dataset", "add", "--name", "Bad Name"], Some(KEY)).await;
    assert!(!ok && err.contains("400"), "{err}");
}

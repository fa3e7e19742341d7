//! Deal-making end to end: wallets, replication selection (profiles, quotas, no double
//! booking, retry after failure), the MakeDeals worker against a Delta double, PollDeals
//! following deal states, filters of GET /replications, and self-service.
use std::time::Duration;

use serde_json::{Value, json};
use wharf_tests::piece_cids as piece;
use wharf_tests::{TestApp, delta::DeltaDouble};

const KEY: &str = "ESTreplication-ARY";

async fn app(delta: &DeltaDouble) -> TestApp {
    app_with(delta, "").await
}

async fn app_with(delta: &DeltaDouble, filecoin: &str) -> TestApp {
    let toml = format!(
        "[filecoin]\ndeal_engine_url = \"{}\"\npoll_schedule = \"* * * * * *\"\n{filecoin}",
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
    app
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(&format!("/api/v1{path}")))
        .bearer_auth(KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    call(app, reqwest::Method::POST, path, Some(body)).await
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    call(app, reqwest::Method::GET, path, None).await
}

/// A dataset with `pieces` pieces (ids from `first`), a wallet, and providers with profiles.
async fn dataset(
    app: &TestApp,
    name: &str,
    quota: u64,
    first: u64,
    pieces: u64,
    providers: &[&str],
) -> i64 {
    let (status, d) = post(
        app,
        "/datasets",
        json!({"name": name, "replication_quota": quota, "deal_duration": 540}),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    let id = d["ID"].as_i64().unwrap();
    let rows: Vec<Value> = (first..first + pieces)
        .map(|i| {
            let (p, c) = piece(i);
            json!({"commp": p, "payload_cid": c, "size": 1000, "padded_size": 1024,
                   "content_location": format!("https://data.example/{i}.car")})
        })
        .collect();
    let (_, outcome) = post(app, &format!("/contents/{id}"), Value::Array(rows)).await;
    assert_eq!(
        outcome["success"].as_array().unwrap().len() as u64,
        pieces,
        "{outcome}"
    );
    let (status, wallet) = post(
        app,
        "/wallets",
        json!({"Type": "secp256k1", "PrivateKey": format!("key-of-{name}")}),
    )
    .await;
    assert_eq!(status, 200, "{wallet}");
    let address = wallet["address"].as_str().unwrap().to_string();
    let (status, body) = post(
        app,
        "/wallets/associate",
        json!({"address": address, "datasets": [id]}),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!("successfully associated wallet with datasets"))
    );
    for provider in providers {
        let (status, _) = post(app, "/providers", json!({"actor_id": provider})).await;
        assert!(status == 200 || status == 409);
        let (status, body) = post(app, "/replication-profiles",
            json!({"provider_actor_id": provider, "dataset_id": id, "unsealed": false, "indexed": true})).await;
        assert_eq!(status, 200, "{body}");
    }
    id
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn replications(app: &TestApp, query: &str) -> (Vec<Value>, u64) {
    let (status, body) = get(app, &format!("/replications?{query}")).await;
    assert_eq!(status, 200, "{body}");
    (
        body["data"].as_array().unwrap().clone(),
        body["totalCount"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn replications_are_selected_made_followed_and_retried() {
    let delta = DeltaDouble::start().await;
    let app = app(&delta).await;
    let id = dataset(&app, "films", 2, 0, 5, &["f01000"]).await;
    let (status, health) = get(&app, "/health").await;
    assert_eq!(status, 200);
    assert_eq!(
        health["delta_info"],
        json!({"commit": "d0ub1e", "version": "v1.0.5"}),
        "the engine asked live"
    );

    assert_eq!(
        post(&app, "/replications", json!({"provider": "f01000"}))
            .await
            .0,
        400,
        "num_deals required"
    );
    assert_eq!(
        post(
            &app,
            "/replications",
            json!({"provider": "f09999", "num_deals": 1})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        post(
            &app,
            "/replications",
            json!({"provider": "f01000", "num_deals": 1, "delay_start_days": 30})
        )
        .await
        .0,
        400
    );

    let (status, made) = post(
        &app,
        "/replications",
        json!({"provider": "f01000", "dataset_id": id, "num_deals": 3}),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let made = made.as_array().unwrap().clone();
    assert_eq!(made.len(), 3);
    // A stable order: the dataset's pieces as imported (one batch: by piece CID).
    let mut all: Vec<String> = (0..5).map(|i| piece(i).0).collect();
    all.sort();
    let chosen: Vec<String> = made
        .iter()
        .map(|r| r["content_commp"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(chosen, all[..3].to_vec());
    assert!(made.iter().all(|r| r["status"] == "ddm-pending"));

    // The worker hands them to the engine with our epochs.
    eventually("three deals at the engine", || async {
        delta.lock().contents.len() == 3
    })
    .await;
    let now_epoch = (chrono::Utc::now().timestamp() - 1_598_306_400) / 30;
    for content in delta.lock().contents.values() {
        let r = &content.request;
        // A 540-day dataset with a 3-day delay: Delta takes 540 days counting the delay.
        assert_eq!(r["duration"], 537 * 2880, "as long as the engine allows");
        assert_eq!(r["duration_in_days"], 540, "within Delta's cap");
        assert!(
            (r["start_epoch"].as_i64().unwrap() - (now_epoch + 3 * 2880)).abs() <= 4,
            "{r}"
        );
        assert_eq!(
            (
                r["start_epoch_in_days"].as_i64(),
                r["duration_in_days"].as_i64()
            ),
            (Some(3), Some(540))
        );
        assert_eq!(r["remove_unsealed_copy"], true, "profile: unsealed false");
        assert_eq!(r["skip_ipni_announce"], false, "profile: indexed true");
        assert_eq!(r["miner"], "f01000");
    }
    eventually("engine ids recorded", || async {
        replications(&app, "")
            .await
            .0
            .iter()
            .all(|r| r["delta_content_id"].as_i64().unwrap() > 0)
    })
    .await;

    // The engine reports: one on chain, one rejected, one still proposing.
    let (rows, _) = replications(&app, "").await;
    let content_of = |i: usize| rows[i]["delta_content_id"].as_i64().unwrap();
    let (active, rejected, sent) = (content_of(0), content_of(1), content_of(2));
    delta.set(active, "StorageDealActive", "sealed", 777);
    delta.set(
        rejected,
        "StorageDealProposalRejected",
        "rejected: price too low",
        0,
    );
    delta.set(sent, "deal-proposal-sent", "sent", 0);
    eventually("deal states followed", || async {
        replications(&app, "statuses=StorageDealActive").await.1 == 1
            && replications(&app, "statuses=StorageDealProposalRejected")
                .await
                .1
                == 1
            && replications(&app, "statuses=deal-proposal-sent").await.1 == 1
    })
    .await;
    let (on_chain, _) = replications(&app, "statuses=StorageDealActive").await;
    assert_eq!(on_chain[0]["on_chain_deal_id"], 777);
    assert!(
        on_chain[0]["proposal_cid"]
            .as_str()
            .unwrap()
            .starts_with("bafyrei")
    );
    let rejected_piece = rows[1]["content_commp"].as_str().unwrap().to_string();

    // Filters.
    assert_eq!(replications(&app, "providers=f01000").await.1, 3);
    assert_eq!(replications(&app, "providers=f09999").await.1, 0);
    assert_eq!(replications(&app, "datasets=films").await.1, 3);
    assert_eq!(replications(&app, "datasets=nope").await.1, 0);
    assert_eq!(replications(&app, "message=price").await.1, 1);
    assert_eq!(replications(&app, "self_service=false").await.1, 3);
    assert_eq!(replications(&app, "self_service=true").await.1, 0);
    assert_eq!(
        replications(&app, &format!("piece_cid={rejected_piece}"))
            .await
            .1,
        1
    );
    let proposal = on_chain[0]["proposal_cid"].as_str().unwrap().to_string();
    assert_eq!(
        replications(&app, &format!("proposal_cid={proposal}&statuses=nothing"))
            .await
            .1,
        1,
        "a proposal CID alone selects"
    );
    let (page, total) = replications(&app, "limit=1&offset=1").await;
    assert_eq!((page.len(), total), (1, 3));
    let future = chrono::Utc::now().timestamp() + 3600;
    assert_eq!(
        replications(&app, &format!("deal_time_start={future}"))
            .await
            .1,
        0
    );
    assert_eq!(get(&app, "/replications?limit=x").await.0, 400);
    let (_, datasets) = get(&app, "/datasets").await;
    assert_eq!(datasets[0]["count_replicated"], 2, "live replicas only");

    // Again: the two untouched pieces and the rejected one (retry after failure), never a
    // piece already live with this provider.
    let (status, again) = post(
        &app,
        "/replications",
        json!({"provider": "f01000", "num_deals": 10}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    let mut again: Vec<String> = again
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["content_commp"].as_str().unwrap().to_string())
        .collect();
    again.sort();
    let mut expected = vec![all[3].clone(), all[4].clone(), rejected_piece];
    expected.sort();
    assert_eq!(again, expected);
    let (status, body) = post(
        &app,
        "/replications",
        json!({"provider": "f01000", "num_deals": 1}),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    // Quota 2: a second provider fills each piece to its quota; a third finds nothing.
    post(&app, "/providers", json!({"actor_id": "f02000"})).await;
    post(
        &app,
        "/replication-profiles",
        json!({"provider_actor_id": "f02000", "dataset_id": id}),
    )
    .await;
    let (_, second) = post(
        &app,
        "/replications",
        json!({"provider": "f02000", "num_deals": 10}),
    )
    .await;
    assert_eq!(second.as_array().unwrap().len(), 5);
    post(&app, "/providers", json!({"actor_id": "f03000"})).await;
    post(
        &app,
        "/replication-profiles",
        json!({"provider_actor_id": "f03000", "dataset_id": id}),
    )
    .await;
    assert_eq!(
        post(
            &app,
            "/replications",
            json!({"provider": "f03000", "num_deals": 10})
        )
        .await
        .0,
        404
    );
    // No profile, nothing either.
    post(&app, "/providers", json!({"actor_id": "f04000"})).await;
    assert_eq!(
        post(
            &app,
            "/replications",
            json!({"provider": "f04000", "num_deals": 1})
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn concurrent_requests_for_one_provider_never_double_book_a_piece() {
    let delta = DeltaDouble::start().await;
    let app = app(&delta).await;
    dataset(&app, "parallel", 3, 100, 20, &["f01000"]).await;
    let first = post(
        &app,
        "/replications",
        json!({"provider": "f01000", "num_deals": 15}),
    );
    let second = post(
        &app,
        "/replications",
        json!({"provider": "f01000", "num_deals": 15}),
    );
    let ((s1, a), (s2, b)) = tokio::join!(first, second);
    let mut pieces: Vec<String> = [a, b]
        .iter()
        .filter_map(|v| v.as_array().cloned())
        .flatten()
        .map(|r| r["content_commp"].as_str().unwrap().to_string())
        .collect();
    assert!(
        s1 == 200 && (s2 == 200 || s2 == 404) || s2 == 200 && s1 == 404,
        "{s1} {s2}"
    );
    let n = pieces.len();
    pieces.sort();
    pieces.dedup();
    assert_eq!(pieces.len(), n, "a piece booked twice for one provider");
    assert_eq!(n, 20, "every piece booked once");
    let (_, total) = replications(&app, "providers=f01000").await;
    assert_eq!(total, 20);
}

#[tokio::test]
async fn a_refused_batch_fails_every_deal_and_frees_the_pieces() {
    let delta = DeltaDouble::start().await;
    let app = app(&delta).await;
    dataset(&app, "refused", 1, 200, 3, &["f01000"]).await;
    delta.lock().refuse_all = Some("invalid deal request".into());
    let (status, _) = post(
        &app,
        "/replications",
        json!({"provider": "f01000", "num_deals": 3}),
    )
    .await;
    assert_eq!(status, 200);
    eventually("the batch to be refused", || async {
        replications(&app, "statuses=deal-proposal-failed").await.1 == 3
    })
    .await;
    let (rows, _) = replications(&app, "").await;
    assert!(rows.iter().all(|r| {
        r["delta_message"]
            .as_str()
            .unwrap()
            .contains("invalid deal request")
    }));
    assert!(rows.iter().all(|r| r["content"]["num_replications"] == 0));
    delta.lock().refuse_all = None;
    let (status, again) = post(
        &app,
        "/replications",
        json!({"provider": "f01000", "num_deals": 3}),
    )
    .await;
    assert_eq!((status, again.as_array().map(Vec::len)), (200, Some(3)));
    eventually("the retry to reach the engine", || async {
        delta.lock().contents.len() == 3
    })
    .await;
}

#[tokio::test]
async fn wallets_are_registered_with_the_engine_and_required_for_deals() {
    let delta = DeltaDouble::start().await;
    let app = app(&delta).await;
    let (status, w) = post(
        &app,
        "/wallets",
        json!({"Type": "secp256k1", "PrivateKey": "a2V5"}),
    )
    .await;
    assert_eq!(status, 200, "{w}");
    let address = w["address"].as_str().unwrap().to_string();
    assert!(delta.lock().wallets.contains(&address));
    assert_eq!(
        post(
            &app,
            "/wallets",
            json!({"Type": "secp256k1", "PrivateKey": "a2V5"})
        )
        .await
        .0,
        400,
        "duplicate in the engine"
    );
    assert_eq!(
        post(
            &app,
            "/wallets",
            json!({"Type": "rsa", "PrivateKey": "a2V5"})
        )
        .await
        .0,
        400
    );
    let (status, hex) = post(&app, "/wallets?hex=true", json!({"hex_key": "7b7d"})).await;
    assert_eq!(status, 200, "{hex}");
    assert_eq!(
        post(&app, "/wallets?hex=true", json!({"hex_key": "not hex"}))
            .await
            .0,
        400
    );

    let (_, d) = post(
        &app,
        "/datasets",
        json!({"name": "walletless", "replication_quota": 1, "deal_duration": 540}),
    )
    .await;
    let id = d["ID"].as_i64().unwrap();
    let (p, c) = piece(300);
    post(
        &app,
        &format!("/contents/{id}"),
        json!([{"commp": p, "payload_cid": c, "size": 10, "padded_size": 128}]),
    )
    .await;
    post(&app, "/providers", json!({"actor_id": "f01000"})).await;
    post(
        &app,
        "/replication-profiles",
        json!({"provider_actor_id": "f01000", "dataset_id": id}),
    )
    .await;
    let (status, body) = post(
        &app,
        "/replications",
        json!({"provider": "f01000", "num_deals": 1}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["details"]
            .as_str()
            .unwrap()
            .contains("does not have a wallet"),
        "{body}"
    );
    assert_eq!(replications(&app, "").await.1, 0, "nothing reserved");

    assert_eq!(
        post(
            &app,
            "/wallets/associate",
            json!({"address": address, "datasets": [999]})
        )
        .await
        .0,
        404
    );
    post(
        &app,
        "/wallets/associate",
        json!({"address": address, "datasets": [id]}),
    )
    .await;
    let (_, list) = get(&app, &format!("/wallets?dataset={id}")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["address"], address.as_str());
    let (status, body) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/wallets/{address}"),
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!("wallet successfully deleted")));
    assert_eq!(
        call(
            &app,
            reqwest::Method::DELETE,
            &format!("/wallets/{address}"),
            None
        )
        .await
        .0,
        404
    );
    let (_, list) = get(&app, &format!("/wallets?dataset={id}")).await;
    assert_eq!(list, json!([]), "links removed with the wallet");
}

#[tokio::test]
async fn providers_serve_themselves_with_their_key() {
    let delta = DeltaDouble::start().await;
    let app = app(&delta).await;
    dataset(&app, "selfserve", 2, 400, 4, &[]).await;
    let (_, provider) = post(
        &app,
        "/providers",
        json!({"actor_id": "f05000", "allow_self_service": "off"}),
    )
    .await;
    let key = provider["key"].as_str().unwrap().to_string();
    let (_, d) = get(&app, "/datasets").await;
    let id = d[0]["ID"].as_i64().unwrap();
    post(
        &app,
        "/replication-profiles",
        json!({"provider_actor_id": "f05000", "dataset_id": id}),
    )
    .await;
    let ss = |path: String, key: Option<String>| {
        let mut request = app
            .client
            .get(app.url(&format!("/api/v1/self-service{path}")));
        if let Some(k) = key {
            request = request.header("X-DELTA-AUTH", k);
        }
        async move {
            let r = request.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    assert_eq!(
        ss("/available-contents".into(), None).await,
        (401, json!("missing provider self-service token"))
    );
    assert_eq!(
        ss("/available-contents".into(), Some("wrong".into())).await,
        (401, json!("invalid provider self-service token"))
    );
    assert_eq!(
        ss("/available-contents".into(), Some(key.clone())).await,
        (
            401,
            json!(
                "provider is not allowed to self-serve, please contact administrator to enable it"
            )
        ),
        "self-service is off until enabled: 401, as upstream"
    );
    call(
        &app,
        reqwest::Method::PUT,
        "/providers/f05000",
        Some(json!({"allow_self_service": "on"})),
    )
    .await;

    let (status, listed) = ss("/available-contents?limit=2".into(), Some(key.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        listed[0]["content_location"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    assert_eq!(
        ss("/available-contents?limit=0".into(), Some(key.clone()))
            .await
            .0,
        400
    );
    assert_eq!(
        ss("/available-contents?limit=2001".into(), Some(key.clone()))
            .await
            .0,
        400
    );

    let (p, c) = piece(401);
    let (status, deal) = ss(format!("/by-cid/{p}"), Some(key.clone())).await;
    assert_eq!(status, 200, "{deal}");
    assert_eq!(deal["cid"], c.as_str());
    assert_eq!(deal["content_location"], "https://data.example/401.car");
    assert_eq!(
        ss(format!("/by-cid/{p}"), Some(key.clone())).await.0,
        404,
        "already live with this provider"
    );
    let (status, deal) = ss(
        "/by-dataset/selfserve?start_epoch_delay=5".into(),
        Some(key.clone()),
    )
    .await;
    assert_eq!(status, 200, "{deal}");
    assert_eq!(
        ss("/by-dataset/nope".into(), Some(key.clone())).await.0,
        404
    );
    let (rows, total) = replications(&app, "self_service=true").await;
    assert_eq!(total, 2);

    // Telemetry on its own deal once the engine named it.
    let content_id = rows[0]["delta_content_id"].as_i64().unwrap_or(0);
    eventually("an engine id", || async {
        replications(&app, "self_service=true")
            .await
            .0
            .iter()
            .all(|r| r["delta_content_id"].as_i64().unwrap() > 0)
    })
    .await;
    let (rows, _) = replications(&app, "self_service=true").await;
    let content_id = if content_id > 0 {
        content_id
    } else {
        rows[0]["delta_content_id"].as_i64().unwrap()
    };
    delta.set(content_id, "deal-proposal-sent", "", 0);
    eventually("a deal uuid", || async {
        replications(&app, "self_service=true")
            .await
            .0
            .iter()
            .any(|r| !r["deal_uuid"].as_str().unwrap().starts_with("PENDING_"))
    })
    .await;
    let (rows, _) = replications(&app, "self_service=true").await;
    let uuid = rows
        .iter()
        .find(|r| !r["deal_uuid"].as_str().unwrap().starts_with("PENDING_"))
        .unwrap()["deal_uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let put = |body: Value, key: String| {
        let request = app
            .client
            .put(app.url("/api/v1/self-service/telemetry/bafy"))
            .header("X-DELTA-AUTH", key)
            .json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        put(
            json!({"deal_uuid": uuid, "state": "sealing", "message": "ok"}),
            key.clone()
        )
        .await,
        200
    );
    assert_eq!(
        put(
            json!({"deal_uuid": "nope", "state": "sealing"}),
            key.clone()
        )
        .await,
        404
    );
    let (rows, _) = replications(&app, "self_service=true").await;
    let reported = rows
        .iter()
        .find(|r| r["deal_uuid"] == uuid.as_str())
        .unwrap();
    assert_eq!(reported["self_service"]["status"], "sealing");
}

#[tokio::test]
async fn the_same_model_in_graphql_with_live_replication_updates() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use wharf_tests::ws;

    let delta = DeltaDouble::start().await;
    let app = app(&delta).await;
    let gql = |query: &'static str, variables: Value| app.graphql(query, variables, Some(KEY));
    // Not for wallets or anonymous callers.
    let (_, anonymous) = app.graphql("{ datasets { id } }", json!({}), None).await;
    assert!(wharf_tests::error_code(&anonymous).is_some(), "{anonymous}");

    let (_, created) = gql(
        "mutation { createDataset(name: \"graph\", replicationQuota: 2, dealDuration: 540) }",
        json!({}),
    )
    .await;
    let id = created["data"]["createDataset"].as_i64().unwrap();
    let (_, bad) = gql(
        "mutation { createDataset(name: \"Bad Name\", replicationQuota: 2, dealDuration: 540) }",
        json!({}),
    )
    .await;
    assert_eq!(wharf_tests::error_code(&bad), Some("BAD_USER_INPUT"));
    let rows: Vec<Value> = (500..503u64)
        .map(|i| {
            let (p, c) = piece(i);
            json!({"commP": p, "payloadCid": c, "size": 100, "paddedSize": 128})
        })
        .chain([json!({"commP": "nope", "payloadCid": "nope", "size": 1, "paddedSize": 128})])
        .collect();
    let (_, imported) = gql(
        "mutation($d: Int!, $c: [ContentInput!]!) { importContents(datasetId: $d, contents: $c) { success fail } }",
        json!({"d": id, "c": rows}),
    )
    .await;
    assert_eq!(
        imported["data"]["importContents"]["success"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "{imported}"
    );
    assert_eq!(imported["data"]["importContents"]["fail"], json!(["nope"]));
    let (_, provider) = gql(
        "mutation { createProvider(actorId: \"f07000\") { actorId key } }",
        json!({}),
    )
    .await;
    assert_eq!(
        provider["data"]["createProvider"]["key"]
            .as_str()
            .unwrap()
            .len(),
        36
    );
    gql(
        "mutation($d: Int!) { createReplicationProfile(providerActorId: \"f07000\", datasetId: $d, unsealed: true, indexed: true) { datasetId } }",
        json!({"d": id}),
    )
    .await;
    let (_, wallet) = gql(
        "mutation { addWallet(keyType: \"bls\", privateKey: \"Z3JhcGg=\") }",
        json!({}),
    )
    .await;
    let address = wallet["data"]["addWallet"].as_str().unwrap().to_string();
    let (_, associated) = gql(
        "mutation($a: String!, $d: Int!) { associateWallet(address: $a, datasetIds: [$d]) }",
        json!({"a": address, "d": id}),
    )
    .await;
    assert_eq!(associated["data"]["associateWallet"], true);

    // Subscribe before the deals are made.
    let mut socket = ws::connect(&app).await;
    socket
        .send(Message::text(json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {KEY}")}}).to_string()))
        .await
        .unwrap();
    assert_eq!(
        ws::next_json(&mut socket).await.unwrap()["type"],
        "connection_ack"
    );
    socket
        .send(Message::text(json!({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription($d: Int!) { replicationUpdates(datasetId: $d) { id status contentCommP deltaContentId } }",
            "variables": {"d": id}}}).to_string()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (_, made) = gql(
        "mutation($d: Int!) { createReplications(provider: \"f07000\", datasetId: $d, numDeals: 2) { id status startEpoch endEpoch } }",
        json!({"d": id}),
    )
    .await;
    let made = made["data"]["createReplications"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(made.len(), 2);
    assert_eq!(
        made[0]["endEpoch"].as_i64().unwrap() - made[0]["startEpoch"].as_i64().unwrap(),
        537 * 2880,
        "540 days less the 3-day delay Delta counts in its cap"
    );
    // Updates arrive as the worker hands the deals over and the engine answers.
    let mut seen_engine_id = false;
    for _ in 0..20 {
        let message = ws::next_json(&mut socket).await.unwrap();
        assert_eq!(message["type"], "next", "{message}");
        let update = &message["payload"]["data"]["replicationUpdates"];
        if update["deltaContentId"].as_i64().is_some_and(|c| c > 0) {
            seen_engine_id = true;
            break;
        }
    }
    assert!(seen_engine_id, "no update carried the engine's id");

    let (_, page) = gql(
        "query($d: Int!) { dataset(id: $d) { countTotal contents(first: 2) { totalCount edges { cursor node { commP } } pageInfo { hasNextPage } } replications { totalCount } } }",
        json!({"d": id}),
    )
    .await;
    let dataset = &page["data"]["dataset"];
    assert_eq!(dataset["countTotal"], 3, "{page}");
    assert_eq!(dataset["contents"]["totalCount"], 3);
    assert_eq!(dataset["contents"]["edges"].as_array().unwrap().len(), 2);
    assert_eq!(dataset["contents"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(dataset["replications"]["totalCount"], 2);
    let cursor = dataset["contents"]["edges"][1]["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, rest) = gql(
        "query($d: Int!, $a: String!) { dataset(id: $d) { contents(first: 10, after: $a) { edges { node { commP } } pageInfo { hasNextPage } } } }",
        json!({"d": id, "a": cursor}),
    )
    .await;
    assert_eq!(
        rest["data"]["dataset"]["contents"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, filtered) = gql(
        "{ replications(filter: {providers: [\"f07000\"], selfService: false}, first: 1) { totalCount edges { node { providerActorId } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        filtered["data"]["replications"]["totalCount"], 2,
        "{filtered}"
    );
    assert_eq!(
        filtered["data"]["replications"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, providers) = gql(
        "{ providers { actorId countReplicated replicationProfiles { datasetId } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        providers["data"]["providers"][0]["replicationProfiles"][0]["datasetId"],
        id
    );
}

#[tokio::test]
async fn stuck_deals_time_out_and_their_pieces_become_eligible_again() {
    let delta = DeltaDouble::start().await;
    let app = app_with(&delta, "stuck_after_secs = 5\n").await;
    dataset(&app, "stuck", 1, 600, 2, &["f01000"]).await;
    let (status, _) = post(
        &app,
        "/replications",
        json!({"provider": "f01000", "num_deals": 2}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        post(
            &app,
            "/replications",
            json!({"provider": "f01000", "num_deals": 2})
        )
        .await
        .0,
        404,
        "quota reached"
    );
    // Whether or not the engine got them by then (it never reports on them), no deal is on
    // chain after the configured time.
    eventually("the deals to time out", || async {
        replications(&app, "statuses=ddm-timed-out").await.1 == 2
    })
    .await;
    let (status, again) = post(
        &app,
        "/replications",
        json!({"provider": "f01000", "num_deals": 2}),
    )
    .await;
    assert_eq!(
        (status, again.as_array().map(Vec::len)),
        (200, Some(2)),
        "eligible again"
    );
}

#[tokio::test]
async fn a_submission_interrupted_by_a_crash_is_failed_not_sent_twice() {
    let delta = DeltaDouble::start().await;
    let app = app(&delta).await;
    dataset(&app, "crash", 1, 700, 1, &["f01000"]).await;
    let services = &app.services;
    let config = &services.config.filecoin;
    // Reserve without queueing, then leave the row as a worker that died after handing it to
    // the engine would: "submitting", with no engine id.
    let reserved = wharf_core::filecoin::replications::reserve(
        &services.db,
        &config.deal_bounds(),
        config.genesis_unix,
        &wharf_core::filecoin::replications::ReplicationRequest {
            provider: "f01000".into(),
            dataset_id: None,
            piece_cid: None,
            num_deals: 1,
            delay_days: 3,
            end_advance_days: 0,
            self_service: false,
            located_only: false,
        },
    )
    .await
    .unwrap();
    let id = reserved[0].0.id;
    use sea_orm::ConnectionTrait;
    services
        .db
        .execute_unprepared(&format!(
            "UPDATE replications SET status = 'ddm-submitting' WHERE id = {id}"
        ))
        .await
        .unwrap();
    services.queue.push_deals(vec![id]).await.unwrap();
    eventually("the interrupted deal to be failed", || async {
        replications(&app, "statuses=ddm-timed-out").await.1 == 1
    })
    .await;
    assert!(delta.lock().batches.is_empty(), "nothing sent again");
    let (status, _) = post(
        &app,
        "/replications",
        json!({"provider": "f01000", "num_deals": 1}),
    )
    .await;
    assert_eq!(status, 200, "the piece may be replicated again");
}

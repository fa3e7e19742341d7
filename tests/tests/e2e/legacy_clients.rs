//! Legacy clients unmodified: uploader.js (@oceanprotocol/uploader 0.0.3) driven through whole
//! uploads against wharf, and the points where the legacy clients broke (trailing slashes,
//! deal durations, health, providers, self-service, free storages, history, CORS, methods).
use serde_json::{Value, json};
use wharf_tests::{
    ADMIN_KEY, TestApp,
    chain::{self, Chain},
    delta::{self, DeltaDouble},
    microservice::StorageDouble,
    wallet::Wallet,
};

use crate::uploads::{nonce, signed_query};

/// Runs tests/js/uploader-flow.mjs: what uploader.js returned at each step.
async fn uploader_js(
    app: &TestApp,
    chain: &Chain,
    user: usize,
    uploader_address: &str,
    storage: &str,
    files: &[&std::path::Path],
) -> Value {
    wharf_tests::ensure_npm_packages();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js/uploader-flow.mjs");
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script)
        .arg(&app.base)
        .arg(&chain.url)
        .arg(chain::KEYS[user])
        .arg(uploader_address)
        .arg(storage)
        .arg("1337")
        .arg(chain.token.to_checksum(None));
    for file in files {
        command.arg(file);
    }
    let output = command.output().await.expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|_| {
        panic!(
            "uploader.js printed {stdout:?} / {:?}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn config(chain: &Chain, signer: &Wallet) -> String {
    format!(
        r#"
[[chains]]
chain_id = 1337
rpc_url = "{url}"
tokens = [{{ symbol = "OCEAN", address = "{token}", decimals = 18 }}]

[[storages]]
type = "ipfs"
description = "Free content-addressed storage"

[[storages]]
type = "wharf"
description = "Paid content-addressed storage"
price_per_gib_month = {{ "1337:OCEAN" = "0.5" }}

[dbs]
registration_signer = "{signer}"
"#,
        url = chain.url,
        token = chain.token,
        signer = signer.address_hex()
    )
}

#[tokio::test]
async fn uploader_js_uploads_to_free_priced_and_microservice_storages() {
    let chain = Chain::start().await;
    let registrar = Wallet::new();
    let mut app = TestApp::spawn_with_toml(
        Some(&config(&chain, &registrar)),
        &[("WHARF_TREASURY_KEY_1337", chain::KEYS[chain::TREASURY])],
    )
    .await;
    app.spawn_workers();
    let double = StorageDouble::start("arweave", chain.token).await;
    double.lock().gateway = format!("{}/ipfs/", app.base);
    let (status, _) = double.register(&app.base, &registrar).await;
    assert_eq!(status, 201);

    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("hello.txt");
    let second = dir.path().join("data.bin");
    std::fs::write(&first, b"hello from uploader.js").unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&second, &data).unwrap();
    let treasury = chain::signer(chain::TREASURY).address();

    // The free built-in storage: no approval, nothing paid.
    let free = uploader_js(
        &app,
        &chain,
        5,
        &treasury.to_checksum(None),
        "ipfs",
        &[&first],
    )
    .await;
    assert!(free["error"].is_null(), "{free}");
    let ipfs = free["storages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "ipfs")
        .unwrap();
    assert!(
        ipfs["payment"][0]["chainId"].is_string(),
        "a free storage lists the chains it takes: {ipfs}"
    );
    assert_eq!(free["quote"]["tokenAmount"], "0", "{free}");
    assert_eq!(
        free["upload"],
        json!({"status": 200, "data": "File upload succeeded."})
    );
    assert_eq!(free["status"]["status"], 400, "{free}");
    let cid = free["link"][0]["cid"].as_str().unwrap().to_string();
    let served = app
        .client
        .get(app.url(&format!("/ipfs/{cid}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&served[..], b"hello from uploader.js");
    assert_eq!(free["history"]["data"][0]["cid"], cid.as_str(), "{free}");

    // A priced built-in storage: uploader.js approves the address given to its constructor,
    // which must be the treasury (README: "With uploader.js").
    let user = chain::signer(6).address();
    let paid = uploader_js(
        &app,
        &chain,
        6,
        &treasury.to_checksum(None),
        "wharf",
        &[&first, &second],
    )
    .await;
    assert!(paid["error"].is_null(), "{paid}");
    assert_eq!(paid["upload"]["data"], "File upload succeeded.", "{paid}");
    assert_eq!(paid["status"]["status"], 400, "{paid}");
    let amount =
        alloy_primitives::U256::from_str_radix(paid["quote"]["tokenAmount"].as_str().unwrap(), 10)
            .unwrap();
    assert!(amount > alloy_primitives::U256::ZERO);
    assert_eq!(chain.transfers(user, treasury).await, vec![amount]);
    let links = paid["link"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    let second_cid = links[1]["cid"].as_str().unwrap();
    let served = app
        .client
        .get(app.url(&format!("/ipfs/{second_cid}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(served[..] == data[..]);
    let history = paid["history"]["data"].as_array().unwrap();
    assert_eq!(history.len(), 2, "a row per file: {history:?}");

    // A storage microservice (the arweave service's protocol): uploader.js approves the
    // service's address, the service takes over from there.
    let remote = uploader_js(
        &app,
        &chain,
        7,
        &double.approve_address.to_checksum(None),
        "arweave",
        &[&second],
    )
    .await;
    assert!(remote["error"].is_null(), "{remote}");
    assert_eq!(
        remote["upload"]["data"], "File upload succeeded.",
        "{remote}"
    );
    assert_eq!(remote["status"]["status"], 400, "{remote}");
    let hash = remote["link"][0]["transactionHash"].as_str().unwrap();
    assert_eq!(hash.len(), 43, "{remote}");
    assert_eq!(
        remote["history"]["data"][0]["transactionHash"], hash,
        "{remote}"
    );
}

async fn get(app: &TestApp, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(ADMIN_KEY)
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn delta_dm_clients_get_what_upstream_gave_them() {
    // Health answers 200 before anything else works, even with no engine.
    let alone = TestApp::spawn().await;
    let (status, health) = get(&alone, "/api/v1/health", Some(ADMIN_KEY)).await;
    assert_eq!(status, 200, "{health}");
    assert!(health["delta_error"].is_string(), "{health}");
    // Trailing slashes, as the CLI sends them.
    for path in [
        "/api/v1/providers/",
        "/api/v1/replication-profiles/",
        "/api/v1/datasets/",
    ] {
        let (status, body) = get(&alone, path, Some(ADMIN_KEY)).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    let delta = DeltaDouble::start().await;
    let toml = format!("[filecoin]\ndeal_engine_url = \"{}\"\n", delta.url);
    let mut app =
        TestApp::spawn_with_toml(Some(&toml), &[("WHARF_DEAL_ENGINE_TOKEN", delta::TOKEN)]).await;
    app.spawn_workers();
    let (status, health) = get(&app, "/api/v1/health/", Some(ADMIN_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(health["uuid"], delta::INSTANCE_UUID, "{health}");
    assert_eq!(health["delta_info"]["version"], "v1.0.5");

    // Datasets: delta-dm's bounds, 180 to 540 days.
    for (days, want) in [(540, 200), (541, 400), (1278, 400), (179, 400)] {
        let (status, body) = send(
            &app,
            reqwest::Method::POST,
            "/api/v1/datasets",
            json!({"name": format!("d{days}"), "replication_quota": 2, "deal_duration": days}),
            &[],
        )
        .await;
        assert_eq!(status, want, "{days} days: {body}");
    }

    // Providers: on for self-service unless told; a modify without a name keeps the name.
    let (status, provider) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/providers",
        json!({"actor_id": "f01000", "actor_name": "sp one"}),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{provider}");
    assert_eq!(provider["allow_self_service"], true);
    let key = provider["key"].as_str().unwrap().to_string();
    let (status, modified) = send(
        &app,
        reqwest::Method::PUT,
        "/api/v1/providers/f01000",
        json!({"actor_name": "", "allow_self_service": "on"}),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{modified}");
    assert_eq!(
        modified["actor_name"], "sp one",
        "an empty name changes nothing"
    );

    // Nothing to offer yet: null, as upstream's nil slice.
    let (status, available) =
        get_with_key(&app, "/api/v1/self-service/available-contents", &key).await;
    assert_eq!((status, available), (200, Value::Null));

    // A 540-day dataset (the CLI's default) with content, a wallet and a profile: the deal
    // reaches the engine within Delta's 540-day cap.
    let (_, datasets) = get(&app, "/api/v1/datasets", Some(ADMIN_KEY)).await;
    let id = datasets[0]["ID"].as_i64().unwrap();
    let (status, wallet) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/wallets?hex=true",
        json!({"hex_key": "7b2254797065223a22736563703235366b31227d"}),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{wallet}");
    let (status, _) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/wallets/associate",
        json!({"address": wallet["address"], "datasets": [id]}),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let pieces: Vec<(String, String)> = (0..2).map(|i| wharf_tests::piece_cids(9000 + i)).collect();
    let rows: Vec<Value> = pieces
        .iter()
        .map(|(piece, payload)| json!({"commp": piece, "payload_cid": payload, "size": 1000, "padded_size": 2048, "content_location": "https://example.invalid/x.car"}))
        .collect();
    let (status, imported) = send(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/contents/{id}"),
        Value::Array(rows),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{imported}");
    let (status, _) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/replication-profiles",
        json!({"provider_actor_id": "f01000", "dataset_id": id, "unsealed": false, "indexed": true}),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let (status, made) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/replications",
        json!({"provider": "f01000", "dataset_id": id, "num_deals": 1, "delay_start_days": 3}),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let taken = made[0]["content_commp"].as_str().unwrap().to_string();
    let other = pieces
        .iter()
        .map(|(p, _)| p.clone())
        .find(|p| *p != taken)
        .unwrap();

    // Self-service ending 10 days early: the deal is 10 days shorter.
    let (status, deal) = get_with_key(
        &app,
        &format!("/api/v1/self-service/by-cid/{other}?start_epoch_delay=3&end_epoch_advance=10"),
        &key,
    )
    .await;
    assert_eq!(status, 200, "{deal}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let requests: Vec<Value> = delta
            .lock()
            .contents
            .values()
            .map(|c| c.request.clone())
            .collect();
        if requests.len() == 2 {
            let by_piece = |p: &str| {
                requests
                    .iter()
                    .find(|r| r["piece_commitment"]["piece_cid"] == p)
                    .cloned()
                    .unwrap()
            };
            let operator = by_piece(&taken);
            assert_eq!(operator["duration_in_days"], 540);
            assert_eq!(operator["duration"], 537 * 2880);
            let selfserve = by_piece(&other);
            assert_eq!(selfserve["duration_in_days"], 533, "{selfserve}");
            assert_eq!(selfserve["duration"], 530 * 2880, "{selfserve}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deals not at the engine: {requests:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn get_with_key(app: &TestApp, path: &str, key: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(path))
        .header("X-DELTA-AUTH", key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn dbs_answers_methods_unknown_quotes_cors_and_history_as_upstream() {
    let toml = "[[storages]]\ntype = \"ipfs\"\n";
    let mut app = TestApp::spawn_with_toml(Some(toml), &[]).await;
    app.spawn_workers();

    // CORS: any origin by default, as upstream DBS and delta-dm.
    let response = app
        .client
        .get(app.url("/"))
        .header("Origin", "https://ui.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );
    // A free storage lists payment options a UI can check its network against.
    let storages: Value = response.json().await.unwrap();
    assert_eq!(storages[0]["payment"][0]["chainId"], "1", "{storages}");

    // A wrong method: Django REST framework's body.
    let response = app.client.get(app.url("/getQuote")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Method \"GET\" not allowed."})
    );
    let response = app.client.delete(app.url("/upload")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Method \"DELETE\" not allowed."})
    );
    // An unknown quote is 404 before the other parameters are looked at.
    for path in ["/getLink?quoteId=feedbeef", "/upload?quoteId=feedbeef"] {
        let response = app.client.post(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!("Quote does not exist.")
        );
    }

    // A free quote takes whatever chain the wallet is on.
    let alice = Wallet::new();
    let body = json!({"type": "ipfs", "files": [{"length": 3}, {"length": 4}], "duration": 60,
        "payment": {"chainId": "11155111", "tokenAddress": "0x1B4c0e3C7A9A6E6A4E7C8A0b8F9D3a2E1c0B9A8D"},
        "userAddress": alice.address().to_checksum(None)});
    let quote: Value = app
        .client
        .post(app.url("/getQuote"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(quote["tokenAmount"], "0", "{quote}");
    let id = quote["quoteId"].as_str().unwrap().to_string();
    let waiting = app
        .client
        .post(app.url("/getQuote"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(waiting.status(), 201, "a second quote that stays waiting");
    let (status, _) = crate::uploads::upload(
        &app,
        &signed_query(&id, &alice, nonce()),
        &[("a", b"abc"), ("b", b"defg")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(crate::uploads::settled(&app, &id).await, 400);

    // History: a row per file with its CID; quotes still waiting are not listed.
    let history = |page_size: u64| {
        let n = nonce() + page_size;
        let signature = alice
            .personal_sign(wharf_core::uploads::upload::signed_text("", &n.to_string()).as_bytes());
        app.client
            .get(app.url(&format!(
                "/getHistory?userAddress={}&nonce={n}&signature={signature}&storage=ipfs&page=1&pageSize={page_size}",
                alice.address().to_checksum(None)
            )))
            .send()
    };
    let listed: Value = history(1000).await.unwrap().json().await.unwrap();
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{listed}");
    assert!(data.iter().all(|row| row["quoteId"] == id.as_str()));
    let expected = wharf_content::unixfs::file_cid(wharf_content::Profile::KUBO, b"abc");
    assert_eq!(data[0]["cid"], expected.to_string().as_str());
    let refused = history(1001).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!("pageSize must be at most 1000.")
    );
}

/// A request of the delta-dm command line as its source sends it (method, path with its
/// trailing slash, exact body; every request also carries `Authorization: Bearer <key>` and
/// `Content-Type: application/json`), and the `wharf ddm` arguments that send the same.
struct CliRequest {
    method: &'static str,
    path: &'static str,
    body: &'static str,
    ddm: &'static [&'static str],
}

const WALLET_HEX: &str = "7b2254797065223a22736563703235366b31227d";
const CSV: &str = "commP,payloadCid,size,paddedSize\n";

/// Captured from upstream's CLI (application-research/delta-dm `cmd/*.go` at 08c3691), in an
/// order a first-time operator would use: `{wallet}` is the address wallet import returned,
/// `{csv}` a CSV of two pieces. (`content` commands upstream wrote the dataset id as one
/// character; the path below is what they send for the dataset whose id reads "1".)
const CLI_REQUESTS: &[CliRequest] = &[
    CliRequest {
        method: "POST",
        path: "/api/v1/datasets",
        body: r#"{"ID":0,"CreatedAt":"0001-01-01T00:00:00Z","UpdatedAt":"0001-01-01T00:00:00Z","DeletedAt":null,"name":"test-dataset","replication_quota":6,"deal_duration":540,"contents":null,"bytes_replicated":{"raw":0,"padded":0},"bytes_total":{"raw":0,"padded":0},"count_replicated":0,"count_total":0,"replication_profiles":null}"#,
        ddm: &["dataset", "add", "--name", "test-dataset"],
    },
    CliRequest {
        method: "GET",
        path: "/api/v1/datasets",
        body: "",
        ddm: &["dataset", "list"],
    },
    CliRequest {
        method: "POST",
        path: "/api/v1/providers",
        body: r#"{"key":"00000000-0000-0000-0000-000000000000","actor_id":"f01000","actor_name":"sp one","bytes_replicated":{"raw":0,"padded":0},"replication_profiles":null}"#,
        ddm: &["provider", "add", "--id", "f01000", "--name", "sp one"],
    },
    CliRequest {
        method: "PUT",
        path: "/api/v1/providers/f01000",
        body: r#"{"actor_name":"","allow_self_service":""}"#,
        ddm: &["provider", "modify", "--id", "f01000"],
    },
    CliRequest {
        method: "PUT",
        path: "/api/v1/providers/f01000",
        body: r#"{"actor_name":"","allow_self_service":"on"}"#,
        ddm: &[
            "provider",
            "modify",
            "--id",
            "f01000",
            "--allow-selfserve",
            "on",
        ],
    },
    CliRequest {
        method: "GET",
        path: "/api/v1/providers/",
        body: "",
        ddm: &["provider", "list"],
    },
    CliRequest {
        method: "POST",
        path: "/api/v1/replication-profiles/",
        body: r#"{"provider_actor_id":"f01000","dataset_id":1,"unsealed":false,"indexed":false}"#,
        ddm: &["rp", "add", "--spid", "f01000", "--dataset", "1"],
    },
    CliRequest {
        method: "PUT",
        path: "/api/v1/replication-profiles/",
        body: r#"{"provider_actor_id":"f01000","dataset_id":1,"unsealed":false,"indexed":true}"#,
        ddm: &[
            "rp",
            "modify",
            "--spid",
            "f01000",
            "--dataset",
            "1",
            "--indexed",
            // Upstream sends `false` for a flag not given; wharf's modify leaves it as it is
            // (asking the server first), so both are named here to compare one request.
            "--unsealed=false",
        ],
    },
    CliRequest {
        method: "GET",
        path: "/api/v1/replication-profiles/",
        body: "",
        ddm: &["rp", "list"],
    },
    CliRequest {
        method: "POST",
        path: "/api/v1/wallets?hex=true",
        body: r#"{"hex_key":"7b2254797065223a22736563703235366b31227d"}"#,
        ddm: &["wallet", "import", "--hex", WALLET_HEX],
    },
    CliRequest {
        method: "POST",
        path: "/api/v1/wallets/associate",
        body: r#"{"address":"{wallet}","datasets":[1]}"#,
        ddm: &[
            "wallet",
            "associate",
            "--address",
            "{wallet}",
            "--datasets",
            "1",
        ],
    },
    CliRequest {
        method: "GET",
        path: "/api/v1/wallets",
        body: "",
        ddm: &["wallet", "list"],
    },
    CliRequest {
        method: "GET",
        path: "/api/v1/wallets?dataset=1",
        body: "",
        ddm: &["wallet", "list", "--dataset", "1"],
    },
    CliRequest {
        method: "POST",
        path: "/api/v1/contents/1?import_type=csv",
        body: "{csv}",
        ddm: &["content", "import", "--dataset", "1", "--csv", "{csv_file}"],
    },
    CliRequest {
        method: "GET",
        path: "/api/v1/contents/1",
        body: "",
        ddm: &["content", "list", "--dataset", "1"],
    },
    CliRequest {
        method: "POST",
        path: "/api/v1/replications",
        body: r#"{"provider":"f01000","dataset_id":1,"num_deals":1,"delay_start_days":3}"#,
        ddm: &[
            "replication",
            "create",
            "--num",
            "1",
            "--provider",
            "f01000",
            "--dataset",
            "1",
            "--delay-start",
            "3",
        ],
    },
    CliRequest {
        method: "DELETE",
        path: "/api/v1/replication-profiles/",
        body: r#"{"provider_actor_id":"f01000","dataset_id":1,"unsealed":false,"indexed":false}"#,
        ddm: &["rp", "delete", "--spid", "f01000", "--dataset", "1"],
    },
    CliRequest {
        method: "DELETE",
        path: "/api/v1/wallets/{wallet}",
        body: "",
        ddm: &["wallet", "delete", "{wallet}"],
    },
];

/// Two pieces as a CSV import.
fn csv_of_pieces() -> String {
    let mut csv = CSV.to_string();
    for i in 0..2 {
        let (piece, payload) = wharf_tests::piece_cids(7000 + i);
        csv.push_str(&format!("{piece},{payload},1000,2048\n"));
    }
    csv
}

#[tokio::test]
async fn the_delta_dm_cli_requests_work_as_sent() {
    let delta = DeltaDouble::start().await;
    let toml = format!("[filecoin]\ndeal_engine_url = \"{}\"\n", delta.url);
    let mut app =
        TestApp::spawn_with_toml(Some(&toml), &[("WHARF_DEAL_ENGINE_TOKEN", delta::TOKEN)]).await;
    app.spawn_workers();
    let csv = csv_of_pieces();
    let mut wallet = String::new();
    // The health check that precedes each command: only the key, no content type.
    let health = app
        .client
        .get(app.url("/api/v1/health"))
        .header("Authorization", format!("Bearer {ADMIN_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    for request in CLI_REQUESTS {
        let path = request.path.replace("{wallet}", &wallet);
        let body = request
            .body
            .replace("{wallet}", &wallet)
            .replace("{csv}", &csv);
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
        let mut sent = app
            .client
            .request(method, app.url(&path))
            .header("Authorization", format!("Bearer {ADMIN_KEY}"))
            .header("Content-Type", "application/json");
        if !body.is_empty() {
            sent = sent.body(body);
        }
        let response = sent.send().await.unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{} {path}: {answer}", request.method);
        match (request.method, path.as_str()) {
            ("POST", "/api/v1/wallets?hex=true") => {
                wallet = answer["address"].as_str().unwrap().to_string();
            }
            ("PUT", "/api/v1/providers/f01000") => {
                assert_eq!(answer["actor_name"], "sp one", "{answer}");
            }
            ("POST", "/api/v1/contents/1?import_type=csv") => {
                assert_eq!(answer["success"].as_array().unwrap().len(), 2, "{answer}");
            }
            ("GET", "/api/v1/replication-profiles/") => {
                assert_eq!(answer[0]["indexed"], true, "{answer}");
            }
            ("POST", "/api/v1/replications") => {
                assert_eq!(answer.as_array().unwrap().len(), 1, "{answer}");
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn wharf_ddm_sends_the_requests_the_delta_dm_cli_sends() {
    use std::sync::{Arc, Mutex};
    // A server that records what it is sent and answers 200.
    type Seen = Arc<Mutex<Vec<(String, String, Option<String>, Vec<u8>)>>>;
    let seen: Seen = Arc::default();
    let record = {
        let seen = seen.clone();
        move |request: axum::extract::Request| {
            let seen = seen.clone();
            async move {
                let method = request.method().to_string();
                let path = request
                    .uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                let content_type = request
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = axum::body::to_bytes(request.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default()
                    .to_vec();
                seen.lock()
                    .unwrap()
                    .push((method, path, content_type, body));
                axum::Json(json!({}))
            }
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().fallback(record)).await });
    let dir = tempfile::tempdir().unwrap();
    let csv_file = dir.path().join("contents.csv");
    let csv = csv_of_pieces();
    std::fs::write(&csv_file, &csv).unwrap();
    let wallet = "f1mmb3lx7lnzkwsvhridvpugnuzo4mq2xjmawvnfi";
    for request in CLI_REQUESTS {
        seen.lock().unwrap().clear();
        let args: Vec<String> = request
            .ddm
            .iter()
            .map(|a| {
                a.replace("{wallet}", wallet)
                    .replace("{csv_file}", &csv_file.display().to_string())
            })
            .collect();
        let output = tokio::process::Command::new(wharf_tests::wharf_bin())
            .arg("ddm")
            .args(&args)
            .env("DDM_API_INFO", &base)
            .env("DELTA_AUTH", "the-key")
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "wharf ddm {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let got = seen.lock().unwrap().clone();
        assert_eq!(got.len(), 2, "health, then the command: {got:?}");
        assert_eq!(
            (got[0].0.as_str(), got[0].1.as_str()),
            ("GET", "/api/v1/health")
        );
        let (method, path, content_type, body) = &got[1];
        let want_path = request.path.replace("{wallet}", wallet);
        assert_eq!(
            (method.as_str(), path.as_str()),
            (request.method, want_path.as_str()),
            "wharf ddm {args:?}"
        );
        assert_eq!(
            content_type.as_deref(),
            Some("application/json"),
            "{args:?}"
        );
        let want = request
            .body
            .replace("{wallet}", wallet)
            .replace("{csv}", &csv);
        if want.is_empty() {
            assert!(body.is_empty(), "{args:?} sent a body");
        } else if want.starts_with('{') {
            let sent: Value = serde_json::from_slice(body).unwrap();
            let expected: Value = serde_json::from_str(&want).unwrap();
            assert_eq!(sent, expected, "wharf ddm {args:?}");
        } else {
            assert_eq!(String::from_utf8_lossy(body), want, "{args:?}");
        }
    }
}

//! The web app at `/ui`, in Chromium against a real `wharf serve`: a wallet signs in with the
//! keyboard, pays for an upload on a local chain and watches it stored, gets credit, finds
//! hosted files; the operator imports contents and makes deals; on a desktop and a phone's
//! width, with nothing fetched from anywhere but wharf. And the app embedded in the binary is
//! the one its sources build.
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wharf_tests::{
    ADMIN_KEY, TestApp, TestEnv, WEBCORE_SECRET, WharfProcess, chain, chain::Chain,
    delta::DeltaDouble,
};

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui")
}

fn npm(args: &[&str], dir: &Path) {
    let status = std::process::Command::new("npm")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("npm is installed");
    assert!(status.success(), "npm {args:?} failed in {}", dir.display());
}

/// Every file under `dir`, relative, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The committed `ui/dist` (what the binary embeds) is what `ui/`'s sources build, with the
/// types generated from the committed schema: an operation the schema no longer allows, or a
/// source change not rebuilt, fails here.
#[tokio::test]
async fn the_embedded_app_is_built_from_its_sources_and_the_schema() {
    let ui = ui_dir();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("wharf-ui-build.lock"))
        .unwrap();
    lock.lock().unwrap();
    if !ui.join("node_modules/.bin/vite").exists() {
        npm(&["ci", "--no-audit", "--no-fund", "--loglevel=error"], &ui);
    }
    npm(&["run", "check", "--silent"], &ui);
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().display().to_string();
    npm(
        &[
            "exec",
            "--",
            "vite",
            "build",
            "--logLevel",
            "warn",
            "--outDir",
            &out_dir,
            "--emptyOutDir",
        ],
        &ui,
    );
    let built = files(out.path());
    let committed = files(&ui.join("dist"));
    let names = |f: &[(String, Vec<u8>)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&built),
        "ui/dist is stale: run `npm run build` in ui/ and commit ui/dist"
    );
    for ((name, a), (_, b)) in committed.iter().zip(&built) {
        assert!(
            a == b,
            "ui/dist/{name} is stale: run `npm run build` in ui/"
        );
    }
}

/// A GraphQL request to a running server.
async fn graphql(base: &str, query: &str, variables: Value, key: &str) -> Value {
    let body: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(key)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["errors"].is_null(), "{query}: {body}");
    body["data"].clone()
}

/// The whole product in Chromium against a real `wharf serve` (its workers in-process), a
/// local chain and the Delta double: a wallet (EIP-1193, backed by ganache) signs in by
/// keyboard, quotes, approves the token, uploads and sees the quote stored and paid; credit by
/// promocode; hosted files; compute; the operator imports contents from a CSV file and makes
/// deals that the engine takes; every screen at desktop and phone width, checked by axe-core;
/// nothing fetched from anywhere but wharf.
#[tokio::test]
async fn a_user_works_through_the_app_in_chromium() {
    wharf_tests::ensure_npm_packages();
    wharf_tests::ensure_chromium();
    let chain = Chain::start().await;
    let delta = DeltaDouble::start().await;
    let env = TestEnv::new().await;
    // SIWE messages name the page's host: the address is chosen before the server starts.
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let config = env.write_config(&format!(
        r#"
[[chains]]
chain_id = 1337
rpc_url = "{rpc}"
confirmations = 1
tokens = [{{ symbol = "OCEAN", address = "{token}", decimals = 18 }}]

[[storages]]
type = "ipfs"
description = "Content-addressed storage served by this gateway"
price_per_gib_month = {{ "1337:OCEAN" = "0.5" }}

[filecoin]
deal_engine_url = "{delta}"
poll_schedule = "* * * * * *"

[[webcore.promocodes]]
code = "PLEASE"
bytes = 1073741824
"#,
        rpc = chain.url,
        token = chain.token,
        delta = delta.url,
    ));
    let vars = env.vars(&[
        ("WHARF_CONFIG", config.as_str()),
        ("WHARF_LISTEN", listen.as_str()),
        ("WHARF_AUTH__SIWE_DOMAIN", listen.as_str()),
        ("WHARF_WORKERS", "true"),
        ("WHARF_TREASURY_KEY_1337", chain::KEYS[chain::TREASURY]),
        ("WHARF_DEAL_ENGINE_TOKEN", wharf_tests::delta::TOKEN),
    ]);
    let server = WharfProcess::start(&["serve"], &vars, env.data_dir.path()).await;
    let base = server.base.clone().unwrap();
    let client = reqwest::Client::new();

    // A hosted file, uploaded the MetaDisk way, on a token with credit.
    let token: Value = client
        .post(format!("{base}/accounts/token/new"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let deposit = client
        .post(format!("{base}/accounts/token/deposit/{token}"))
        .header("Authentication", WEBCORE_SECRET)
        .json(&json!({"bytes": 1_000_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(deposit.status(), 200);
    let boundary = "b0undary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n\r\nsome notes\r\n--{boundary}--\r\n"
    );
    let stored: Value = client
        .post(format!("{base}/api/upload"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let name = format!("{}_notes.txt", &stored["filehash"].as_str().unwrap()[..7]);
    // Its ciphertext is a CAR the server stores; the browser adds it to the dataset.
    let found: Value = client
        .get(format!(
            "{base}/api/find/{}",
            stored["filehash"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored_root = found["cid"]
        .as_str()
        .expect("find names its CID")
        .to_string();

    // What the operator set up beforehand: a dataset, a provider with a replication profile
    // for it, and a deal-making wallet. The browser imports the contents and makes the deals.
    let created = graphql(
        &base,
        "mutation { createDataset(name: \"ui-dataset\", replicationQuota: 3, dealDuration: 540) }",
        json!({}),
        ADMIN_KEY,
    )
    .await;
    let dataset = created["createDataset"].as_i64().unwrap();
    graphql(
        &base,
        "mutation { createProvider(actorId: \"f07000\") { actorId } }",
        json!({}),
        ADMIN_KEY,
    )
    .await;
    graphql(
        &base,
        "mutation($d: Int!) { createReplicationProfile(providerActorId: \"f07000\", datasetId: $d, unsealed: true, indexed: true) { datasetId } }",
        json!({"d": dataset}),
        ADMIN_KEY,
    )
    .await;
    let wallet = graphql(
        &base,
        "mutation { addWallet(keyType: \"bls\", privateKey: \"dWktd2FsbGV0\") }",
        json!({}),
        ADMIN_KEY,
    )
    .await;
    graphql(
        &base,
        "mutation($a: String!, $d: Int!) { associateWallet(address: $a, datasetIds: [$d]) }",
        json!({"a": wallet["addWallet"], "d": dataset}),
        ADMIN_KEY,
    )
    .await;
    // delta-dm's CSV import file: two pieces and a row the server refuses.
    let csv = env.data_dir.path().join("contents.csv");
    let mut rows = String::from("commP,payloadCid,size,paddedSize\n");
    for i in 900..902u64 {
        let (piece, payload) = wharf_tests::piece_cids(i);
        rows.push_str(&format!("{piece},{payload},1000,1024\n"));
    }
    rows.push_str("not-a-piece,not-a-cid,1,128\n");
    std::fs::write(&csv, rows).unwrap();

    let user = 1;
    let payer = chain::signer(user).address();
    let treasury = chain::signer(chain::TREASURY).address();
    let tokens_before = chain.balance(payer).await;

    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    // Written by each run, to look at: every screen at desktop size and at 360 px.
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
    let output = tokio::process::Command::new("node")
        .env("WHARF_ADMIN_KEY", ADMIN_KEY)
        .env("SCREENSHOTS", &screenshots)
        .env("WALLET_RPC", &chain.url)
        .env("WALLET_KEY", chain::KEYS[user])
        .env("IMPORT_FILE", &csv)
        .env("STORED_ROOT", stored_root.as_str())
        .arg(js.join("ui.mjs"))
        .arg(&base)
        .arg(&token)
        .arg(&name)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let seen: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "ui.mjs printed no result: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(seen.get("failed").is_none(), "{seen}");
    assert_eq!(seen["landed"], "/ui/", "a browser at / is sent to the app");
    assert_eq!(
        seen["focusedByKeyboard"], true,
        "sign-in is reachable by Tab"
    );
    assert_eq!(
        seen["signedIn"].as_str().map(str::to_lowercase),
        Some(format!("{payer:#x}")),
        "the browser wallet's account is signed in: {seen}"
    );
    assert!(
        seen["badPromocode"]
            .as_str()
            .is_some_and(|t| t.contains("NOT_FOUND")),
        "a refusal shows its code: {seen}"
    );
    assert_eq!(seen["balance"], "1.0 GiB");
    assert!(
        seen["ledgerKinds"]
            .as_array()
            .unwrap()
            .contains(&json!("promocode"))
    );
    assert!(
        seen["approval"].as_str().is_some_and(|a| a.contains("0x")),
        "the approval names its transaction: {seen}"
    );
    assert_eq!(seen["quoteStatus"], "stored");
    assert_eq!(
        seen["stored"], "hello from chromium\n",
        "the link opens the upload"
    );
    // The worker took exactly the approved payment from the wallet's account.
    let paid = chain.transfers(payer, treasury).await;
    assert_eq!(paid.len(), 1, "one payment: {paid:?}");
    assert_eq!(chain.balance(payer).await, tokens_before - paid[0]);
    assert_eq!(seen["hosted"], name.as_str());
    assert_eq!(
        seen["imported"], "2 imported, 1 refused",
        "the CSV's rows, the bad one refused"
    );
    assert_eq!(
        seen["carAdded"],
        format!("Computing the piece CID of {stored_root}."),
        "{seen}"
    );
    assert!(
        seen["contentsAfterCar"]
            .as_str()
            .is_some_and(|c| c.starts_with("3 ")),
        "the stored CAR became the dataset's third piece: {seen}"
    );
    assert_eq!(seen["dealsMade"], "2 deals requested.");
    assert_eq!(
        seen["dealStatuses"],
        json!(["making-deal-proposal", "making-deal-proposal"]),
        "the table follows the deals to the engine's status: {seen}"
    );
    assert_eq!(
        delta.lock().contents.len(),
        2,
        "the engine received both deals"
    );
    assert_eq!(
        seen["narrowOverflow"],
        json!({}),
        "nothing wider than 360 px: {seen}"
    );
    assert!(seen["alerts"].is_null(), "no screen shows an error: {seen}");
    assert_eq!(
        seen["a11y"],
        json!({}),
        "axe-core finds no serious or critical violation on any screen"
    );
    assert_eq!(
        seen["screenshots"].as_array().map(Vec::len),
        Some(11),
        "{seen}"
    );
    println!(
        "first load of /ui: {} ms; screenshots: {}",
        seen["firstLoadMs"], seen["screenshots"]
    );
    assert_eq!(seen["signedOut"], true);
    assert!(
        seen["devKeySignedIn"]
            .as_str()
            .is_some_and(|a| a.starts_with("0x") && a.to_lowercase() != format!("{payer:#x}")),
        "a development key signs in as its own account: {seen}"
    );
    assert_eq!(
        seen["graphiql"], "/ui/graphiql.html",
        "GraphiQL renders offline"
    );
    assert_eq!(
        seen["foreign"],
        json!([]),
        "nothing is fetched from elsewhere"
    );
    // The new token is the signed-in wallet's, with the promocode's credit.
    let new_token = seen["newToken"].as_str().unwrap();
    let balance: Value = client
        .get(format!("{base}/accounts/token/balance/{new_token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(balance["balance"], 1_073_741_824, "{balance}");
    let status = server.terminate().await;
    assert!(status.success(), "wharf serve exited with {status}");
}

/// The app's files are served with the headers a browser needs, and DBS clients still get
/// JSON at `/`.
#[tokio::test]
async fn the_app_is_served_from_the_binary_and_json_clients_keep_slash() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let browser = client
        .get(app.url("/"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 303);
    assert_eq!(browser.headers()["location"], "/ui/");
    let json = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(json.status(), 200);
    assert!(json.json::<Value>().await.unwrap().is_array());

    let page = client.get(app.url("/ui/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    assert!(script.starts_with("/ui/assets/"), "{script}");
    let asset = client.get(app.url(&script)).send().await.unwrap();
    assert_eq!(asset.status(), 200);
    assert!(
        asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(
        asset.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    // The app's own routes get the app; a missing asset is a 404.
    let deep = client.get(app.url("/ui/balances")).send().await.unwrap();
    assert_eq!(deep.status(), 200);
    let missing = client
        .get(app.url("/ui/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

//! The web app at `/ui`, in Chromium: a user signs in with the keyboard, gets an access
//! token and credit, uploads through a quote and watches it stored, finds hosted files, on a
//! desktop and a phone's width, with nothing fetched from anywhere but wharf. And the app
//! embedded in the binary is the one its sources build.
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wharf_tests::TestApp;

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

#[tokio::test]
async fn a_user_works_through_the_app_in_chromium() {
    wharf_tests::ensure_npm_packages();
    wharf_tests::ensure_chromium();
    let toml = "[[storages]]\ntype = \"ipfs\"\n\n[[webcore.promocodes]]\ncode = \"PLEASE\"\nbytes = 1073741824\n";
    // SIWE messages name the page's host: the app's address.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let domain = listener.local_addr().unwrap().to_string();
    let mut app = TestApp::spawn_on(
        listener,
        Some(toml),
        &[("WHARF_AUTH__SIWE_DOMAIN", domain.as_str())],
    )
    .await;
    app.spawn_workers();

    // A hosted file, uploaded the MetaDisk way.
    let token = app.new_token().await;
    app.move_bytes("deposit", &token, json!(1_000_000)).await;
    let boundary = "b0undary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n\r\nsome notes\r\n--{boundary}--\r\n"
    );
    let stored: Value = app
        .client
        .post(app.url("/api/upload"))
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

    let (_, created) = app
        .graphql(
            "mutation { createDataset(name: \"ui-dataset\", replicationQuota: 3, dealDuration: 540) }",
            json!({}),
            Some(wharf_tests::ADMIN_KEY),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");

    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    // Written by each run, to look at: every screen at desktop size and at 360 px.
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
    let output = tokio::process::Command::new("node")
        .env("WHARF_ADMIN_KEY", wharf_tests::ADMIN_KEY)
        .env("SCREENSHOTS", &screenshots)
        .arg(js.join("ui.mjs"))
        .arg(&app.base)
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
    assert!(
        seen["signedIn"]
            .as_str()
            .is_some_and(|a| a.starts_with("0x")),
        "{seen}"
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
    assert_eq!(seen["quoteStatus"], "stored");
    assert_eq!(
        seen["stored"], "hello from chromium\n",
        "the link opens the upload"
    );
    assert_eq!(seen["hosted"], name.as_str());
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
    assert_eq!(
        seen["graphiql"], "/ui/graphiql.html",
        "GraphiQL renders offline"
    );
    assert_eq!(
        seen["foreign"],
        json!([]),
        "nothing is fetched from elsewhere"
    );
    // The new token is the signed-in wallet's.
    let new_token = seen["newToken"].as_str().unwrap();
    assert_eq!(app.balance(new_token).await, 1_073_741_824);
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

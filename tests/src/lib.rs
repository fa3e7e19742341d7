//! Test harness shared by the end-to-end tests: a fresh database per test (SQLite file, or a
//! new PostgreSQL database when `WHARF_TEST_DATABASE_URL` is set), the Redis queue when
//! `WHARF_TEST_REDIS_URL` is set (under a queue prefix of its own), the router served
//! in-process on a free port, and the real `wharf` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bench;
pub mod chain;
pub mod delta;
pub mod microservice;
pub mod operator;
pub mod wallet;
pub mod ws;

use std::{path::PathBuf, process::Stdio, sync::Arc, time::Duration};

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::oneshot,
};
use wharf_core::{config::Config, services::Services};

pub const WEBCORE_SECRET: &str = "test-webcore-secret";
pub const ADMIN_KEY: &str = "test-admin-key";

/// Which backends this run uses, for test names in failure messages.
pub fn backends() -> &'static str {
    match (
        std::env::var("WHARF_TEST_DATABASE_URL").is_ok(),
        std::env::var("WHARF_TEST_REDIS_URL").is_ok(),
    ) {
        (true, true) => "postgres+redis",
        (true, false) => "postgres+sqlite-queue",
        (false, true) => "sqlite+redis",
        (false, false) => "sqlite",
    }
}

/// A private data directory, database and queue namespace for one test.
pub struct TestEnv {
    pub data_dir: TempDir,
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub queue_prefix: String,
    postgres: Option<(String, String)>,
}

impl TestEnv {
    pub async fn new() -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut postgres = None;
        let database_url = match std::env::var("WHARF_TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => {
                let name = format!("wharf_t_{}", &id[..16]);
                let admin = Database::connect(&base).await.unwrap();
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                admin.close().await.ok();
                let url = replace_db_name(&base, &name);
                postgres = Some((base, name));
                Some(url)
            }
            _ => None,
        };
        let redis_url = std::env::var("WHARF_TEST_REDIS_URL")
            .ok()
            .filter(|s| !s.is_empty());
        Self {
            data_dir,
            database_url,
            redis_url,
            queue_prefix: format!("wharf-test-{}", &id[..12]),
            postgres,
        }
    }

    /// Environment for a `wharf` process (or `Config::load_from`) using this test's backends.
    pub fn vars(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut vars = vec![
            (
                "WHARF_DATA_DIR".to_string(),
                self.data_dir.path().display().to_string(),
            ),
            ("WHARF_QUEUE_PREFIX".to_string(), self.queue_prefix.clone()),
            (
                "WHARF_WEBCORE_SECRET".to_string(),
                WEBCORE_SECRET.to_string(),
            ),
            ("WHARF_ADMIN_API_KEY".to_string(), ADMIN_KEY.to_string()),
            ("WHARF_LISTEN".to_string(), "127.0.0.1:0".to_string()),
            ("WHARF_WORKER_LISTEN".to_string(), "127.0.0.1:0".to_string()),
            ("WHARF_WORKERS".to_string(), "false".to_string()),
        ];
        if let Some(url) = &self.database_url {
            vars.push(("DATABASE_URL".into(), url.clone()));
        }
        if let Some(url) = &self.redis_url {
            vars.push(("REDIS_URL".into(), url.clone()));
        }
        for (k, v) in extra {
            vars.retain(|(name, _)| name != k);
            vars.push((k.to_string(), v.to_string()));
        }
        vars
    }

    /// The database URL a `wharf` process with this environment uses.
    pub fn effective_database_url(&self) -> String {
        self.config(&[]).database_url()
    }

    /// The configuration a process with this environment loads (`WHARF_CONFIG` in `extra`
    /// names a wharf.toml).
    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let file = extra
            .iter()
            .find(|(k, _)| *k == "WHARF_CONFIG")
            .map(|(_, v)| *v);
        Config::load_from(file, &self.vars(extra)).unwrap()
    }

    /// Writes `toml` as this test's wharf.toml and returns its path.
    pub fn write_config(&self, toml: &str) -> String {
        let path = self.data_dir.path().join("wharf.toml");
        std::fs::write(&path, toml).unwrap();
        path.display().to_string()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let Some((base, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside any runtime guarantee: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = Database::connect(&base).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let base = match head.rfind('/') {
        Some(i) if i > "postgres://".len() => &head[..i],
        _ => head,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// The router served in-process on a free port, over real services.
pub struct TestApp {
    pub env: TestEnv,
    pub services: Arc<Services>,
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    worker_stop: Option<oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        Self::spawn_with_toml(None, extra).await
    }

    /// With a wharf.toml holding `toml`.
    pub async fn spawn_with_toml(toml: Option<&str>, extra: &[(&str, &str)]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::spawn_on(listener, toml, extra).await
    }

    /// On a listener the caller bound (to know the address before the configuration).
    pub async fn spawn_on(
        listener: tokio::net::TcpListener,
        toml: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Self {
        let env = TestEnv::new().await;
        let mut extra: Vec<(&str, &str)> = extra.to_vec();
        let path = toml.map(|t| env.write_config(t));
        if let Some(path) = &path {
            extra.push(("WHARF_CONFIG", path.as_str()));
        }
        let config = env.config(&extra);
        let services = Arc::new(Services::start(config).await.unwrap());
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = wharf_api::server::router(services.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(wharf_api::server::serve(listener, router, async move {
            let _ = stopped.await;
        }));
        Self {
            env,
            services,
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            stop: Some(stop),
            worker_stop: None,
        }
    }

    /// Runs the workers in this process until the app is dropped.
    pub fn spawn_workers(&mut self) {
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(wharf_worker::run(self.services.clone(), async move {
            let _ = stopped.await;
        }));
        self.worker_stop = Some(stop);
    }

    /// Services over this app's database and blobs with `toml` as wharf.toml, under another
    /// queue prefix, with workers running: jobs this app queued are lost to them, as when a
    /// process dies with its queue, so only the reconciliation sweep hands work over. The
    /// workers stop when the sender fires or is dropped.
    pub async fn workers_under_another_prefix(
        &self,
        toml: &str,
    ) -> (Arc<Services>, oneshot::Sender<()>) {
        let path = self.env.write_config(toml);
        let mut vars = self.env.vars(&[("WHARF_CONFIG", path.as_str())]);
        vars.retain(|(k, _)| k != "WHARF_QUEUE_PREFIX");
        vars.push((
            "WHARF_QUEUE_PREFIX".into(),
            format!("{}-after", self.env.queue_prefix),
        ));
        let config = Config::load_from(Some(&path), &vars).unwrap();
        let services = Arc::new(Services::start(config).await.unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(wharf_worker::run(services.clone(), async move {
            let _ = stopped.await;
        }));
        (services, stop)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Issues an access token through the legacy route.
    pub async fn new_token(&self) -> String {
        let body: Value = self
            .client
            .post(self.url("/accounts/token/new"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn balance(&self, token: &str) -> i64 {
        let body: Value = self
            .client
            .get(self.url(&format!("/accounts/token/balance/{token}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["balance"].as_i64().unwrap()
    }

    /// Rows of `from` (a table, optionally with a `WHERE` clause), through wharf's own
    /// database connection.
    pub async fn count(&self, from: &str) -> i64 {
        let db = &self.services.db;
        db.query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {from}"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
    }

    /// POSTs `{"bytes": bytes}` to deposit or withdraw with the web-core secret.
    pub async fn move_bytes(&self, action: &str, token: &str, bytes: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(&format!("/accounts/token/{action}/{token}")))
            .header("Authentication", WEBCORE_SECRET)
            .json(&json!({ "bytes": bytes }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Signs `wallet` in with Ethereum for `domain` (the app's `auth.siwe_domain`) and returns
    /// the session token.
    pub async fn sign_in(&self, wallet: &wallet::Wallet, domain: &str) -> String {
        let (_, body) = self.graphql("{ siweNonce }", json!({}), None).await;
        let nonce = body["data"]["siweNonce"].as_str().unwrap().to_string();
        let message = wallet.siwe_message(domain, &nonce);
        let (status, body) = self
            .graphql(
                "mutation($m: String!, $s: String!) { signIn(message: $m, signature: $s) { token address } }",
                json!({"m": message, "s": wallet.personal_sign(message.as_bytes())}),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"]["signIn"]["address"],
            wallet.address_hex(),
            "{body}"
        );
        body["data"]["signIn"]["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Runs a GraphQL operation; returns the HTTP status and the body.
    pub async fn graphql(
        &self,
        query: &str,
        variables: Value,
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stop) = self.worker_stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Installs the npm test peers (tests/js/package-lock.json) once.
pub fn ensure_npm_packages() {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
        let ready = [
            "@ipld/car",
            "ipfs-unixfs-importer",
            "@web3-storage/data-segment",
            "ganache",
            "solc",
            "@oceanprotocol/uploader",
            "@oceanprotocol/lib",
            "ethers5",
            "eciesjs",
            "playwright-core",
            "axe-core",
        ]
        .iter()
        .all(|p| js.join("node_modules").join(p).exists());
        if ready {
            return;
        }
        // A file lock: several test binaries may start at once.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(js.join(".npm-install.lock"))
            .unwrap();
        lock.lock().unwrap();
        let ready = [
            "@ipld/car",
            "ganache",
            "@oceanprotocol/uploader",
            "@oceanprotocol/lib",
            "eciesjs",
            "playwright-core",
            "axe-core",
        ]
        .iter()
        .all(|p| js.join("node_modules").join(p).exists());
        if !ready {
            let status = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&js)
                .status()
                .expect("npm is installed");
            assert!(status.success(), "npm ci failed in tests/js");
        }
    });
}

/// Installs bubblewrap (the compute sandbox) from Debian when it is missing, as CI's fresh
/// machines lack it; the test needing it fails with the reason when it cannot be had.
pub fn ensure_bubblewrap() {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| ensure_debian_package("bwrap", "bubblewrap"));
}

/// Installs Debian's Chromium (for the web app's browser tests) when it is missing.
pub fn ensure_chromium() {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| ensure_debian_package("chromium", "chromium"));
}

/// Runs `apt-get install package` unless `binary --version` already works; one install at a
/// time across test binaries.
fn ensure_debian_package(binary: &str, package: &str) {
    let present = || {
        std::process::Command::new(binary)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if present() {
        return;
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("wharf-apt.lock"))
        .unwrap();
    lock.lock().unwrap();
    if present() {
        return;
    }
    let install = || {
        std::process::Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = std::process::Command::new("apt-get")
            .args(["update", "-q"])
            .status();
        install();
    }
    assert!(
        present(),
        "{binary} is needed by these tests: apt-get install {package}"
    );
}

/// The first GraphQL error code of a response, if any.
/// A distinct, valid Filecoin piece CID (v1, fil-commitment-unsealed, sha2-256-trunc254-padded)
/// and payload CID (raw) for `i`: test data for dataset imports.
pub fn piece_cids(i: u64) -> (String, String) {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(i.to_be_bytes());
    let cid = |codec: u64, hash: u64| {
        cid::Cid::new_v1(
            codec,
            cid::multihash::Multihash::<64>::wrap(hash, &digest).expect("a 32-byte digest fits"),
        )
        .to_string()
    };
    (cid(0xf101, 0x1012), cid(0x55, 0x12))
}

pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// Path of the `wharf` binary built beside this test (cargo test builds it for the api
/// package's own integration test), or `WHARF_BIN`.
pub fn wharf_bin() -> PathBuf {
    if let Ok(path) = std::env::var("WHARF_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join(format!("wharf{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so that it is built",
        bin.display()
    );
    bin
}

/// A running `wharf` process.
pub struct WharfProcess {
    pub child: Child,
    /// `http://addr` for `serve`; for `worker`, where its health and metrics are.
    pub base: Option<String>,
    /// Every line the process wrote to stdout (its logs) so far.
    pub output: Arc<std::sync::Mutex<Vec<String>>>,
}

impl WharfProcess {
    /// Starts `wharf <args>` with `vars` and waits until it says it is ready.
    pub async fn start(args: &[&str], vars: &[(String, String)], cwd: &std::path::Path) -> Self {
        let mut child = Command::new(wharf_bin())
            .args(args)
            .env("RUST_LOG", "info")
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        let output = Arc::new(std::sync::Mutex::new(Vec::new()));
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                output.lock().unwrap().push(line.clone());
                // JSON logs: the start-up events carry the address.
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                    let fields = &event["fields"];
                    if let Some("wharf listening" | "wharf worker running") =
                        fields["message"].as_str()
                    {
                        base = fields["address"].as_str().map(|a| format!("http://{a}"));
                        return true;
                    }
                }
                if let Some(addr) = line.strip_prefix("wharf listening on ") {
                    base = Some(addr.trim().to_string());
                    return true;
                }
                if let Some(rest) = line.strip_prefix("wharf worker running") {
                    base = rest
                        .split_once("on ")
                        .map(|(_, addr)| addr.trim().to_string());
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(ready, Ok(true)),
            "wharf {args:?} did not become ready"
        );
        // Keep draining stdout so the child never blocks on a full pipe.
        let sink = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            base,
            output,
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("wharf did not stop after SIGTERM")
            .unwrap()
    }
}

//! The real `wharf` binary: zero-config start, graceful stop, and a job queued by `serve`
//! done by a separate `wharf worker` process.
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use wharf_tests::{ADMIN_KEY, TestEnv, WEBCORE_SECRET, WharfProcess};

#[tokio::test]
async fn serve_starts_with_zero_configuration_and_stops_on_sigterm() {
    let cwd = tempfile::tempdir().unwrap();
    // Nothing but a free port and the secret for the admin route.
    let vars = vec![
        ("WHARF_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        (
            "WHARF_WEBCORE_SECRET".to_string(),
            WEBCORE_SECRET.to_string(),
        ),
    ];
    let server = WharfProcess::start(&["serve"], &vars, cwd.path()).await;
    let base = server.base.clone().unwrap();
    let client = reqwest::Client::new();

    let ready: Value = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ok", "{ready}");
    for file in ["wharf.db", "jobs.db", "blobs"] {
        assert!(
            cwd.path().join("wharf-data").join(file).exists(),
            "{file} was not created"
        );
    }

    let token: Value = client
        .post(format!("{base}/accounts/token/new"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap();
    let deposit = client
        .post(format!("{base}/accounts/token/deposit/{token}"))
        .header("Authentication", WEBCORE_SECRET)
        .json(&json!({"bytes": 4096}))
        .send()
        .await
        .unwrap();
    assert_eq!(deposit.status(), 200);
    let balance: Value = client
        .get(format!("{base}/accounts/token/balance/{token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(balance, json!({"balance": 4096}));
    // A method no standard names is counted, under "other" rather than a series of its own.
    let brew = client
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            format!("{base}/accounts/token/balance/{token}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(brew.status(), 405);
    let metrics = get_text(&client, &format!("{base}/metrics")).await;
    let requests = |labels: &[&str]| metric_value(&metrics, "wharf_http_requests_total", labels);
    let balance_route = "route=\"/accounts/token/balance/";
    assert_eq!(
        requests(&["method=\"GET\"", balance_route, "status=\"200\""]),
        Some("1"),
        "{metrics}"
    );
    assert_eq!(
        requests(&["method=\"other\"", balance_route, "status=\"405\""]),
        Some("1"),
        "{metrics}"
    );
    assert!(!metrics.contains("BREW"), "{metrics}");
    assert!(
        deposit.headers().contains_key("x-request-id"),
        "responses carry a request id"
    );

    let output = server.output.clone();
    let status = server.terminate().await;
    assert!(status.success(), "wharf serve exited with {status}");
    // Its stdout is a pipe here, as under systemd or docker: plain text, no colour codes.
    let logs = output.lock().unwrap().clone();
    assert!(logs.iter().any(|l| l.contains("wharf stopped")), "{logs:?}");
    assert!(
        logs.iter().all(|l| !l.contains('\u{1b}')),
        "escape codes in piped logs: {:?}",
        logs.iter().find(|l| l.contains('\u{1b}'))
    );

    // The data survives a restart.
    let server = WharfProcess::start(&["serve"], &vars, cwd.path()).await;
    let base = server.base.clone().unwrap();
    let balance: Value = client
        .get(format!("{base}/accounts/token/balance/{token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(balance, json!({"balance": 4096}));
    assert!(server.terminate().await.success());
}

#[tokio::test]
async fn a_job_queued_by_serve_is_done_by_a_separate_worker_process() {
    let env = TestEnv::new().await;
    let vars = env.vars(&[
        ("WHARF_WORKERS", "false"),
        // Keep the cron out of the way: only the queued job may do the work.
        ("WHARF_JOBS__HOUSEKEEPING_SCHEDULE", "0 0 0 1 1 *"),
    ]);
    let server = WharfProcess::start(&["serve"], &vars, env.data_dir.path()).await;
    let base = server.base.clone().unwrap();

    // An expired session that only housekeeping removes.
    let db = Database::connect(env.effective_database_url())
        .await
        .unwrap();
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_string(
        backend,
        "INSERT INTO sessions (id, address, created_at, expires_at) VALUES ('expired-session', '0x0000000000000000000000000000000000000001', 1, 2)",
    ))
    .await
    .unwrap();

    let client = reqwest::Client::new();
    let queued: Value = client
        .post(format!("{base}/graphql"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"query": "mutation { runHousekeeping }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(queued["data"]["runHousekeeping"].is_string(), "{queued}");

    // serve runs no workers: the job waits.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count_sessions(&db).await, 1, "serve did the job itself");

    // The worker logs JSON: its job's lines name the job.
    let mut worker_vars = vars.clone();
    worker_vars.push(("WHARF_LOG_FORMAT".into(), "json".into()));
    let worker = WharfProcess::start(&["worker"], &worker_vars, env.data_dir.path()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count_sessions(&db).await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not run the job"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The worker's own port: ready, and its metrics show the job it ran, as a histogram.
    let probes = worker.base.clone().expect("the worker prints its address");
    let ready = client.get(format!("{probes}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // The job's rows are gone before its run is recorded and logged (its log lines reach
    // stdout in batches): wait for both.
    let job_done = |metrics: &str| {
        metric_value(
            metrics,
            "wharf_jobs_total",
            &["queue=\"housekeeping\"", "outcome=\"done\""],
        )
        .is_some()
    };
    let done_line = |lines: &[String]| {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|e| e["fields"]["message"] == "housekeeping done")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (metrics, lines, done) = loop {
        let metrics = get_text(&client, &format!("{probes}/metrics")).await;
        let lines = worker.output.lock().unwrap().clone();
        if job_done(&metrics)
            && let Some(done) = done_line(&lines)
        {
            break (metrics, lines, done);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job's run is not in the metrics or the logs: {metrics}\n{lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(metrics.contains("# HELP wharf_jobs_total "), "{metrics}");
    assert!(
        metrics.contains("wharf_job_duration_seconds_bucket{"),
        "latencies are histograms: {metrics}"
    );
    let task = done["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["name"] == "task"))
        .unwrap_or_else(|| panic!("the job's line is in no task span: {done}"));
    assert!(task["task_id"].is_string(), "{done}");
    assert!(
        lines
            .iter()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "JSON only: {lines:?}"
    );
    assert!(worker.terminate().await.success());
    assert!(server.terminate().await.success());
}

async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The value of the first sample of metric `name` whose labels include all of `labels`.
fn metric_value<'a>(metrics: &'a str, name: &str, labels: &[&str]) -> Option<&'a str> {
    metrics
        .lines()
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{'))
                && labels.iter().all(|x| l.contains(x))
        })
        .and_then(|l| l.rsplit(' ').next())
}

async fn count_sessions(db: &sea_orm::DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM sessions WHERE id = 'expired-session'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

#[tokio::test]
async fn a_warning_is_on_stdout_before_its_request_is_answered() {
    // Info lines wait up to 50 ms for the log flusher; a warning is written at once. The
    // process is killed the moment its answer arrives, with no chance to flush: the warning
    // must already be out.
    let cwd = tempfile::tempdir().unwrap();
    let vars = vec![("WHARF_LISTEN".to_string(), "127.0.0.1:0".to_string())];
    let mut server = WharfProcess::start(&["serve"], &vars, cwd.path()).await;
    let base = server.base.clone().unwrap();
    // The blob store's directory becomes a file: its readiness check fails, with a warning.
    let blobs = cwd.path().join("wharf-data").join("blobs");
    std::fs::remove_dir_all(&blobs).unwrap();
    std::fs::write(&blobs, b"not a directory").unwrap();
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    server.child.kill().await.unwrap();
    assert_eq!(ready.status(), 503);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let lines = server.output.lock().unwrap().clone();
        if lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("readiness check failed"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the readiness warning is not in the killed process's output: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn json_logs_name_the_request_id_of_each_request() {
    let cwd = tempfile::tempdir().unwrap();
    let vars = vec![
        ("WHARF_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("WHARF_LOG_FORMAT".to_string(), "json".to_string()),
    ];
    let server = WharfProcess::start(&["serve"], &vars, cwd.path()).await;
    let base = server.base.clone().unwrap();
    let response = reqwest::Client::new()
        .get(format!("{base}/accounts/token/prices"))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = server.output.lock().unwrap().iter().any(|line| {
            serde_json::from_str::<Value>(line)
                .map(|v| v["span"]["request_id"] == request_id.as_str())
                .unwrap_or(false)
        });
        if found {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no JSON log line names request {request_id}: {:?}",
            server.output.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // JSON only: every line parses; every line inside a request names its id, and the
    // access-log line gives the latency as a number.
    let lines = server.output.lock().unwrap().clone();
    let mut access_lines = 0;
    for line in &lines {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
        let in_request = event["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["name"] == "request"));
        if let Some(span) = in_request {
            assert!(span["request_id"].is_string(), "{line}");
        }
        if event["fields"]["message"] == "finished processing request" {
            access_lines += 1;
            assert!(event["fields"]["latency_ms"].is_number(), "{line}");
            assert!(event["fields"]["status"].is_number(), "{line}");
        }
    }
    assert!(access_lines >= 1, "{lines:?}");
    assert!(server.terminate().await.success());
}

#[tokio::test]
async fn replicas_starting_together_migrate_once() {
    let env = TestEnv::new().await;
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let config = env.config(&[]);
            tokio::spawn(async move { wharf_core::services::Services::start(config).await })
        })
        .collect();
    for start in starts {
        let services = start.await.unwrap().expect("a replica failed to start");
        let status = wharf_core::db::migration_status(&services.db)
            .await
            .unwrap();
        assert!(status.iter().all(|(_, applied)| *applied), "{status:?}");
    }
}

/// Runs the flows that carry secrets — web-core tokens in paths, the deposit secret, SIWE
/// sessions, the operator key, upload and link signatures, wrong credentials — against a
/// `wharf serve` logging at debug level, then looks for each secret in everything it wrote.
#[tokio::test]
async fn secrets_never_reach_the_logs() {
    use wharf_core::uploads::upload::signed_text;
    let env = TestEnv::new().await;
    let toml = env.write_config(
        "[[storages]]\ntype = \"ipfs\"\n[auth]\nsiwe_domain = \"wharf.test\"\n\
         [webcore]\npromocodes = [{ code = \"LOGME\", bytes = 1024 }]\n",
    );
    let vars = env.vars(&[
        ("WHARF_CONFIG", toml.as_str()),
        ("WHARF_WORKERS", "true"),
        ("RUST_LOG", "debug"),
        ("WHARF_LOG_FORMAT", "json"),
    ]);
    let server = WharfProcess::start(&["serve"], &vars, env.data_dir.path()).await;
    let base = server.base.clone().unwrap();
    let client = reqwest::Client::new();
    let mut secrets: Vec<String> = vec![ADMIN_KEY.into(), WEBCORE_SECRET.into()];

    // web-core: the token travels in paths.
    let token: Value = client
        .post(format!("{base}/accounts/token/new"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    secrets.push(token.clone());
    for (method, path, body) in [
        (
            "POST",
            format!("/accounts/token/redeem/{token}"),
            json!({"promocode": "LOGME"}),
        ),
        (
            "GET",
            format!("/accounts/token/balance/{token}"),
            json!(null),
        ),
        (
            "POST",
            format!("/accounts/token/deposit/{token}"),
            json!({"bytes": 10}),
        ),
        (
            "POST",
            format!("/accounts/token/withdraw/{token}"),
            json!({"bytes": 1}),
        ),
    ] {
        let request = match method {
            "GET" => client.get(format!("{base}{path}")),
            _ => client.post(format!("{base}{path}")).json(&body),
        };
        let response = request
            .header("Authentication", WEBCORE_SECRET)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
    // A wrong secret and a wrong bearer token are secrets too.
    let wrong_secret = "wrong-secret-3f9a1c";
    secrets.push(wrong_secret.into());
    let refused = client
        .post(format!("{base}/accounts/token/deposit/{token}"))
        .header("Authentication", wrong_secret)
        .json(&json!({"bytes": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let wrong_bearer = "not-a-session-7d2e4b";
    secrets.push(wrong_bearer.into());
    let refused = client
        .post(format!("{base}/graphql"))
        .bearer_auth(wrong_bearer)
        .json(&json!({"query": "{ me { address } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // Sign-In with Ethereum and a session.
    let wallet = wharf_tests::wallet::Wallet::new();
    let nonce: Value = client
        .post(format!("{base}/graphql"))
        .json(&json!({"query": "{ siweNonce }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = wallet.siwe_message("wharf.test", nonce["data"]["siweNonce"].as_str().unwrap());
    let signature = wallet.personal_sign(message.as_bytes());
    secrets.push(signature.clone());
    let signed_in: Value = client
        .post(format!("{base}/graphql"))
        .json(&json!({"query": "mutation($m: String!, $s: String!) { signIn(message: $m, signature: $s) { token } }",
                      "variables": {"m": message, "s": signature}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = signed_in["data"]["signIn"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    secrets.push(session.clone());
    let me = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&session)
        .json(&json!({"query": "{ me { address } accessTokens { token } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let operator = client
        .post(format!("{base}/graphql"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"query": "mutation { runHousekeeping }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(operator.status(), 200);

    // An upload and its link, signed.
    let quote: Value = client
        .post(format!("{base}/getQuote"))
        .json(&json!({"type": "ipfs", "files": [{"length": 3}], "duration": 60,
            "payment": {"chainId": "0", "tokenAddress": "0x0000000000000000000000000000000000000000"},
            "userAddress": wallet.address().to_checksum(None)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let quote_id = quote["quoteId"].as_str().unwrap();
    for (i, path) in ["/upload", "/getLink"].into_iter().enumerate() {
        let n = (chrono::Utc::now().timestamp_millis() + 60_000 * i as i64).to_string();
        let signature = wallet.personal_sign(signed_text(quote_id, &n).as_bytes());
        secrets.push(signature.clone());
        let url = format!("{base}{path}?quoteId={quote_id}&nonce={n}&signature={signature}");
        let response = if path == "/upload" {
            client
                .post(url)
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={}", crate::uploads::BOUNDARY),
                )
                .body(crate::uploads::multipart(&[("a", b"abc")]))
                .send()
                .await
                .unwrap()
        } else {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                let status: Value = client
                    .get(format!("{base}/getStatus?quoteId={quote_id}"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if status["status"] == 400 {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "{status}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            client.get(url).send().await.unwrap()
        };
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    let output = server.output.lock().unwrap().clone();
    assert!(
        output
            .iter()
            .any(|l| l.contains("/accounts/token/redeem/[redacted]")),
        "requests are logged, with the token redacted: {output:?}"
    );
    for secret in &secrets {
        let leaks: Vec<&String> = output
            .iter()
            .filter(|l| l.contains(secret.as_str()))
            .collect();
        assert!(leaks.is_empty(), "secret {secret:?} in the logs: {leaks:?}");
    }
    assert!(server.terminate().await.success());
}

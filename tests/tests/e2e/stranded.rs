//! Nothing stranded, nothing lost: slow and stalled uploads, refusals that reach a client still
//! sending, payments that settle whatever the retries, jobs lost between upload and queue,
//! content shared by two uploads, treasury locks that cannot leak, capped subscriptions.
use std::time::{Duration, Instant};

use futures::SinkExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use wharf_tests::{ADMIN_KEY, TestApp, TestEnv, WharfProcess, chain, wallet::Wallet, ws};

use crate::uploads::{
    Api, BOUNDARY, multipart, nonce, settled, signed_query, status_at, status_of, upload,
};

/// An app whose only storage is a free `ipfs`, with workers, and `extra` in its wharf.toml.
async fn free_app(extra: &str) -> TestApp {
    let toml = format!("[[storages]]\ntype = \"ipfs\"\n{extra}");
    let mut app = TestApp::spawn_with_toml(Some(&toml), &[]).await;
    app.spawn_workers();
    app
}

async fn free_quote_at(api: &Api, owner: &Wallet, lengths: &[usize]) -> String {
    let body = json!({
        "type": "ipfs",
        "files": lengths.iter().map(|l| json!({"length": l})).collect::<Vec<_>>(),
        "duration": 60,
        "payment": {"chainId": "0", "tokenAddress": "0x0000000000000000000000000000000000000000"},
        "userAddress": owner.address().to_checksum(None),
    });
    let response = api
        .client
        .post(api.url("/getQuote"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let quote: Value = response.json().await.unwrap();
    quote["quoteId"].as_str().unwrap().to_string()
}

async fn free_quote(app: &TestApp, owner: &Wallet, lengths: &[usize]) -> String {
    free_quote_at(&Api::of(app), owner, lengths).await
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed))
        .collect()
}

/// Files in the blob store's CAR directory (finished bodies and interrupted writes alike).
fn blob_files(env: &TestEnv) -> Vec<String> {
    let dir = env.data_dir.path().join("blobs").join("cars");
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Opens a raw connection and sends the head of a multipart upload to `path_and_query`.
async fn start_upload(base: &str, path_and_query: &str, length: usize) -> tokio::net::TcpStream {
    let addr = base.trim_start_matches("http://").to_string();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket
}

/// What the server answered on a raw connection: the status line's code and the body.
async fn read_answer(socket: &mut tokio::net::TcpStream, within: Duration) -> (u16, String) {
    let mut response = Vec::new();
    let _ = tokio::time::timeout(within, socket.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn wait_for_status(app: &TestApp, quote: &str, want: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = status_of(app, quote).await;
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "quote {quote} at {now}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_upload_slower_than_the_request_timeout_succeeds() {
    let app = free_app("[http]\nrequest_timeout_secs = 5\n").await;
    let alice = Wallet::new();
    let data = pattern(8 << 20, 3);
    let quote = free_quote(&app, &alice, &[data.len()]).await;
    let body = multipart(&[("slow.bin", &data)]);
    let started = Instant::now();
    let mut socket = start_upload(
        &app.base,
        &format!("/upload?{}", signed_query(&quote, &alice, nonce())),
        body.len(),
    )
    .await;
    // About 45 s at an even pace: nine times the request timeout.
    let chunk = 64 * 1024;
    let pause = Duration::from_secs(45).as_secs_f64() / (body.len() / chunk) as f64;
    for piece in body.chunks(chunk) {
        socket.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_secs_f64(pause)).await;
    }
    let (status, answer) = read_answer(&mut socket, Duration::from_secs(30)).await;
    assert_eq!(
        (status, answer.as_str()),
        (200, "\"File upload succeeded.\""),
        "after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() > Duration::from_secs(40));
    assert_eq!(settled(&app, &quote).await, 400);
    let cid = wharf_content::unixfs::file_cid(wharf_content::Profile::KUBO, &data);
    let served = app
        .client
        .get(app.url(&format!("/ipfs/{cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert!(served.bytes().await.unwrap()[..] == data[..]);
}

#[tokio::test]
async fn a_stalled_upload_gives_its_quote_back_and_leaves_nothing() {
    let app = free_app("[http]\nupload_idle_secs = 2\n").await;
    let alice = Wallet::new();
    let data = pattern(3 << 20, 5);
    let quote = free_quote(&app, &alice, &[data.len()]).await;
    let body = multipart(&[("half.bin", &data)]);
    let mut socket = start_upload(
        &app.base,
        &format!("/upload?{}", signed_query(&quote, &alice, nonce())),
        body.len(),
    )
    .await;
    socket.write_all(&body[..body.len() / 2]).await.unwrap();
    // Then nothing more, with the connection open.
    wait_for_status(&app, &quote, 2, Duration::from_secs(5)).await;
    let (status, answer) = read_answer(&mut socket, Duration::from_secs(20)).await;
    assert_eq!(status, 408, "{answer}");
    assert!(answer.contains("stalled"), "{answer}");
    wait_for_status(&app, &quote, 1, Duration::from_secs(5)).await;
    // Nothing staged is left: no CAR record, no block, no blob, no interrupted write.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.count("car_files").await + app.count("block_locations").await > 0
        || !blob_files(&app.env).is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "left behind: {:?}",
            blob_files(&app.env)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The same quote can be uploaded again.
    let (status, _) = upload(
        &app,
        &signed_query(&quote, &alice, nonce()),
        &[("whole.bin", &data)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(settled(&app, &quote).await, 400);
}

/// Sends `size` bytes as one file with Node's fetch and returns what the client saw.
fn node_upload(url: &str, size: usize) -> Value {
    wharf_tests::ensure_npm_packages();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js/refused-upload.mjs");
    let output = std::process::Command::new("node")
        .arg(script)
        .arg(url)
        .arg(size.to_string())
        .output()
        .expect("node runs");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "node printed {:?} / {:?}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[tokio::test]
async fn refusals_reach_a_client_still_sending() {
    let app = free_app("[dbs]\nquote_ttl_secs = 3\n").await;
    let alice = Wallet::new();
    let mallory = Wallet::new();
    let size = 16 << 20;
    let url = |query: String| app.url(&format!("/upload?{query}"));

    // Someone else's signature.
    let quote = free_quote(&app, &alice, &[size]).await;
    let seen = tokio::task::spawn_blocking({
        let url = url(signed_query(&quote, &mallory, nonce()));
        move || node_upload(&url, size)
    })
    .await
    .unwrap();
    assert_eq!(seen, json!({"status": 403, "body": "Invalid signature."}));

    // A nonce already used: a first (refused) upload consumed it.
    let used = nonce();
    let (status, _) = upload(&app, &signed_query(&quote, &alice, used), &[("x", b"x")]).await;
    assert_eq!(
        status, 400,
        "the wrong size is refused after the nonce is taken"
    );
    let seen = tokio::task::spawn_blocking({
        let url = url(signed_query(&quote, &alice, used));
        move || node_upload(&url, size)
    })
    .await
    .unwrap();
    assert_eq!(seen, json!({"status": 400, "body": "Nonce value invalid."}));

    // An expired quote.
    let expiring = free_quote(&app, &alice, &[size]).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let seen = tokio::task::spawn_blocking({
        let url = url(signed_query(&expiring, &alice, nonce()));
        move || node_upload(&url, size)
    })
    .await
    .unwrap();
    assert_eq!(
        seen,
        json!({"status": 400, "body": "Quote already expired, please create a new one."})
    );
    assert_eq!(status_of(&app, &quote).await, 1);
}

#[tokio::test]
async fn a_payment_still_pending_when_retries_are_spent_settles_once_mined() {
    let chain = chain::Chain::start().await;
    let app = crate::uploads::app(&chain, "[jobs]\nmax_retries = 0\npayment_wait_secs = 1\n").await;
    let alice = crate::uploads::user(2);
    let treasury = chain::signer(chain::TREASURY).address();
    let data = b"paid while the chain stood still".to_vec();
    let (quote, amount) = crate::uploads::quote(&app, &chain, &alice, &[data.len()]).await;
    chain.approve(2, treasury, amount).await;
    chain.stop_mining().await;
    let (status, _) = upload(
        &app,
        &signed_query(&quote, &alice, nonce()),
        &[("a", &data)],
    )
    .await;
    assert_eq!(status, 200);
    wait_for_status(&app, &quote, 101, Duration::from_secs(30)).await;
    // Several job runs' worth of waiting with no block: no retries are left for a failure.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(status_of(&app, &quote).await, 101);
    chain.start_mining().await;
    assert_eq!(settled(&app, &quote).await, 400);
    assert_eq!(
        chain.transfers(alice.address(), treasury).await,
        vec![amount],
        "exactly one Transfer"
    );
}

#[tokio::test]
async fn the_sweep_finishes_a_quote_whose_job_was_lost() {
    // Uploads are accepted by a process whose queue nobody serves: its jobs are lost for
    // the workers that run later under another queue prefix.
    let toml = "[[storages]]\ntype = \"ipfs\"\n[jobs]\nstale_after_secs = 1\n";
    let app = TestApp::spawn_with_toml(Some(toml), &[]).await;
    let alice = Wallet::new();
    let data = pattern(300_000, 9);
    let quote = free_quote(&app, &alice, &[data.len()]).await;
    let (status, _) = upload(
        &app,
        &signed_query(&quote, &alice, nonce()),
        &[("a", &data)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        status_of(&app, &quote).await,
        300,
        "handed to a job no one runs"
    );

    let (services, stop) = app.workers_under_another_prefix(toml).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stranded_at = Instant::now();
    let report = wharf_core::sweep::reconcile(&services).await.unwrap();
    assert_eq!(report.requeued_quotes, 1, "{report:?}");
    assert_eq!(settled(&app, &quote).await, 400);
    eprintln!(
        "figure: stranded quote to 400 in {:?} after the sweep",
        stranded_at.elapsed()
    );
    // Queued once: a second sweep right away leaves it alone.
    let again = wharf_core::sweep::reconcile(&services).await.unwrap();
    assert_eq!(again.requeued_quotes, 0);
    let _ = stop.send(());
}

#[tokio::test]
async fn removing_one_upload_never_hides_blocks_another_holds() {
    let chain = chain::Chain::start().await;
    // No workers yet: both uploads land before either payment is looked at.
    let mut app = TestApp::spawn_with_toml(
        Some(&crate::uploads::config(&chain, "")),
        &[("WHARF_TREASURY_KEY_1337", chain::KEYS[chain::TREASURY])],
    )
    .await;
    let treasury = chain::signer(chain::TREASURY).address();
    let data = pattern(700_000, 11);
    let unpaid = crate::uploads::user(3);
    let paying = crate::uploads::user(4);
    let (q_unpaid, _) = crate::uploads::quote(&app, &chain, &unpaid, &[data.len()]).await;
    let (q_paid, amount) = crate::uploads::quote(&app, &chain, &paying, &[data.len()]).await;
    chain.approve(4, treasury, amount).await;
    for (quote, who) in [(&q_unpaid, &unpaid), (&q_paid, &paying)] {
        let (status, _) =
            upload(&app, &signed_query(quote, who, nonce()), &[("same", &data)]).await;
        assert_eq!(status, 200);
    }
    app.spawn_workers();
    assert_eq!(settled(&app, &q_unpaid).await, 201, "no allowance");
    assert_eq!(settled(&app, &q_paid).await, 400);
    let cid = wharf_content::unixfs::file_cid(wharf_content::Profile::KUBO, &data);
    let file = app
        .client
        .get(app.url(&format!("/ipfs/{cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert!(file.bytes().await.unwrap()[..] == data[..]);
    // Every block, through a CAR of the whole DAG and one by one.
    let car = app
        .client
        .get(app.url(&format!("/ipfs/{cid}?format=car")))
        .send()
        .await
        .unwrap();
    assert_eq!(car.status(), 200);
    let car = car.bytes().await.unwrap();
    let mut reader = wharf_content::car::CarReader::new(&car[..]).unwrap();
    let mut blocks = Vec::new();
    while let Some(block) = reader.next_block().unwrap() {
        blocks.push((block.cid, block.data));
    }
    assert!(blocks.len() > 1, "a multi-block file");
    for (block_cid, _) in blocks {
        let raw = app
            .client
            .get(app.url(&format!("/ipfs/{block_cid}?format=raw")))
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 200, "block {block_cid}");
    }
}

#[tokio::test]
async fn a_treasury_lock_dropped_mid_payment_never_blocks_the_next() {
    use wharf_core::chain::TreasuryLock;
    let chain = chain::Chain::start().await;
    let app = crate::uploads::app(&chain, "").await;
    let services = app.services.clone();
    // A payment cancelled while it holds the lock, and one that panics holding it.
    for ending in ["cancelled", "panicked"] {
        let (held, is_held) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn({
            let services = services.clone();
            async move {
                let _lock = TreasuryLock::acquire(&services.db, &services.config.data_dir, 1337)
                    .await
                    .unwrap();
                let _ = held.send(());
                if ending == "panicked" {
                    panic!("a payment panicked holding the treasury lock");
                }
                std::future::pending::<()>().await;
            }
        });
        is_held.await.unwrap();
        if ending == "cancelled" {
            task.abort();
        }
        assert!(task.await.is_err(), "{ending}");
    }
    // The next payment on the chain goes through.
    let alice = crate::uploads::user(5);
    let treasury = chain::signer(chain::TREASURY).address();
    let (quote, amount) = crate::uploads::quote(&app, &chain, &alice, &[4]).await;
    chain.approve(5, treasury, amount).await;
    let (status, _) = upload(
        &app,
        &signed_query(&quote, &alice, nonce()),
        &[("a", b"abcd")],
    )
    .await;
    assert_eq!(status, 200);
    let outcome = tokio::time::timeout(Duration::from_secs(60), settled(&app, &quote)).await;
    assert_eq!(outcome.ok(), Some(400), "the payment after a dropped lock");
    // And no session is left holding an advisory lock.
    if services.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let held = app.count(
            "pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .await;
        assert_eq!(held, 0);
    }
}

async fn init(socket: &mut ws::Socket, payload: Value) {
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": payload}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(
        ws::next_json(socket).await.unwrap()["type"],
        "connection_ack"
    );
}

async fn subscribe_balance(socket: &mut ws::Socket, id: &str, token: &str) {
    socket
        .send(Message::text(
            json!({"id": id, "type": "subscribe", "payload": {
                "query": "subscription($t: String!) { balanceUpdates(token: $t) }",
                "variables": {"t": token}}})
            .to_string(),
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn subscriptions_are_capped_and_cost_no_queries_while_idle() {
    let app =
        TestApp::spawn_with(&[("WHARF_GRAPHQL__MAX_SUBSCRIPTIONS_PER_CONNECTION", "32")]).await;
    let token = app.new_token().await;
    let mut socket = ws::connect(&app).await;
    init(&mut socket, json!({})).await;
    for i in 0..200 {
        subscribe_balance(&mut socket, &format!("s{i}"), &token).await;
    }
    let (mut accepted, mut refused) = (0, 0);
    while accepted + refused < 200 {
        let message = ws::next_json(&mut socket).await.unwrap();
        // A refused subscription is a `next` carrying the error, then `complete`.
        let payload = &message["payload"];
        if message["type"] != "next" {
            continue;
        }
        if let Some(error) = payload["errors"].get(0) {
            assert_eq!(error["extensions"]["code"], "LIMIT_EXCEEDED", "{message}");
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .contains("max_subscriptions_per_connection"),
                "{message}"
            );
            refused += 1;
        } else {
            assert_eq!(payload["data"]["balanceUpdates"], 0, "{message}");
            accepted += 1;
        }
    }
    assert_eq!((accepted, refused), (32, 168));

    // A change reaches every subscriber.
    let (status, _) = app.move_bytes("deposit", &token, json!(1000)).await;
    assert_eq!(status, 200);
    let mut updated = 0;
    while updated < 32 {
        let message = ws::next_json(&mut socket).await.unwrap();
        if message["type"] == "next" {
            assert_eq!(message["payload"]["data"]["balanceUpdates"], 1000);
            updated += 1;
        }
    }

    // Idle subscribers cost no database statements, however many there are.
    let idle_cost = |app: &TestApp| {
        let statements = app.services.db_statements.clone();
        async move {
            let before = statements.load(std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(2)).await;
            statements.load(std::sync::atomic::Ordering::Relaxed) - before
        }
    };
    let with_32 = idle_cost(&app).await;
    let mut more = Vec::new();
    for _ in 0..3 {
        let mut extra = ws::connect(&app).await;
        init(&mut extra, json!({})).await;
        for i in 0..32 {
            subscribe_balance(&mut extra, &format!("x{i}"), &token).await;
        }
        for _ in 0..32 {
            assert_eq!(ws::next_json(&mut extra).await.unwrap()["type"], "next");
        }
        more.push(extra);
    }
    let with_128 = idle_cost(&app).await;
    eprintln!("figure: statements in 2 s idle with 32 subscribers {with_32}, with 128 {with_128}");
    assert!(
        with_32 <= 2 && with_128 <= 2,
        "idle subscriptions polled the database: {with_32} and {with_128} statements in 2 s"
    );
}

#[tokio::test]
async fn an_upload_whose_server_died_is_released_by_housekeeping() {
    let env = TestEnv::new().await;
    let toml = env.write_config("[[storages]]\ntype = \"ipfs\"\n[http]\nupload_idle_secs = 1\n");
    let vars = env.vars(&[("WHARF_CONFIG", toml.as_str()), ("WHARF_WORKERS", "true")]);
    let server = WharfProcess::start(&["serve"], &vars, env.data_dir.path()).await;
    let api = Api {
        client: reqwest::Client::new(),
        base: server.base.clone().unwrap(),
    };
    let alice = Wallet::new();
    let data = pattern(4 << 20, 13);
    let quote = free_quote_at(&api, &alice, &[data.len()]).await;
    let body = multipart(&[("a.bin", &data)]);
    let mut socket = start_upload(
        &api.base,
        &format!("/upload?{}", signed_query(&quote, &alice, nonce())),
        body.len(),
    )
    .await;
    socket.write_all(&body[..3 << 20]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_at(&api, &quote).await != 2 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // SIGKILL mid-upload: no guard runs.
    let pid = server.child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    drop(server);
    drop(socket);

    let server = WharfProcess::start(&["serve"], &vars, env.data_dir.path()).await;
    let api = Api {
        client: reqwest::Client::new(),
        base: server.base.clone().unwrap(),
    };
    assert_eq!(
        status_at(&api, &quote).await,
        2,
        "claimed by a dead process"
    );
    // Past the lease (idle limit + 20 s), housekeeping releases it and removes its files.
    tokio::time::sleep(Duration::from_secs(22)).await;
    let (status, body) = graphql_as_operator(&api, "mutation { runHousekeeping }").await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_at(&api, &quote).await != 1 {
        assert!(Instant::now() < deadline, "the quote was not released");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cars = env.data_dir.path().join("blobs").join("cars");
    let left: Vec<_> = std::fs::read_dir(&cars)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    // And the quote takes a new upload.
    let (status, _) = crate::uploads::upload_at(
        &api,
        &signed_query(&quote, &alice, nonce()),
        &[("a.bin", &data)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(server.terminate().await.success());
}

async fn graphql_as_operator(api: &Api, query: &str) -> (u16, Value) {
    let response = api
        .client
        .post(api.url("/graphql"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

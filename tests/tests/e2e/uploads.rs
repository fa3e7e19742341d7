//! The whole upload: quote -> approve -> upload -> worker pays on a real chain -> stored ->
//! getLink -> served by the gateway. And everything that must go wrong cleanly.
use std::time::Duration;

use alloy_primitives::U256;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wharf_core::uploads::upload::signed_text;
use wharf_tests::{
    TestApp, TestEnv, WharfProcess,
    chain::{self, Chain},
    wallet::Wallet,
};

pub(crate) fn config(chain: &Chain, extra: &str) -> String {
    format!(
        r#"
[[chains]]
chain_id = 1337
rpc_url = "{url}"
confirmations = 1
tokens = [{{ symbol = "OCEAN", address = "{token}", decimals = 18 }}]

[[storages]]
type = "ipfs"
description = "Content-addressed storage served by this gateway"
price_per_gib_month = {{ "1337:OCEAN" = "0.5" }}
{extra}
"#,
        url = chain.url,
        token = chain.token
    )
}

pub(crate) async fn app(chain: &Chain, extra: &str) -> TestApp {
    let mut app = TestApp::spawn_with_toml(
        Some(&config(chain, extra)),
        &[("WHARF_TREASURY_KEY_1337", chain::KEYS[chain::TREASURY])],
    )
    .await;
    app.spawn_workers();
    app
}

pub(crate) fn user(index: usize) -> Wallet {
    Wallet {
        signer: chain::signer(index),
    }
}

/// Where the API is: an in-process app or a `wharf serve` process.
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
}

impl Api {
    pub(crate) fn of(app: &TestApp) -> Api {
        Api {
            client: app.client.clone(),
            base: app.base.clone(),
        }
    }
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

pub(crate) async fn quote(
    app: &TestApp,
    chain: &Chain,
    owner: &Wallet,
    lengths: &[usize],
) -> (String, U256) {
    quote_at(&Api::of(app), chain, owner, lengths).await
}

pub(crate) async fn quote_at(
    app: &Api,
    chain: &Chain,
    owner: &Wallet,
    lengths: &[usize],
) -> (String, U256) {
    let body = json!({
        "type": "ipfs",
        "files": lengths.iter().map(|l| json!({"length": l})).collect::<Vec<_>>(),
        "duration": 2_592_000,
        "payment": {"chainId": "1337", "tokenAddress": chain.token.to_string()},
        "userAddress": owner.address().to_checksum(None),
    });
    let response = app
        .client
        .post(app.url("/getQuote"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let q: Value = response.json().await.unwrap();
    (
        q["quoteId"].as_str().unwrap().to_string(),
        U256::from_str_radix(q["tokenAmount"].as_str().unwrap(), 10).unwrap(),
    )
}

pub(crate) const BOUNDARY: &str = "wharf-test-boundary-7MA4YWxkTrZu0gW";

pub(crate) fn multipart(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (name, data)) in files.iter().enumerate() {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file{}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                i + 1
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

pub(crate) fn signed_query(quote_id: &str, wallet: &Wallet, nonce: u64) -> String {
    let signature = wallet.personal_sign(signed_text(quote_id, &nonce.to_string()).as_bytes());
    format!("quoteId={quote_id}&nonce={nonce}&signature={signature}")
}

pub(crate) async fn upload(app: &TestApp, query: &str, files: &[(&str, &[u8])]) -> (u16, Value) {
    upload_at(&Api::of(app), query, files).await
}

pub(crate) async fn upload_at(app: &Api, query: &str, files: &[(&str, &[u8])]) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(&format!("/upload?{query}")))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(files))
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

pub(crate) async fn status_of(app: &TestApp, quote_id: &str) -> i64 {
    status_at(&Api::of(app), quote_id).await
}

pub(crate) async fn status_at(app: &Api, quote_id: &str) -> i64 {
    let body: Value = app
        .client
        .get(app.url(&format!("/getStatus?quoteId={quote_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["status"].as_i64().unwrap()
}

/// Waits until the quote leaves the in-progress statuses.
pub(crate) async fn settled(app: &TestApp, quote_id: &str) -> i64 {
    settled_at(&Api::of(app), quote_id).await
}

pub(crate) async fn settled_at(app: &Api, quote_id: &str) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let s = status_at(app, quote_id).await;
        if ![1, 2, 100, 101, 300].contains(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "quote {quote_id} stuck at {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn nonce() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn quote_approve_upload_pay_store_link_and_serve() {
    let chain = Chain::start().await;
    let app = app(&chain, "").await;
    let alice = user(1);
    let treasury = chain::signer(chain::TREASURY).address();
    let big: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
    let small = b"hello wharf".to_vec();
    let (quote_id, amount) = quote(&app, &chain, &alice, &[big.len(), small.len()]).await;
    assert!(amount > U256::ZERO);

    chain.approve(1, treasury, amount).await;
    let treasury_before = chain.balance(treasury).await;
    let alice_before = chain.balance(alice.address()).await;

    let (status, body) = upload(
        &app,
        &signed_query(&quote_id, &alice, nonce()),
        &[("big.bin", &big), ("hello.txt", &small)],
    )
    .await;
    assert_eq!((status, body), (200, json!("File upload succeeded.")));
    assert_eq!(settled(&app, &quote_id).await, 400);

    // Exactly the quoted amount moved, in exactly one transfer.
    assert_eq!(chain.balance(treasury).await, treasury_before + amount);
    assert_eq!(chain.balance(alice.address()).await, alice_before - amount);
    assert_eq!(
        chain.transfers(alice.address(), treasury).await,
        vec![amount]
    );

    let link_query = signed_query(&quote_id, &alice, nonce() + 1);
    let link: Value = app
        .client
        .get(app.url(&format!("/getLink?{link_query}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let links = link.as_array().unwrap();
    assert_eq!(links.len(), 2);
    let small_cid = wharf_content::unixfs::file_cid(wharf_content::Profile::KUBO, &small);
    assert_eq!(links[1]["cid"], small_cid.to_string().as_str());
    for (link, data) in links.iter().zip([&big, &small]) {
        assert_eq!(link["type"], "ipfs");
        let cid = link["cid"].as_str().unwrap();
        let served = app
            .client
            .get(app.url(&format!("/ipfs/{cid}")))
            .send()
            .await
            .unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(&served.bytes().await.unwrap()[..], &data[..]);
    }
    // The same nonce again is a replay.
    let replay = app
        .client
        .get(app.url(&format!("/getLink?{link_query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    assert_eq!(
        replay.json::<Value>().await.unwrap(),
        json!("Nonce value invalid.")
    );
}

#[tokio::test]
async fn payment_failures_end_in_their_status_with_nothing_stored() {
    let chain = Chain::start().await;
    let app = app(&chain, "").await;
    let treasury = chain::signer(chain::TREASURY).address();
    let data = b"pay me".to_vec();
    let cid = wharf_content::unixfs::file_cid(wharf_content::Profile::KUBO, &data);

    // No allowance: 201.
    let alice = user(2);
    let (q1, _) = quote(&app, &chain, &alice, &[data.len()]).await;
    let (status, _) = upload(&app, &signed_query(&q1, &alice, nonce()), &[("a", &data)]).await;
    assert_eq!(status, 200);
    assert_eq!(settled(&app, &q1).await, 201);

    // Allowance but no balance: 202 (Carol gives all her tokens away first).
    let carol = user(7);
    let (q2, amount) = quote(&app, &chain, &carol, &[data.len()]).await;
    chain.approve(7, treasury, amount).await;
    let everything = chain.balance(carol.address()).await;
    chain
        .transfer(7, chain::signer(8).address(), everything)
        .await;
    let (status, _) = upload(&app, &signed_query(&q2, &carol, nonce()), &[("a", &data)]).await;
    assert_eq!(status, 200);
    assert_eq!(settled(&app, &q2).await, 202);

    // A transferFrom that reverts: 203.
    let bob = user(3);
    let (q3, amount3) = quote(&app, &chain, &bob, &[data.len()]).await;
    chain.approve(3, treasury, amount3).await;
    chain.set_fail_transfers_from(true).await;
    let (status, _) = upload(&app, &signed_query(&q3, &bob, nonce()), &[("a", &data)]).await;
    assert_eq!(status, 200);
    assert_eq!(settled(&app, &q3).await, 203, "a reverting transferFrom");
    chain.set_fail_transfers_from(false).await;

    // Nothing was stored for the failed quotes, and nothing moved.
    assert!(chain.transfers(alice.address(), treasury).await.is_empty());
    assert!(chain.transfers(bob.address(), treasury).await.is_empty());
    assert!(chain.transfers(carol.address(), treasury).await.is_empty());
    let gateway = app
        .client
        .get(app.url(&format!("/ipfs/{cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        gateway.status(),
        404,
        "payment failed: the upload is not served"
    );
}

#[tokio::test]
async fn signatures_owners_nonces_and_expiry() {
    let chain = Chain::start().await;
    let app = app(&chain, "[dbs]\nquote_ttl_secs = 2\n").await;
    let alice = user(4);
    let mallory = user(5);
    let data = b"x".to_vec();
    let (q, _) = quote(&app, &chain, &alice, &[1]).await;

    // Someone else's signature on Alice's quote.
    let (status, body) = upload(&app, &signed_query(&q, &mallory, nonce()), &[("x", &data)]).await;
    assert_eq!((status, body), (403, json!("Invalid signature.")));
    // Garbage signature, missing parameters, unknown quote.
    let (status, body) = upload(
        &app,
        &format!("quoteId={q}&nonce=5&signature=0xdead"),
        &[("x", &data)],
    )
    .await;
    assert_eq!((status, body), (400, json!("Invalid signature.")));
    let (status, body) = upload(&app, &format!("quoteId={q}"), &[("x", &data)]).await;
    assert_eq!((status, body), (400, json!("Missing query parameters.")));
    let (status, body) = upload(&app, "quoteId=ffff&nonce=1&signature=0x00", &[("x", &data)]).await;
    assert_eq!((status, body), (404, json!("Quote does not exist.")));
    // A used nonce is refused.
    let n = nonce();
    let (status, _) = upload(&app, &signed_query(&q, &alice, n), &[]).await;
    assert_eq!(status, 400, "no files");
    let (status, body) = upload(&app, &signed_query(&q, &alice, n), &[("x", &data)]).await;
    assert_eq!((status, body), (400, json!("Nonce value invalid.")));
    assert_eq!(
        status_of(&app, &q).await,
        1,
        "refused uploads leave the quote waiting"
    );

    // Expired quotes are refused.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (status, body) = upload(&app, &signed_query(&q, &alice, nonce()), &[("x", &data)]).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!("Quote already expired, please create a new one.")
        )
    );
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing_behind() {
    let chain = Chain::start().await;
    let app = app(&chain, "").await;
    let alice = user(6);
    let data = vec![7u8; 300_000];
    let (q, _) = quote(&app, &chain, &alice, &[data.len()]).await;

    // A size that differs from the quote.
    let (status, body) = upload(
        &app,
        &signed_query(&q, &alice, nonce()),
        &[("a", &data[..1000])],
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!("File sizes differ from the quote."))
    );
    let (status, body) = upload(
        &app,
        &signed_query(&q, &alice, nonce()),
        &[("a", &[data.clone(), vec![1]].concat())],
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!("File sizes differ from the quote."))
    );
    let (status, _) = upload(
        &app,
        &signed_query(&q, &alice, nonce()),
        &[("a", &data), ("b", &data)],
    )
    .await;
    assert_eq!(status, 400, "more files than quoted");
    let (status, _) = upload(&app, &signed_query(&q, &alice, nonce()), &[]).await;
    assert_eq!(status, 400, "no files");

    // A multipart body cut off half way.
    let body = multipart(&[("a", &data)]);
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /upload?{} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        signed_query(&q, &alice, nonce()),
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body[..body.len() / 2]).await.unwrap();
    socket.shutdown().await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");

    // Nothing of the refused uploads is left: no CAR, no block, and the quote still waits.
    assert_eq!(status_of(&app, &q).await, 1);
    for table in ["car_files", "block_locations"] {
        assert_eq!(app.count(table).await, 0, "{table} not cleaned up");
    }
    // Endless non-file form fields are cut short.
    let mut junk = Vec::new();
    for i in 0..100 {
        junk.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n")
                .as_bytes(),
        );
    }
    junk.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let response = app
        .client
        .post(app.url(&format!("/upload?{}", signed_query(&q, &alice, nonce()))))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(junk)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(status_of(&app, &q).await, 1);

    // And the right upload still works afterwards.
    let (status, _) = upload(&app, &signed_query(&q, &alice, nonce()), &[("a", &data)]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_worker_killed_after_sending_the_payment_is_replaced_and_pays_once() {
    let chain = Chain::start().await;
    let env = TestEnv::new().await;
    let toml = env.write_config(&config(&chain, "[jobs]\nheartbeat_secs = 1\n"));
    let vars = env.vars(&[
        ("WHARF_CONFIG", toml.as_str()),
        ("WHARF_TREASURY_KEY_1337", chain::KEYS[chain::TREASURY]),
        ("WHARF_WORKERS", "false"),
    ]);
    let server = WharfProcess::start(&["serve"], &vars, env.data_dir.path()).await;
    let api = Api {
        client: reqwest::Client::new(),
        base: server.base.clone().unwrap(),
    };
    let first_worker = WharfProcess::start(&["worker"], &vars, env.data_dir.path()).await;

    let alice = user(8);
    let treasury = chain::signer(chain::TREASURY).address();
    let data = b"crash me after paying".to_vec();
    let (q, amount) = quote_at(&api, &chain, &alice, &[data.len()]).await;
    chain.approve(8, treasury, amount).await;
    // Hold blocks back: the payment is sent and stays pending while the worker waits.
    chain.stop_mining().await;
    let (status, _) = upload_at(&api, &signed_query(&q, &alice, nonce()), &[("a", &data)]).await;
    assert_eq!(status, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while status_at(&api, &q).await != 101 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the payment was never sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGKILL: no chance to clean up or hand the job back.
    let pid = first_worker.child.id().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    drop(first_worker);
    chain.start_mining().await;

    let second_worker = WharfProcess::start(&["worker"], &vars, env.data_dir.path()).await;
    assert_eq!(settled_at(&api, &q).await, 400);
    assert_eq!(
        chain.transfers(alice.address(), treasury).await,
        vec![amount],
        "exactly one Transfer on chain"
    );
    assert!(second_worker.terminate().await.success());
    assert!(server.terminate().await.success());
}

/// `count` one-file quotes spread over users 1..=`users`, each user approving the sum of its
/// quotes at once: `(quote id, amount, user, file bytes)`.
async fn quotes_approved(
    api: &Api,
    chain: &Chain,
    count: usize,
    users: usize,
) -> Vec<(String, U256, usize, Vec<u8>)> {
    let treasury = chain::signer(chain::TREASURY).address();
    let mut quotes = Vec::new();
    for i in 0..count {
        let owner = 1 + i % users;
        let data = format!("file number {i}").into_bytes();
        let (q, amount) = quote_at(api, chain, &user(owner), &[data.len()]).await;
        quotes.push((q, amount, owner, data));
    }
    for owner in 1..=users {
        let total = quotes
            .iter()
            .filter(|(_, _, o, _)| *o == owner)
            .fold(U256::ZERO, |acc, (_, a, _, _)| acc + *a);
        chain.approve(owner, treasury, total).await;
    }
    quotes
}

/// Scaled mode: `wharf serve` without workers and two `wharf worker` processes sharing the
/// queue (Redis in CI's second run). Every upload is paid exactly once and stored.
#[tokio::test]
async fn two_worker_processes_share_the_uploads_and_pay_each_once() {
    let chain = Chain::start().await;
    let env = TestEnv::new().await;
    let toml = env.write_config(&config(&chain, ""));
    let vars = env.vars(&[
        ("WHARF_CONFIG", toml.as_str()),
        ("WHARF_TREASURY_KEY_1337", chain::KEYS[chain::TREASURY]),
        ("WHARF_WORKERS", "false"),
    ]);
    let server = WharfProcess::start(&["serve"], &vars, env.data_dir.path()).await;
    let api = Api {
        client: reqwest::Client::new(),
        base: server.base.clone().unwrap(),
    };
    let workers = [
        WharfProcess::start(&["worker"], &vars, env.data_dir.path()).await,
        WharfProcess::start(&["worker"], &vars, env.data_dir.path()).await,
    ];
    let treasury = chain::signer(chain::TREASURY).address();
    let quotes = quotes_approved(&api, &chain, 12, 4).await;
    let base_nonce = nonce();
    for (i, (q, _, owner, data)) in quotes.iter().enumerate() {
        let query = signed_query(q, &user(*owner), base_nonce + i as u64);
        assert_eq!(upload_at(&api, &query, &[("f", data)]).await.0, 200);
    }
    let mut link_nonce = nonce() + 100_000;
    for (q, _, owner, data) in &quotes {
        assert_eq!(settled_at(&api, q).await, 400, "quote {q}");
        link_nonce += 1;
        let link: Value = api
            .client
            .get(api.url(&format!(
                "/getLink?{}",
                signed_query(q, &user(*owner), link_nonce)
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cid = link[0]["cid"].as_str().unwrap();
        let served = api
            .client
            .get(api.url(&format!("/ipfs/{cid}")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(served.as_ref(), data.as_slice());
    }
    for owner in 1..=4usize {
        let expected: Vec<U256> = quotes
            .iter()
            .filter(|(_, _, o, _)| *o == owner)
            .map(|(_, a, _, _)| *a)
            .collect();
        let mut paid = chain
            .transfers(chain::signer(owner).address(), treasury)
            .await;
        let mut expected = expected;
        paid.sort();
        expected.sort();
        assert_eq!(paid, expected, "one transfer per quote of user {owner}");
    }
    for worker in workers {
        assert!(worker.terminate().await.success());
    }
    assert!(server.terminate().await.success());
}

#[tokio::test]
async fn fifty_concurrent_uploads_to_different_quotes_all_complete() {
    let chain = Chain::start().await;
    let app = app(&chain, "").await;
    let treasury = chain::signer(chain::TREASURY).address();
    let api = Api::of(&app);
    let quotes = quotes_approved(&api, &chain, 50, 5).await;
    let base_nonce = nonce();
    let uploads: Vec<_> = quotes
        .iter()
        .enumerate()
        .map(|(i, (q, _, owner, data))| {
            let api = Api {
                client: api.client.clone(),
                base: api.base.clone(),
            };
            let query = signed_query(q, &user(*owner), base_nonce + i as u64);
            let data = data.clone();
            tokio::spawn(async move { upload_at(&api, &query, &[("f", &data)]).await })
        })
        .collect();
    let mut refused = 0;
    for u in uploads {
        let (status, _) = u.await.unwrap();
        // Nonces of one user race each other: a later nonce may land first. A refused upload
        // is retried below with a fresh nonce, as a client would.
        if status != 200 {
            refused += 1;
        }
    }
    for (i, (q, _, owner, data)) in quotes.iter().enumerate() {
        if status_at(&api, q).await == 1 {
            let query = signed_query(q, &user(*owner), nonce() + 1000 + i as u64);
            assert_eq!(upload_at(&api, &query, &[("f", data)]).await.0, 200);
        }
    }
    for (q, _, _, _) in &quotes {
        assert_eq!(settled_at(&api, q).await, 400, "quote {q}");
    }
    let paid: usize = {
        let mut n = 0;
        for owner in 1..=5usize {
            n += chain
                .transfers(chain::signer(owner).address(), treasury)
                .await
                .len();
        }
        n
    };
    assert_eq!(
        paid, 50,
        "one transfer per quote ({refused} uploads had to be retried)"
    );
}

/// An app whose only storage is a free `ipfs`, with workers running: no chain needed.
pub(crate) async fn free_app() -> TestApp {
    let toml = "[[storages]]\ntype = \"ipfs\"\n[auth]\nsiwe_domain = \"wharf.test\"\n";
    let mut app = TestApp::spawn_with_toml(Some(toml), &[]).await;
    app.spawn_workers();
    app
}

#[tokio::test]
async fn free_storage_status_subscription_and_history() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use wharf_tests::ws;

    let app = free_app().await;
    let alice = Wallet::new();
    let body = json!({
        "type": "ipfs", "files": [{"length": 5}], "duration": 60,
        "payment": {"chainId": "0", "tokenAddress": "0x0000000000000000000000000000000000000000"},
        "userAddress": alice.address().to_checksum(None),
    });
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

    // Watch the status over graphql-ws as the owner.
    let token = app.sign_in(&alice, "wharf.test").await;
    let mut socket = ws::connect(&app).await;
    socket
        .send(Message::text(json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}}).to_string()))
        .await
        .unwrap();
    assert_eq!(
        ws::next_json(&mut socket).await.unwrap()["type"],
        "connection_ack"
    );
    socket
        .send(Message::text(
            json!({"id": "s", "type": "subscribe", "payload": {"query": "subscription($id: String!) { quoteStatus(id: $id) }", "variables": {"id": id}}}).to_string(),
        ))
        .await
        .unwrap();
    let first = ws::next_json(&mut socket).await.unwrap();
    assert_eq!(first["payload"]["data"]["quoteStatus"], 1, "{first}");

    let (status, _) = upload(
        &app,
        &signed_query(&id, &alice, nonce()),
        &[("hello.txt", b"hello")],
    )
    .await;
    assert_eq!(status, 200);
    let mut seen = vec![1];
    while let Some(msg) = ws::next_json(&mut socket).await {
        match msg["type"].as_str() {
            Some("next") => seen.push(msg["payload"]["data"]["quoteStatus"].as_i64().unwrap()),
            Some("complete") => break,
            _ => {}
        }
    }
    assert_eq!(seen.last(), Some(&400), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] != w[1]),
        "only changes are pushed: {seen:?}"
    );

    // History, signed over sha256("" + nonce).
    let n = nonce();
    let signature = alice.personal_sign(signed_text("", &n.to_string()).as_bytes());
    let history_url = app.url(&format!(
        "/getHistory?userAddress={}&nonce={n}&signature={signature}&storage=ipfs&page=1&pageSize=10",
        alice.address().to_checksum(None)
    ));
    let history: Value = app
        .client
        .get(&history_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["type"], "ipfs");
    assert_eq!(history["maxPages"], 1);
    assert_eq!(history["data"][0]["quoteId"], id.as_str());
    assert_eq!(history["data"][0]["status"], 400);
    // A replay of the same signed history request is refused.
    let replay = app.client.get(&history_url).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    let missing = app
        .client
        .get(app.url("/getHistory?storage=ipfs"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
}

#[tokio::test]
async fn quotes_paid_with_byte_credits_skip_the_chain_and_are_refunded_when_unused() {
    // The chain is configured but unreachable: a credit-paid quote must never touch it.
    let toml = r#"
[[chains]]
chain_id = 1337
rpc_url = "http://127.0.0.1:9"
tokens = [{ symbol = "OCEAN", address = "0x5FbDB2315678afecb367f032d93F642f64180aa3", decimals = 18 }]
[[storages]]
type = "ipfs"
price_per_gib_month = { "1337:OCEAN" = "0.5" }
[auth]
siwe_domain = "wharf.test"
[dbs]
quote_ttl_secs = 4
"#;
    let mut app =
        TestApp::spawn_with_toml(Some(toml), &[("WHARF_TREASURY_KEY_1337", chain::KEYS[0])]).await;
    app.spawn_workers();
    let alice = Wallet::new();
    let session = app.sign_in(&alice, "wharf.test").await;
    let (_, created) = app
        .graphql(
            "mutation { createAccessToken { token } }",
            json!({}),
            Some(&session),
        )
        .await;
    let token = created["data"]["createAccessToken"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    app.move_bytes("deposit", &token, json!(10_000)).await;

    let create = "mutation($i: CreateQuoteInput!) { createQuote(input: $i) { id } }";
    let pay = "mutation($q: String!, $t: String!) { payQuoteWithCredits(quoteId: $q, accessToken: $t) { id paidWithCredits } }";
    let input = |len: u64| {
        json!({"i": {"storage": "ipfs", "fileLengths": [len], "duration": 2592001, "chainId": 1337,
                     "tokenAddress": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}})
    };
    let (_, q) = app.graphql(create, input(1000), Some(&session)).await;
    let quote_id = q["data"]["createQuote"]["id"].as_str().unwrap().to_string();

    // Someone else's token, then too little credit, leave everything as it was.
    let other = app.new_token().await;
    app.move_bytes("deposit", &other, json!(10_000)).await;
    let (_, body) = app
        .graphql(pay, json!({"q": quote_id, "t": other}), Some(&session))
        .await;
    assert_eq!(wharf_tests::error_code(&body), Some("FORBIDDEN"), "{body}");
    let (_, big) = app.graphql(create, input(6000), Some(&session)).await;
    let big_id = big["data"]["createQuote"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = app
        .graphql(pay, json!({"q": big_id, "t": token}), Some(&session))
        .await;
    assert_eq!(
        wharf_tests::error_code(&body),
        Some("CONFLICT"),
        "12,000 bytes of credit needed: {body}"
    );
    assert_eq!(app.balance(&token).await, 10_000);

    // 1,000 bytes for two started months: 2,000 bytes of credit.
    let (_, body) = app
        .graphql(pay, json!({"q": quote_id, "t": token}), Some(&session))
        .await;
    assert_eq!(
        body["data"]["payQuoteWithCredits"]["paidWithCredits"], true,
        "{body}"
    );
    assert_eq!(app.balance(&token).await, 8_000);
    let (_, again) = app
        .graphql(pay, json!({"q": quote_id, "t": token}), Some(&session))
        .await;
    assert_eq!(
        wharf_tests::error_code(&again),
        Some("CONFLICT"),
        "paid once only"
    );
    let data = vec![3u8; 1000];
    let (status, _) = upload(
        &app,
        &signed_query(&quote_id, &alice, nonce()),
        &[("f", &data)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(settled(&app, &quote_id).await, 400);

    // A paid quote that expires unused gets its credits back.
    let (_, q2) = app.graphql(create, input(500), Some(&session)).await;
    let unused = q2["data"]["createQuote"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.graphql(pay, json!({"q": unused, "t": token}), Some(&session))
        .await;
    assert_eq!(app.balance(&token).await, 7_000);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let (_, run) = app
        .graphql(
            "mutation { runHousekeeping }",
            json!({}),
            Some(wharf_tests::ADMIN_KEY),
        )
        .await;
    assert!(run["data"]["runHousekeeping"].is_string(), "{run}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.balance(&token).await != 8_000 {
        assert!(tokio::time::Instant::now() < deadline, "no refund");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status_of(&app, &unused).await, 299);
}

pub(crate) fn graphql_multipart(quote_id: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let nulls: Vec<Value> = files.iter().map(|_| Value::Null).collect();
    let operations = json!({
        "query": "mutation($q: String!, $f: [Upload!]!) { uploadFiles(quoteId: $q, files: $f) { id status } }",
        "variables": {"q": quote_id, "f": nulls},
    });
    let map: serde_json::Map<String, Value> = (0..files.len())
        .map(|i| (i.to_string(), json!([format!("variables.f.{i}")])))
        .collect();
    let mut body = Vec::new();
    for (name, value) in [
        ("operations", operations.to_string()),
        ("map", Value::Object(map).to_string()),
    ] {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (i, (name, data)) in files.iter().enumerate() {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{i}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn graphql_multipart_upload_needs_a_preflight_header_and_the_owner() {
    let app = free_app().await;
    let alice = Wallet::new();
    let mallory = Wallet::new();
    let alice_session = app.sign_in(&alice, "wharf.test").await;
    let mallory_session = app.sign_in(&mallory, "wharf.test").await;
    let create = "mutation($i: CreateQuoteInput!) { createQuote(input: $i) { id } }";
    let (_, q) = app
        .graphql(
            create,
            json!({"i": {"storage": "ipfs", "fileLengths": [5, 3], "duration": 60, "chainId": 0,
                          "tokenAddress": "0x0000000000000000000000000000000000000000"}}),
            Some(&alice_session),
        )
        .await;
    let id = q["data"]["createQuote"]["id"].as_str().unwrap().to_string();
    let files: [(&str, &[u8]); 2] = [("a.txt", b"hello"), ("b.txt", b"abc")];
    let send = |session: String, preflight: bool, body: Vec<u8>| {
        let mut request = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(session)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        if preflight {
            request = request.header("apollo-require-preflight", "true");
        }
        async move {
            let r = request.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // No preflight header: refused before anything is read (CSRF).
    let (status, body) = send(alice_session.clone(), false, graphql_multipart(&id, &files)).await;
    assert_eq!(status, 400, "{body}");
    // Another wallet: the quote does not exist for it.
    let (_, body) = send(mallory_session, true, graphql_multipart(&id, &files)).await;
    assert_eq!(wharf_tests::error_code(&body), Some("NOT_FOUND"), "{body}");
    // Wrong sizes: refused, nothing kept, the quote still waits.
    let (_, body) = send(
        alice_session.clone(),
        true,
        graphql_multipart(&id, &[("a", b"hi"), ("b", b"abc")]),
    )
    .await;
    assert_eq!(
        wharf_tests::error_code(&body),
        Some("BAD_USER_INPUT"),
        "{body}"
    );
    assert_eq!(status_of(&app, &id).await, 1);
    // The owner with the header: accepted, paid (free), stored, served.
    let (status, body) = send(alice_session, true, graphql_multipart(&id, &files)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(settled(&app, &id).await, 400);
    let cid = wharf_content::unixfs::file_cid(wharf_content::Profile::KUBO, b"hello");
    let served = app
        .client
        .get(app.url(&format!("/ipfs/{cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(served.bytes().await.unwrap(), &b"hello"[..]);
}

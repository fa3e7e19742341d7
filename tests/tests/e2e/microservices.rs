//! Storages served by registered legacy microservices: signed registration with a TTL, and
//! quote -> upload -> status -> link -> history forwarded over the legacy protocol to a double
//! of the arweave service, which fetches the files by CID from wharf's own gateway.
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wharf_core::uploads::upload::signed_text;
use wharf_tests::{TestApp, microservice::StorageDouble, wallet::Wallet};

use crate::uploads::{Api, BOUNDARY, graphql_multipart, nonce, signed_query, status_at, upload_at};

fn config(signer: &Wallet, ttl_secs: u64) -> String {
    format!(
        "[auth]\nsiwe_domain = \"wharf.test\"\n[dbs]\nregistration_signer = \"{}\"\nregistration_ttl_secs = {ttl_secs}\n",
        signer.address_hex()
    )
}

async fn app(signer: &Wallet, ttl_secs: u64) -> TestApp {
    let mut app = TestApp::spawn_with_toml(Some(&config(signer, ttl_secs)), &[]).await;
    app.spawn_workers();
    app
}

/// The storages on offer other than the built-in default `ipfs`.
async fn storages(app: &TestApp) -> Vec<Value> {
    let list: Value = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list[0]["type"], "ipfs", "built-in storages come first");
    list[1..].to_vec()
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn quote_body(kind: &str, token: &str, owner: &Wallet, lengths: &[usize]) -> Value {
    json!({
        "type": kind,
        "files": lengths.iter().map(|l| json!({"length": l})).collect::<Vec<_>>(),
        "duration": 2_592_000,
        "payment": {"chainId": "1337", "tokenAddress": token},
        "userAddress": owner.address().to_checksum(None),
    })
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn registrations_are_signed_refreshed_and_expire() {
    let signer = Wallet::new();
    let app = app(&signer, 2).await;
    let double = StorageDouble::start("arweave", Wallet::new().address()).await;

    let (status, body) = double.register(&app.base, &Wallet::new()).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        "Registration request received from non-approved address."
    );
    let (status, body) =
        post_json(&app, "/register", &json!({"type": "x", "url": double.url})).await;
    assert_eq!((status, body), (400, json!("Invalid input data.")));
    let (status, body) = post_json(
        &app,
        "/register",
        &json!({"type": "x", "url": double.url, "signature": "0x1234"}),
    )
    .await;
    assert_eq!((status, body), (400, json!("Invalid signature.")));
    let bad_url = "ftp://nowhere";
    let (status, body) = post_json(
        &app,
        "/register",
        &json!({"type": "x", "url": bad_url, "signature": signer.personal_sign(bad_url.as_bytes())}),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"url": ["Enter a valid URL."]}))
    );
    assert!(storages(&app).await.is_empty(), "nothing registered yet");
    // The built-in storage cannot be taken over by a registration.
    let (status, _) = post_json(
        &app,
        "/register",
        &json!({"type": "ipfs", "url": double.url, "signature": signer.personal_sign(double.url.as_bytes())}),
    )
    .await;
    assert_eq!(status, 409);

    let (status, body) = double.register(&app.base, &signer).await;
    assert_eq!((status, body), (201, json!("Desired storage created.")));
    let listed = storages(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["type"], "arweave");
    assert_eq!(listed[0]["payment"][0]["chainId"], "1337");
    assert_eq!(
        listed[0]["payment"][0]["acceptedTokens"][0]["title"],
        "OCEAN"
    );
    assert!(
        listed[0].get("url").is_none(),
        "the service's URL is not shown"
    );
    let (status, body) = double.register(&app.base, &signer).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!("Chosen storage type is already active and registered.")
        )
    );

    // Not renewed within the TTL: gone from the list and from quoting.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        storages(&app).await.is_empty(),
        "expired registration still listed"
    );
    let owner = Wallet::new();
    let token = double.token.to_checksum(None);
    let (status, body) = post_json(
        &app,
        "/getQuote",
        &quote_body("arweave", &token, &owner, &[5]),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "Chosen storage type does not exist."}))
    );
    let (status, body) = double.register(&app.base, &signer).await;
    assert_eq!(
        (status, body),
        (201, json!("Chosen storage type reactivated."))
    );
    assert_eq!(storages(&app).await.len(), 1);
}

#[tokio::test]
async fn microservice_quote_upload_status_link_and_history() {
    let signer = Wallet::new();
    let app = app(&signer, 600).await;
    let api = Api::of(&app);
    let double = StorageDouble::start("arweave", Wallet::new().address()).await;
    double.set_gateway(&app.url("/ipfs/"));
    assert_eq!(double.register(&app.base, &signer).await.0, 201);
    let alice = Wallet::new();
    let first: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let second = b"a small second file".to_vec();
    let token = double.token.to_checksum(None);

    let (status, quote) = post_json(
        &app,
        "/getQuote",
        &quote_body("arweave", &token, &alice, &[first.len(), second.len()]),
    )
    .await;
    assert_eq!(status, 201, "{quote}");
    let quote_id = quote["quoteId"].as_str().unwrap().to_string();
    assert!(
        double.lock().quotes.contains_key(&quote_id),
        "the service's own quote id"
    );
    let total = (first.len() + second.len()) as u128;
    assert_eq!(
        quote["tokenAmount"],
        (total * 1_000_000_000_000).to_string()
    );
    assert_eq!(
        quote["approveAddress"],
        double.approve_address.to_checksum(None)
    );
    assert_eq!(quote["chainId"], "1337");

    let query = signed_query(&quote_id, &alice, nonce());
    let (status, body) = upload_at(
        &api,
        &query,
        &[("first.bin", &first), ("second.txt", &second)],
    )
    .await;
    assert_eq!((status, body), (200, json!("File upload succeeded.")));

    // The status is the service's, proxied; the double fetches both files from /ipfs/.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        let s = status_at(&api, &quote_id).await;
        if s == 400 || (s > 400 && s < 500) {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "stuck at {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, 400);
    assert_eq!(double.lock().uploads_accepted, 1);

    // Someone else cannot read the link; the owner gets the service's links, one per file,
    // derived from exactly the bytes it fetched.
    let mallory = Wallet::new();
    let (status, body) = get(
        &app,
        &format!("/getLink?{}", signed_query(&quote_id, &mallory, nonce())),
    )
    .await;
    assert_eq!((status, body), (403, json!("Invalid signature.")));
    let (status, links) = get(
        &app,
        &format!("/getLink?{}", signed_query(&quote_id, &alice, nonce() + 1)),
    )
    .await;
    assert_eq!(status, 200, "{links}");
    let expected: Vec<Value> = [&first, &second]
        .iter()
        .map(|bytes| {
            json!({"type": "arweave", "transactionHash":
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))})
        })
        .collect();
    assert_eq!(links, Value::Array(expected));

    // History is the service's, for a signature over "" + nonce.
    let history_nonce = (nonce() + 2).to_string();
    let signature = alice.personal_sign(signed_text("", &history_nonce).as_bytes());
    let (status, history) = get(
        &app,
        &format!(
            "/getHistory?userAddress={}&nonce={history_nonce}&signature={signature}&storage=arweave&page=1&pageSize=5",
            alice.address().to_checksum(None)
        ),
    )
    .await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["type"], "arweave");
    assert_eq!(history["maxPages"], 1);
    assert_eq!(history["data"][0]["quoteId"], quote_id.as_str());
    assert_eq!(history["data"][0]["status"], 400);
}

#[tokio::test]
async fn microservice_refusals_reach_the_client_and_fail_the_quote() {
    let signer = Wallet::new();
    let app = app(&signer, 600).await;
    let api = Api::of(&app);
    let double = StorageDouble::start("arweave", Wallet::new().address()).await;
    double.set_gateway(&app.url("/ipfs/"));
    assert_eq!(double.register(&app.base, &signer).await.0, 201);
    let alice = Wallet::new();

    // The service's own validation comes back as it said it.
    let other_token = Wallet::new().address().to_checksum(None);
    let (status, body) = post_json(
        &app,
        "/getQuote",
        &quote_body("arweave", &other_token, &alice, &[4]),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"message": "Payment token not accepted."}))
    );

    // The service refuses the upload wharf forwards (here: it holds the quote for another
    // user): the quote fails with 401 and the client sees it in getStatus.
    let token = double.token.to_checksum(None);
    let (status, quote) = post_json(
        &app,
        "/getQuote",
        &quote_body("arweave", &token, &alice, &[4]),
    )
    .await;
    assert_eq!(status, 201);
    let quote_id = quote["quoteId"].as_str().unwrap().to_string();
    double.lock().quotes.get_mut(&quote_id).unwrap().user = Wallet::new().address();
    let (status, _) = upload_at(
        &api,
        &signed_query(&quote_id, &alice, nonce()),
        &[("a", b"abcd")],
    )
    .await;
    assert_eq!(status, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s = status_at(&api, &quote_id).await;
        if s == 401 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "stuck at {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(double.lock().uploads_accepted, 0);
    let stored = app.services.quotes.get(&quote_id).await.unwrap();
    assert_eq!(stored.forwarded_at, None);

    // A registered service that does not answer: 502, not a client error.
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", listener.local_addr().unwrap())
    };
    let (status, _) = post_json(
        &app,
        "/register",
        &json!({"type": "filecoin", "url": gone, "signature": signer.personal_sign(gone.as_bytes())}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = post_json(
        &app,
        "/getQuote",
        &quote_body("filecoin", &token, &alice, &[4]),
    )
    .await;
    assert_eq!(
        (status, body),
        (502, json!({"error": "No response received"}))
    );
}

#[tokio::test]
async fn graphql_uploads_to_a_microservice_quote_are_refused_with_a_reason() {
    let signer = Wallet::new();
    let app = app(&signer, 600).await;
    let double = StorageDouble::start("arweave", Wallet::new().address()).await;
    assert_eq!(double.register(&app.base, &signer).await.0, 201);
    let alice = Wallet::new();
    let session = app.sign_in(&alice, "wharf.test").await;
    let (_, created) = app
        .graphql(
            "mutation($i: CreateQuoteInput!) { createQuote(input: $i) { id tokenAmount } }",
            json!({"i": {"storage": "arweave", "fileLengths": [3], "duration": 60, "chainId": 1337,
                          "tokenAddress": double.token.to_checksum(None)}}),
            Some(&session),
        )
        .await;
    let id = created["data"]["createQuote"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(double.lock().quotes.contains_key(&id), "{created}");
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&session)
        .header("apollo-require-preflight", "true")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(graphql_multipart(&id, &[("a.txt", b"abc")]))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        wharf_tests::error_code(&body),
        Some("BAD_USER_INPUT"),
        "{body}"
    );
    assert!(body.to_string().contains("POST /upload"), "{body}");
    assert_eq!(app.services.quotes.get(&id).await.unwrap().status, 1);
}

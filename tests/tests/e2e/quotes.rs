//! Storages and quotes: the DBS routes uploader.js calls and their GraphQL twins.
use serde_json::{Value, json};
use wharf_tests::{TestApp, error_code, wallet::Wallet};

pub const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
/// ganache's first deterministic account.
pub const TREASURY_KEY: &str = "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d";
pub const TREASURY: &str = "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1";

pub fn config() -> String {
    format!(
        r#"
[[chains]]
chain_id = 1337
rpc_url = "http://127.0.0.1:8545"
tokens = [{{ symbol = "OCEAN", address = "{TOKEN}", decimals = 18 }}]

[[storages]]
type = "ipfs"
description = "Content-addressed storage served by this gateway"
price_per_gib_month = {{ "1337:OCEAN" = "0.5" }}

[auth]
siwe_domain = "wharf.test"
"#
    )
}

async fn app() -> TestApp {
    TestApp::spawn_with_toml(
        Some(&config()),
        &[("WHARF_TREASURY_KEY_1337", TREASURY_KEY)],
    )
    .await
}

async fn get_quote(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/getQuote"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

fn quote_body(lengths: &[Value], duration: Value) -> Value {
    json!({
        "type": "ipfs",
        "files": lengths.iter().map(|l| json!({"length": l})).collect::<Vec<_>>(),
        "duration": duration,
        "payment": {"chainId": "1337", "tokenAddress": TOKEN},
        "userAddress": "0xCC866199C810B216710A3F3714d35920C343a8CD",
    })
}

#[tokio::test]
async fn storage_list_and_a_priced_quote_in_the_legacy_shapes() {
    let app = app().await;
    let list: Value = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list,
        json!([{
            "type": "ipfs",
            "description": "Content-addressed storage served by this gateway",
            "payment": [{"chainId": "1337", "acceptedTokens": [{"title": "OCEAN", "value": TOKEN}]}]
        }])
    );

    // One GiB for 30 days at 0.5 OCEAN per GiB-month: exactly 0.5 OCEAN.
    let (status, quote) = get_quote(&app, quote_body(&[json!(1u64 << 30)], json!(2_592_000))).await;
    assert_eq!(status, 201, "{quote}");
    assert_eq!(quote["tokenAmount"], "500000000000000000");
    assert_eq!(quote["approveAddress"], TREASURY);
    assert_eq!(
        quote["chainId"], "1337",
        "echoed with the client's JSON type"
    );
    assert_eq!(quote["tokenAddress"], TOKEN);
    let id = quote["quoteId"].as_str().unwrap();
    assert_eq!(id.len(), 32);

    // Numbers as strings are accepted, as uploader.js sends them.
    let (status, q2) = get_quote(
        &app,
        quote_body(&[json!("536870912"), json!(536870912)], json!("5184000")),
    )
    .await;
    assert_eq!(
        (status, q2["tokenAmount"].as_str()),
        (201, Some("1000000000000000000"))
    );

    for method in ["GET", "POST"] {
        let response = app
            .client
            .request(
                method.parse().unwrap(),
                app.url(&format!("/getStatus?quoteId={id}")),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"status": 1})
        );
    }
    let missing = app
        .client
        .get(app.url("/getStatus?quoteId=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!("Quote does not exist.")
    );
    let no_param = app.client.get(app.url("/getStatus")).send().await.unwrap();
    assert_eq!(no_param.status(), 400);
}

#[tokio::test]
async fn bad_quote_requests_get_clear_legacy_errors() {
    let app = app().await;
    let cases: Vec<(Value, u16, Value)> = vec![
        (json!({"files": []}), 400, json!("Invalid input data.")),
        (json!({"type": "ipfs"}), 400, json!("Invalid input data.")),
        (
            json!({"type": "s3", "files": [{"length": 1}], "duration": 1, "payment": {"chainId": 1337, "tokenAddress": TOKEN}, "userAddress": TREASURY}),
            400,
            json!({"error": "Chosen storage type does not exist."}),
        ),
        (quote_body(&[], json!(10)), 400, json!("Empty files field.")),
        (
            quote_body(&vec![json!(1); 10_000], json!(10)),
            400,
            json!("Too many files. Max 64."),
        ),
        (
            quote_body(&[json!(-5)], json!(10)),
            400,
            json!("Invalid files length."),
        ),
        (
            quote_body(&[json!(1.5)], json!(10)),
            400,
            json!("Invalid files length."),
        ),
        (
            quote_body(&[json!("18446744073709551616")], json!(10)),
            400,
            json!("Invalid files length."),
        ),
        (
            quote_body(&[json!(u64::MAX), json!(u64::MAX)], json!(10)),
            400,
            json!("Total file length may not exceed 68719476736 bytes"),
        ),
        (
            quote_body(&[json!(1)], json!(0)),
            400,
            json!("duration must be between 1 and 10000000000 seconds"),
        ),
        (
            quote_body(&[json!(1)], json!(-1)),
            400,
            json!("Invalid duration."),
        ),
        (
            quote_body(&[json!(1)], json!(u64::MAX)),
            400,
            json!("duration must be between 1 and 10000000000 seconds"),
        ),
    ];
    for (body, status, expected) in cases {
        let (got_status, got) = get_quote(&app, body.clone()).await;
        assert_eq!((got_status, &got), (status, &expected), "{body}");
    }
    let mut missing_duration = quote_body(&[json!(1)], json!(1));
    missing_duration.as_object_mut().unwrap().remove("duration");
    assert_eq!(
        get_quote(&app, missing_duration).await,
        (400, json!({"duration": ["This field is required."]}))
    );
    let mut other_token = quote_body(&[json!(1)], json!(1));
    other_token["payment"]["tokenAddress"] = json!("0x0000000000000000000000000000000000000001");
    assert_eq!(
        get_quote(&app, other_token).await,
        (400, json!("Payment token not accepted."))
    );
    let mut other_chain = quote_body(&[json!(1)], json!(1));
    other_chain["payment"]["chainId"] = json!(1);
    assert_eq!(
        get_quote(&app, other_chain).await,
        (400, json!("Payment chain not accepted."))
    );
    let mut bad_user = quote_body(&[json!(1)], json!(1));
    bad_user["userAddress"] = json!("0x12");
    assert_eq!(
        get_quote(&app, bad_user).await,
        (400, json!("Invalid userAddress."))
    );

    // Not JSON at all, or not declared as JSON.
    let response = app
        .client
        .post(app.url("/getQuote"))
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = app
        .client
        .post(app.url("/getQuote"))
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = app
        .client
        .post(app.url("/getQuote"))
        .header("Content-Type", "application/json")
        .body(vec![b' '; 10 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

const CREATE: &str = "mutation($i: CreateQuoteInput!) { createQuote(input: $i) { id tokenAmount approveAddress status owner fileCount totalBytes } }";

#[tokio::test]
async fn graphql_quotes_belong_to_the_signed_in_wallet() {
    let app = app().await;
    let alice = Wallet::new();
    let bob = Wallet::new();
    let alice_session = app.sign_in(&alice, "wharf.test").await;
    let bob_session = app.sign_in(&bob, "wharf.test").await;

    let (_, storages) = app
        .graphql(
            "{ storages { type payment { chainId acceptedTokens { title value pricePerGibMonth } } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(storages["data"]["storages"][0]["type"], "ipfs");
    assert_eq!(
        storages["data"]["storages"][0]["payment"][0]["acceptedTokens"][0]["value"],
        TOKEN
    );
    // A web UI shows the price before asking for a quote.
    assert_eq!(
        storages["data"]["storages"][0]["payment"][0]["acceptedTokens"][0]["pricePerGibMonth"],
        "0.5"
    );

    let input = json!({"i": {"storage": "ipfs", "fileLengths": [1073741824], "duration": 2592000, "chainId": 1337, "tokenAddress": TOKEN}});
    let (_, body) = app.graphql(CREATE, input.clone(), None).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, body) = app
            .graphql(CREATE, input.clone(), Some(&alice_session))
            .await;
        let quote = &body["data"]["createQuote"];
        assert_eq!(quote["tokenAmount"], "500000000000000000", "{body}");
        assert_eq!(quote["approveAddress"], TREASURY);
        assert_eq!(quote["status"], 1);
        assert_eq!(quote["owner"], alice.address_hex());
        ids.push(quote["id"].as_str().unwrap().to_string());
    }
    let mut bad = input.clone();
    bad["i"]["fileLengths"] = json!([]);
    let (_, body) = app.graphql(CREATE, bad, Some(&alice_session)).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));

    let get = "query($id: String!) { quote(id: $id) { id status } }";
    let (_, body) = app
        .graphql(get, json!({"id": ids[0]}), Some(&alice_session))
        .await;
    assert_eq!(body["data"]["quote"]["id"], ids[0].as_str());
    let (_, body) = app
        .graphql(get, json!({"id": ids[0]}), Some(&bob_session))
        .await;
    assert_eq!(
        error_code(&body),
        Some("NOT_FOUND"),
        "another wallet's quote is hidden"
    );

    // Newest first, two per page.
    let list = "query($a: String) { quotes(first: 2, after: $a) { edges { cursor node { id } } pageInfo { hasNextPage } } }";
    let (_, page1) = app
        .graphql(list, json!({"a": null}), Some(&alice_session))
        .await;
    let edges = page1["data"]["quotes"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2);
    assert_eq!(page1["data"]["quotes"]["pageInfo"]["hasNextPage"], true);
    let cursor = edges[1]["cursor"].as_str().unwrap();
    let (_, page2) = app
        .graphql(list, json!({"a": cursor}), Some(&alice_session))
        .await;
    let mut seen: Vec<String> = edges
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_string())
        .collect();
    seen.extend(
        page2["data"]["quotes"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_string()),
    );
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    let (_, none) = app
        .graphql(list, json!({"a": null}), Some(&bob_session))
        .await;
    assert_eq!(none["data"]["quotes"]["edges"], json!([]));
}

/// Writers under load: 200 quotes asked for at once (64 at a time) all succeed and all are
/// kept, each once; on SQLite they queue for the one writer connection instead of meeting
/// "database is locked".
#[tokio::test]
async fn concurrent_quote_creation_under_load_keeps_every_quote() {
    use futures::StreamExt;
    let app = app().await;
    let answers: Vec<(u16, Value)> = futures::stream::iter(0..200u64)
        .map(|i| {
            let app = &app;
            async move { get_quote(app, quote_body(&[json!(1000 + i)], json!(2_592_000))).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let mut ids: Vec<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 201, "{body}");
            body["quoteId"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200);
    assert_eq!(app.count("quotes").await, 200);
}

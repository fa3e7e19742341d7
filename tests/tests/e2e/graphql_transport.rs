//! The GraphQL transport: batch and depth limits, GraphiQL, and subscriptions over graphql-ws
//! authenticated in `connection_init`.
use futures::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use wharf_tests::{ADMIN_KEY, TestApp, error_code, ws};

#[tokio::test]
async fn batches_above_the_limit_are_refused() {
    let app = TestApp::spawn_with(&[("WHARF_GRAPHQL__MAX_BATCH", "3")]).await;
    let op = json!({"query": "{ prices { amount } }"});
    let ok = app
        .client
        .post(app.url("/graphql"))
        .json(&json!([op, op, op]))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.json::<Value>().await.unwrap().as_array().unwrap().len(),
        3
    );
    let refused = app
        .client
        .post(app.url("/graphql"))
        .json(&json!([op, op, op, op]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        error_code(&refused.json().await.unwrap()),
        Some("BAD_USER_INPUT")
    );
}

#[tokio::test]
async fn deep_queries_are_refused_before_they_run() {
    let app = TestApp::spawn_with(&[("WHARF_GRAPHQL__MAX_DEPTH", "5")]).await;
    let deep =
        "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }";
    let (_, body) = app.graphql(deep, json!({}), None).await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("nested too deep"), "{body}");
    assert_eq!(
        wharf_tests::error_code(&body),
        Some("BAD_USER_INPUT"),
        "limits carry a code like every other error: {body}"
    );
}

#[tokio::test]
async fn oversized_graphql_bodies_are_refused() {
    let app = TestApp::spawn().await;
    let huge =
        json!({"query": format!("{{ prices {{ amount }} }} #{}", "x".repeat(2 * 1024 * 1024))});
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn graphiql_is_served_on_get() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.url().path().ends_with("/ui/graphiql.html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("graphiql"));
    // Built into wharf: nothing loaded from a CDN.
    assert!(
        !html.contains("https://") && !html.contains("unpkg"),
        "{html}"
    );
}

#[tokio::test]
async fn balance_updates_stream_over_graphql_ws() {
    let app = TestApp::spawn().await;
    let token = app.new_token().await;

    // A bad token in connection_init ends the connection.
    let mut socket = ws::connect(&app).await;
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
                .to_string(),
        ))
        .await
        .unwrap();
    let reply = ws::next_json(&mut socket).await;
    assert!(
        reply.is_none()
            || reply
                .as_ref()
                .is_some_and(|r| r["type"] != "connection_ack"),
        "a bad token was acknowledged: {reply:?}"
    );

    let mut socket = ws::connect(&app).await;
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {ADMIN_KEY}")}}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(
        ws::next_json(&mut socket).await.unwrap()["type"],
        "connection_ack"
    );
    socket
        .send(Message::text(
            json!({
                "id": "1",
                "type": "subscribe",
                "payload": {"query": "subscription($t: String!) { balanceUpdates(token: $t) }", "variables": {"t": token}}
            })
            .to_string(),
        ))
        .await
        .unwrap();
    let first = ws::next_json(&mut socket).await.unwrap();
    assert_eq!(first["payload"]["data"]["balanceUpdates"], 0, "{first}");
    app.move_bytes("deposit", &token, json!(1234)).await;
    let second = ws::next_json(&mut socket).await.unwrap();
    assert_eq!(
        second["payload"]["data"]["balanceUpdates"], 1234,
        "{second}"
    );
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let app =
        TestApp::spawn_with(&[("WHARF_HTTP__CORS_ALLOWED_ORIGINS", "https://ui.example")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,authorization",
            )
            .send()
    };
    let allowed = preflight("https://ui.example").await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://ui.example")
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// A query document the server has validated once skips the rules that depend on the
/// document alone; what depends on each request is still checked: its variables (field by
/// field) and the complexity its `first` asks for.
#[tokio::test]
async fn a_known_query_is_still_checked_against_each_requests_variables() {
    let app = TestApp::spawn_with(&[("WHARF_GRAPHQL__MAX_COMPLEXITY", "60")]).await;
    let token = app.new_token().await;
    let (_, body) = app
        .graphql(
            "mutation($t: String!, $b: Long!) { deposit(token: $t, bytes: $b) }",
            json!({"t": token, "b": 7}),
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(body["data"]["deposit"], 7, "{body}");

    let query = "query($t: String!, $f: Int) { balance(token: $t) ledger(token: $t, first: $f) { edges { node { amount } } } }";
    for _ in 0..2 {
        let (status, body) = app.graphql(query, json!({"t": token, "f": 5}), None).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["balance"], 7, "{body}");
        assert_eq!(body["data"]["ledger"]["edges"][0]["node"]["amount"], 7);
    }
    // Wrong types, a missing required variable, a null where one is required.
    for bad in [
        json!({"t": token, "f": "five"}),
        json!({"t": 5, "f": 5}),
        json!({"f": 5}),
        json!({"t": null}),
    ] {
        let (status, body) = app.graphql(query, bad.clone(), None).await;
        assert_eq!(status, 200, "{bad}: {body}");
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{bad}: {body}");
        assert!(body["data"]["ledger"].is_null(), "{bad}: {body}");
    }
    // 5 entries pass the complexity limit, 100 do not, on the known document too.
    let (_, body) = app
        .graphql(query, json!({"t": token, "f": 100}), None)
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("complex")),
        "{body}"
    );
    assert!(body["data"].is_null(), "{body}");
}

/// A mutation is never run on the strength of an earlier validation: a wrong variable
/// refuses the whole request before any field runs.
#[tokio::test]
async fn a_mutation_with_a_wrong_variable_runs_none_of_its_fields() {
    let app = TestApp::spawn().await;
    let token = app.new_token().await;
    let both = "mutation($t: String!, $a: Long!, $b: Long!) { first: deposit(token: $t, bytes: $a) second: deposit(token: $t, bytes: $b) }";
    let (_, body) = app
        .graphql(both, json!({"t": token, "a": 1, "b": 2}), Some(ADMIN_KEY))
        .await;
    assert_eq!(body["data"]["second"], 3, "{body}");
    let (_, body) = app
        .graphql(
            both,
            json!({"t": token, "a": 1, "b": "two"}),
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let (_, body) = app
        .graphql(
            "query($t: String!) { balance(token: $t) }",
            json!({"t": token}),
            None,
        )
        .await;
    assert_eq!(body["data"]["balance"], 3, "{body}");
}

/// What is not a GraphQL request over JSON is the client's mistake, said plainly; a batch may
/// start after blank space like any JSON.
#[tokio::test]
async fn malformed_json_bodies_are_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    let post = |body: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    for (body, reason) in [
        ("{", "EOF while parsing"),
        ("[]", "at least one operation"),
        (r#"{"query": 5}"#, "invalid type: integer `5`"),
        (
            r#"[{"query": "{ prices { amount } }"}, 7]"#,
            "invalid type: integer `7`",
        ),
    ] {
        let response = post(body).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let json: Value = response.json().await.unwrap();
        assert_eq!(error_code(&json), Some("BAD_USER_INPUT"), "{body}: {json}");
        let message = json["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{body}: {message}");
    }
    let batch = post("\n  [{\"query\": \"{ prices { amount } }\"}]")
        .await
        .unwrap();
    assert_eq!(batch.status(), 200);
    let answers: Value = batch.json().await.unwrap();
    assert!(answers[0]["data"]["prices"].is_array(), "{answers}");
}

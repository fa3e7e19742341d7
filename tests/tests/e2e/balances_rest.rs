//! The legacy web-core token API (`/accounts/token/*`): shapes, codes, and a ledger that never
//! goes negative.
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use wharf_tests::{ADMIN_KEY, TestApp, WEBCORE_SECRET};

#[tokio::test]
async fn a_token_is_issued_funded_spent_and_refused_when_empty() {
    let app = TestApp::spawn().await;
    let token = app.new_token().await;
    assert_eq!(token.len(), 16);
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(app.balance(&token).await, 0);

    // `int(bytes)` accepted strings of digits.
    assert_eq!(
        app.move_bytes("deposit", &token, json!("30")).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(app.balance(&token).await, 30);
    assert_eq!(
        app.move_bytes("withdraw", &token, json!(10)).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        app.move_bytes("withdraw", &token, json!(100)).await,
        (402, json!({"error": "balance-insufficient"}))
    );
    assert_eq!(app.balance(&token).await, 20);

    // Unknown tokens read as zero, as they did upstream.
    assert_eq!(app.balance("AAAAAAAAAAAAAAAA").await, 0);

    let prices: Value = app
        .client
        .get(app.url("/accounts/token/prices"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        prices,
        json!({"prices": [{"amount": 107374182400u64, "cost": 500}, {"amount": 1073741824000u64, "cost": 5000}]})
    );
}

#[tokio::test]
async fn deposit_and_withdraw_need_the_authentication_secret() {
    let app = TestApp::spawn().await;
    let token = app.new_token().await;
    for header in [None, Some("wrong"), Some("")] {
        let mut request = app
            .client
            .post(app.url(&format!("/accounts/token/deposit/{token}")))
            .json(&json!({"bytes": 5}));
        if let Some(h) = header {
            request = request.header("Authentication", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"status": "invalid-authentication"})
        );
    }
    // `Authorization` is not the legacy header.
    let response = app
        .client
        .post(app.url(&format!("/accounts/token/withdraw/{token}")))
        .header("Authorization", WEBCORE_SECRET)
        .json(&json!({"bytes": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(app.balance(&token).await, 0);
}

#[tokio::test]
async fn without_a_configured_secret_the_admin_routes_answer_401() {
    let app = TestApp::spawn_with(&[("WHARF_WEBCORE_SECRET", "")]).await;
    let token = app.new_token().await;
    assert_eq!(
        app.move_bytes("deposit", &token, json!(5)).await,
        (401, json!({"status": "invalid-authentication"}))
    );
}

#[tokio::test]
async fn bad_input_gets_a_legacy_shaped_4xx_and_leaves_the_balance_alone() {
    let app = TestApp::spawn().await;
    let token = app.new_token().await;
    app.move_bytes("deposit", &token, json!(1000)).await;

    for action in ["deposit", "withdraw"] {
        for (bytes, why) in [
            (json!(-5), "negative"),
            (json!(0), "zero"),
            (json!(1.5), "non-integer"),
            (json!("1.5"), "non-integer string"),
            (json!("abc"), "text"),
            (json!(null), "null"),
            (json!([1]), "array"),
            (json!(9223372036854775808u64), "2^63"),
        ] {
            let (status, body) = app.move_bytes(action, &token, bytes).await;
            assert_eq!(
                (status, &body),
                (400, &json!({"status": "bad-request"})),
                "{action} {why}"
            );
        }
        let raw_bodies: [(&str, &str); 4] = [
            ("{\"bytes\": 18446744073709551616}", "2^64"),
            ("not json", "non-JSON"),
            ("{\"amount\": 5}", "missing bytes"),
            ("", "empty"),
        ];
        for (raw, why) in raw_bodies {
            let response = app
                .client
                .post(app.url(&format!("/accounts/token/{action}/{token}")))
                .header("Authentication", WEBCORE_SECRET)
                .body(raw)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{action} {why}");
            assert_eq!(
                response.json::<Value>().await.unwrap(),
                json!({"status": "bad-request"})
            );
        }
        // 10 MB body.
        let huge = format!(
            "{{\"bytes\": 5, \"pad\": \"{}\"}}",
            "x".repeat(10 * 1024 * 1024)
        );
        let response = app
            .client
            .post(app.url(&format!("/accounts/token/{action}/{token}")))
            .header("Authentication", WEBCORE_SECRET)
            .body(huge)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{action} 10 MB");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"status": "payload-too-large"})
        );

        // Tokens this wharf never issued are taken on with a zero balance, as upstream;
        // strings that cannot be tokens are not.
        let unissued = format!("migrated-{action}");
        let (status, body) = app.move_bytes(action, &unissued, json!(5)).await;
        match action {
            "deposit" => assert_eq!((status, body), (200, json!({"status": "ok"}))),
            _ => assert_eq!(
                (status, body),
                (402, json!({"error": "balance-insufficient"}))
            ),
        }
        let too_long = "x".repeat(129);
        let (status, body) = app.move_bytes(action, &too_long, json!(5)).await;
        assert_eq!(
            (status, body),
            (404, json!({"status": "token-not-found"})),
            "{action}"
        );
    }
    // Overflowing the balance is refused too.
    let (status, _) = app.move_bytes("deposit", &token, json!(i64::MAX)).await;
    assert_eq!(status, 400);
    assert_eq!(app.balance(&token).await, 1000);
}

#[tokio::test]
async fn a_thousand_concurrent_withdrawals_of_one_byte_from_five_hundred() {
    let app = TestApp::spawn().await;
    let token = app.new_token().await;
    assert_eq!(app.move_bytes("deposit", &token, json!(500)).await.0, 200);

    let url = app.url(&format!("/accounts/token/withdraw/{token}"));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let client = app.client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("Authentication", WEBCORE_SECRET)
                    .json(&json!({"bytes": 1}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            200 => ok += 1,
            402 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(
        (ok, refused),
        (500, 500),
        "backends: {}",
        wharf_tests::backends()
    );
    assert_eq!(app.balance(&token).await, 0);

    // The ledger agrees with the balance: 1 deposit and exactly 500 withdrawals.
    let db = &app.services.db;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n, CAST(SUM(amount) AS BIGINT) AS total FROM ledger_entries WHERE token = '{token}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 501);
    assert_eq!(row.try_get::<i64>("", "total").unwrap(), 0);
}

#[tokio::test]
async fn a_promocode_is_redeemed_once_per_token_even_concurrently() {
    let app = TestApp::spawn().await;
    let (_, created) = app
        .graphql(
            "mutation { createPromocode(code: \"PLEASE\", bytes: 1073741824) { code bytes } }",
            json!({}),
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(
        created["data"]["createPromocode"]["bytes"], 1073741824,
        "{created}"
    );
    let token = app.new_token().await;
    let url = app.url(&format!("/accounts/token/redeem/{token}"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = app.client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .header("Content-Type", "application/json; charset=UTF-8")
                    .body(r#"{"promocode":"PLEASE"}"#)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut created_count = 0;
    for task in tasks {
        match task.await.unwrap() {
            (201, body) => {
                assert_eq!(body, json!({"status": "ok"}));
                created_count += 1
            }
            (403, body) => assert_eq!(body, json!({"status": "error"})),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created_count, 1);
    assert_eq!(app.balance(&token).await, 1073741824);

    // Unknown codes are refused in the legacy shape.
    let response = app
        .client
        .post(app.url(&format!("/accounts/token/redeem/{token}")))
        .json(&json!({"promocode": "NOPE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // A token this wharf never issued (one of a migrated accounts database) redeems, as
    // upstream's ledger took any token.
    let response = app
        .client
        .post(app.url("/accounts/token/redeem/ZZZZZZZZZZZZZZZZ"))
        .json(&json!({"promocode": "PLEASE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(app.balance("ZZZZZZZZZZZZZZZZ").await, 1073741824);
    // Another token may redeem it too.
    let other = app.new_token().await;
    let response = app
        .client
        .post(app.url(&format!("/accounts/token/redeem/{other}")))
        .json(&json!({"promocode": "PLEASE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

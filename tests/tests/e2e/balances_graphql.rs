//! Balances over GraphQL: public reads by token, operator writes, wallet-linked tokens.
use serde_json::json;
use wharf_tests::{ADMIN_KEY, TestApp, error_code, wallet::Wallet};

const DEPOSIT: &str = "mutation($t: String!, $b: Long!) { deposit(token: $t, bytes: $b) }";
const WITHDRAW: &str = "mutation($t: String!, $b: Long!) { withdraw(token: $t, bytes: $b) }";
const LEDGER: &str = "query($t: String!, $f: Int, $a: String) { ledger(token: $t, first: $f, after: $a) { edges { cursor node { kind amount balanceAfter } } pageInfo { hasNextPage hasPreviousPage } } }";

#[tokio::test]
async fn operators_move_credit_and_anyone_with_the_token_reads_the_ledger() {
    let app = TestApp::spawn().await;
    let token = app.new_token().await;
    for i in 1..=25 {
        let (_, body) = app
            .graphql(DEPOSIT, json!({"t": token, "b": 2}), Some(ADMIN_KEY))
            .await;
        assert_eq!(body["data"]["deposit"], 2 * i, "{body}");
    }
    let (_, body) = app
        .graphql(WITHDRAW, json!({"t": token, "b": 50}), Some(ADMIN_KEY))
        .await;
    assert_eq!(body["data"]["withdraw"], 0);
    let (_, body) = app
        .graphql(WITHDRAW, json!({"t": token, "b": 1}), Some(ADMIN_KEY))
        .await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");

    // 26 entries, pages of 10.
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let (_, body) = app
            .graphql(LEDGER, json!({"t": token, "f": 10, "a": after}), None)
            .await;
        let ledger = &body["data"]["ledger"];
        let edges = ledger["edges"].as_array().unwrap();
        for edge in edges {
            seen.push((
                edge["node"]["kind"].as_str().unwrap().to_string(),
                edge["node"]["balanceAfter"].as_i64().unwrap(),
            ));
        }
        if !ledger["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = Some(
            edges.last().unwrap()["cursor"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(seen.len(), 26);
    assert_eq!(seen[0], ("deposit".into(), 2));
    assert_eq!(seen[24], ("deposit".into(), 50));
    assert_eq!(seen[25], ("withdraw".into(), 0));

    let (_, body) = app
        .graphql(
            "query($t: String!) { balance(token: $t) }",
            json!({"t": token}),
            None,
        )
        .await;
    assert_eq!(body["data"]["balance"], 0);
}

#[tokio::test]
async fn writes_need_the_operator_and_bad_input_has_a_code() {
    let app = TestApp::spawn_with(&[("WHARF_AUTH__SIWE_DOMAIN", "wharf.test")]).await;
    let token = app.new_token().await;
    let (_, body) = app
        .graphql(DEPOSIT, json!({"t": token, "b": 5}), None)
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    let (status, body) = app
        .graphql(DEPOSIT, json!({"t": token, "b": 5}), Some("wrong-key"))
        .await;
    assert_eq!((status, error_code(&body)), (401, Some("UNAUTHENTICATED")));

    for (bytes, code) in [(0, "BAD_USER_INPUT"), (-3, "BAD_USER_INPUT")] {
        let (_, body) = app
            .graphql(DEPOSIT, json!({"t": token, "b": bytes}), Some(ADMIN_KEY))
            .await;
        assert_eq!(error_code(&body), Some(code), "{bytes}: {body}");
    }
    let (_, body) = app
        .graphql(
            DEPOSIT,
            json!({"t": "ZZZZZZZZZZZZZZZZ", "b": 5}),
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"));
    let (_, body) = app
        .graphql(LEDGER, json!({"t": token, "f": 1000}), None)
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let (_, body) = app
        .graphql(LEDGER, json!({"t": token, "a": "garbage"}), None)
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let (_, body) = app
        .graphql(
            "mutation { createPromocode(code: \"X\", bytes: 5) { code } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    let (_, body) = app
        .graphql(
            "mutation { createPromocode(code: \"X\", bytes: 5) { code } }",
            json!({}),
            Some(ADMIN_KEY),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let (_, body) = app
        .graphql(
            "mutation { createPromocode(code: \"X\", bytes: 5) { code } }",
            json!({}),
            Some(ADMIN_KEY),
        )
        .await;
    assert_eq!(error_code(&body), Some("CONFLICT"));
}

#[tokio::test]
async fn a_signed_in_wallet_links_and_lists_its_tokens() {
    let app = TestApp::spawn_with(&[("WHARF_AUTH__SIWE_DOMAIN", "wharf.test")]).await;
    let alice = Wallet::new();
    let bob = Wallet::new();
    let alice_session = app.sign_in(&alice, "wharf.test").await;
    let bob_session = app.sign_in(&bob, "wharf.test").await;

    let (_, body) = app
        .graphql(
            "mutation { createAccessToken { token balance } }",
            json!({}),
            Some(&alice_session),
        )
        .await;
    let created = body["data"]["createAccessToken"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let legacy = app.new_token().await;
    app.move_bytes("deposit", &legacy, json!(7)).await;
    let link = "mutation($t: String!) { linkAccessToken(token: $t) { token balance } }";
    let (_, body) = app
        .graphql(link, json!({"t": legacy}), Some(&alice_session))
        .await;
    assert_eq!(body["data"]["linkAccessToken"]["balance"], 7, "{body}");

    let (_, body) = app
        .graphql(
            "{ accessTokens { token balance } }",
            json!({}),
            Some(&alice_session),
        )
        .await;
    let tokens: Vec<&str> = body["data"]["accessTokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.contains(&created.as_str()) && tokens.contains(&legacy.as_str()));

    // Bob cannot take Alice's token, and sees none of his own.
    let (_, body) = app
        .graphql(link, json!({"t": legacy}), Some(&bob_session))
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
    let (_, body) = app
        .graphql("{ accessTokens { token } }", json!({}), Some(&bob_session))
        .await;
    assert_eq!(body["data"]["accessTokens"], json!([]));
    // Anonymous callers have no token list; the operator key is not a wallet.
    let (_, body) = app
        .graphql("{ accessTokens { token } }", json!({}), None)
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    let (_, body) = app
        .graphql("{ accessTokens { token } }", json!({}), Some(ADMIN_KEY))
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
    // Wallets cannot use operator mutations.
    let (_, body) = app
        .graphql(DEPOSIT, json!({"t": legacy, "b": 5}), Some(&alice_session))
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
}

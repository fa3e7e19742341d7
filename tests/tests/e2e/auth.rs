//! Signed requests (EIP-191 + per-address nonces) and Sign-In with Ethereum sessions.
use std::sync::Arc;

use serde_json::json;
use wharf_core::auth::{
    nonce::NonceError,
    signature::SignatureError,
    signed::{SignedRequestError, verify},
    siwe,
};
use wharf_tests::{TestApp, error_code, wallet::Wallet};

#[tokio::test]
async fn signed_requests_need_the_right_signer_and_a_rising_nonce() {
    let app = TestApp::spawn().await;
    let db = &app.services.db;
    let alice = Wallet::new();
    let mallory = Wallet::new();
    let message = b"0x0ee382b39a39e05500d99233cdca83cd9959be4ff557ce7f3f29c9ce99d3b5de";

    // Accepted.
    let sig = alice.personal_sign(message);
    verify(db, &alice.address(), message, "1768214571", &sig)
        .await
        .unwrap();

    // Signed by someone else: refused, and the nonce is not burnt.
    let forged = mallory.personal_sign(message);
    let err = verify(db, &alice.address(), message, "1768214572", &forged)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignedRequestError::Signature(SignatureError::WrongSigner)
        ),
        "{err:?}"
    );

    // Equal nonce: refused (upstream accepted it).
    let err = verify(db, &alice.address(), message, "1768214571", &sig)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignedRequestError::Nonce(NonceError::NotIncreasing { .. })
        ),
        "{err:?}"
    );

    // Lower nonce, even one that sorts higher as text ("9" > "10" lexicographically).
    verify(db, &alice.address(), message, "1768214572", &sig)
        .await
        .unwrap();
    let err = verify(db, &alice.address(), message, "999", &sig)
        .await
        .unwrap_err();
    match err {
        SignedRequestError::Nonce(NonceError::NotIncreasing { last }) => {
            assert_eq!(last, "1768214572")
        }
        other => panic!("{other:?}"),
    }

    // Malformed signatures and nonces are typed errors, never panics.
    for bad in [
        "",
        "0x",
        "0xnothex",
        &format!("0x{}", "00".repeat(65)),
        &sig[..100],
    ] {
        let err = verify(db, &alice.address(), message, "1768214580", bad)
            .await
            .unwrap_err();
        assert!(
            matches!(err, SignedRequestError::Signature(_)),
            "{bad:?}: {err:?}"
        );
    }
    let err = verify(db, &alice.address(), message, "-1", &sig)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        SignedRequestError::Nonce(NonceError::Malformed)
    ));

    // Another address keeps its own nonce.
    let bob = Wallet::new();
    verify(
        db,
        &bob.address(),
        message,
        "1",
        &bob.personal_sign(message),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn of_fifty_concurrent_requests_with_one_nonce_exactly_one_passes() {
    let app = TestApp::spawn().await;
    let alice = Arc::new(Wallet::new());
    let message = b"same request";
    let sig = Arc::new(alice.personal_sign(message));
    let services = app.services.clone();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let services = services.clone();
            let alice = alice.clone();
            let sig = sig.clone();
            tokio::spawn(async move {
                verify(&services.db, &alice.address(), message, "42", &sig).await
            })
        })
        .collect();
    let mut passed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => passed += 1,
            Err(SignedRequestError::Nonce(NonceError::NotIncreasing { .. })) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(passed, 1, "backends: {}", wharf_tests::backends());
}

const SIGN_IN: &str = "mutation($m: String!, $s: String!) { signIn(message: $m, signature: $s) { token address expiresAt } }";

#[tokio::test]
async fn sign_in_with_ethereum_opens_a_session_once_per_nonce() {
    let app = TestApp::spawn_with(&[("WHARF_AUTH__SIWE_DOMAIN", "wharf.test")]).await;
    let alice = Wallet::new();
    let token = app.sign_in(&alice, "wharf.test").await;

    let (_, me) = app
        .graphql("{ me { address operator } }", json!({}), Some(&token))
        .await;
    assert_eq!(me["data"]["me"]["address"], alice.address_hex());
    assert_eq!(me["data"]["me"]["operator"], false);

    // A nonce works once.
    let (_, body) = app.graphql("{ siweNonce }", json!({}), None).await;
    let nonce = body["data"]["siweNonce"].as_str().unwrap();
    let message = alice.siwe_message("wharf.test", nonce);
    let signature = alice.personal_sign(message.as_bytes());
    let vars = json!({"m": message, "s": signature});
    let (_, first) = app.graphql(SIGN_IN, vars.clone(), None).await;
    assert!(first["data"]["signIn"]["token"].is_string(), "{first}");
    let (_, replay) = app.graphql(SIGN_IN, vars, None).await;
    assert_eq!(error_code(&replay), Some("UNAUTHENTICATED"), "{replay}");

    // Another domain, another signer, garbage: refused with a code.
    let (_, body) = app.graphql("{ siweNonce }", json!({}), None).await;
    let nonce = body["data"]["siweNonce"].as_str().unwrap();
    let phishing = alice.siwe_message("evil.example", nonce);
    let (_, body) = app
        .graphql(
            SIGN_IN,
            json!({"m": phishing, "s": alice.personal_sign(phishing.as_bytes())}),
            None,
        )
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    let honest = alice.siwe_message("wharf.test", nonce);
    let mallory = Wallet::new();
    let (_, body) = app
        .graphql(
            SIGN_IN,
            json!({"m": honest, "s": mallory.personal_sign(honest.as_bytes())}),
            None,
        )
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    let (_, body) = app
        .graphql(SIGN_IN, json!({"m": "hello", "s": "0x00"}), None)
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");

    // An unknown or signed-out token is a 401 with a GraphQL error body.
    let (status, body) = app
        .graphql("{ me { operator } }", json!({}), Some("nope"))
        .await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    let (_, out) = app
        .graphql(
            "mutation($t: String!) { signOut(token: $t) }",
            json!({"t": token}),
            None,
        )
        .await;
    assert_eq!(out["data"]["signOut"], true);
    let (status, _) = app
        .graphql("{ me { operator } }", json!({}), Some(&token))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn expired_sessions_and_nonces_are_purged_by_housekeeping() {
    let app = TestApp::spawn_with(&[("WHARF_AUTH__SIWE_DOMAIN", "wharf.test")]).await;
    let alice = Wallet::new();
    let token = app.sign_in(&alice, "wharf.test").await;
    let db = &app.services.db;
    let far_future = wharf_core::time::now_ms() + 365 * 24 * 3600 * 1000;
    let purged = siwe::purge_expired(db, wharf_core::time::now_ms())
        .await
        .unwrap();
    assert_eq!(purged.sessions, 0, "a live session was purged");
    assert!(siwe::session_address(db, &token).await.unwrap().is_some());
    let purged = siwe::purge_expired(db, far_future).await.unwrap();
    assert_eq!(purged.sessions, 1);
    assert!(siwe::session_address(db, &token).await.unwrap().is_none());
}

//! End-to-end tests of wharf: the router or the real binary against a real database and queue.
//! `WHARF_TEST_DATABASE_URL` / `WHARF_TEST_REDIS_URL` switch them to PostgreSQL and Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod auth;
mod balances_graphql;
mod balances_rest;
mod binary;
mod compute;
mod crosscheck;
mod deltadm;
mod gateway;
mod graphql_transport;
mod hosting;
mod legacy_clients;
mod microservices;
mod openapi;
mod operable;
mod pieces;
mod provider;
mod quotes;
mod replications;
mod sandbox;
mod stranded;
mod ui;
mod uploads;

/// With `WHARF_TEST_REQUIRE_SCALED=1` (CI's second run) the suite must really be on PostgreSQL
/// and Redis: a test environment is made and both are reached, and the fact is written to
/// `WHARF_TEST_MARKER` for CI to check.
#[tokio::test]
async fn scaled_backends_are_in_use_when_required() {
    if std::env::var("WHARF_TEST_REQUIRE_SCALED").as_deref() != Ok("1") {
        return;
    }
    let env = wharf_tests::TestEnv::new().await;
    let config = env.config(&[]);
    let services = wharf_core::services::Services::start(config).await.unwrap();
    assert_eq!(
        services.db.get_database_backend(),
        sea_orm::DbBackend::Postgres,
        "WHARF_TEST_DATABASE_URL must point at PostgreSQL"
    );
    assert!(
        services.queue.is_redis(),
        "WHARF_TEST_REDIS_URL must be set"
    );
    services.queue.check().await.unwrap();
    if let Ok(path) = std::env::var("WHARF_TEST_MARKER") {
        std::fs::write(path, wharf_tests::backends()).unwrap();
    }
}

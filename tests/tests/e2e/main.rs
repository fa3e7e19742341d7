//! End-to-end tests of wharf: the router or the real binary against a real database and queue.
//! `WHARF_TEST_DATABASE_URL` / `WHARF_TEST_REDIS_URL` switch them to PostgreSQL and Redis.
mod auth;
mod balances_graphql;
mod balances_rest;
mod binary;
mod graphql_transport;

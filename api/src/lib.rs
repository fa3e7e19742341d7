//! The wharf server: GraphQL, the legacy REST families, health and metrics, and the CLI.
pub mod cli;
pub mod ddm_cli;
pub mod gateway;
pub mod graphql;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod rest;
pub mod results;
pub mod server;
pub mod state;
pub mod streaming;
pub mod telemetry;
pub mod tools;
pub mod ui;

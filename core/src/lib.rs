//! Domain services of wharf, shared by the API and the workers.
pub mod auth;
pub mod blobs;
pub mod chain;
pub mod config;
pub mod content;
pub mod db;
pub mod feed;
pub mod filecoin;
pub mod filelock;
pub mod jobs;
pub mod ledger;
pub mod pricing;
pub mod services;
pub mod sql;
pub mod sweep;
pub mod time;
pub mod uploads;

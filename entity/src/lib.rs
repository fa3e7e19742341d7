//! sea-orm entities of wharf, one file per table. Times are Unix milliseconds (`*_at: i64`).
pub mod access_token;
pub mod address_nonce;
pub mod balance;
pub mod block;
pub mod car_file;
pub mod ledger_entry;
pub mod promocode;
pub mod promocode_redemption;
pub mod quote;
pub mod quote_file;
pub mod session;
pub mod siwe_nonce;
pub mod storage_service;

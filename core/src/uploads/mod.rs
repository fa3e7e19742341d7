//! Uploads: storages on offer, priced quotes, and (in the worker) payment and storing.
pub mod backend;
pub mod credits;
pub mod microservice;
pub mod quotes;
pub mod registry;
pub mod storages;
pub mod upload;

pub use quotes::{Quote, QuoteError, QuoteRequest, QuoteService};
pub use storages::{PaymentOption, StorageOffer};

/// Status codes of a quote, as the legacy uploader clients read them.
pub mod status {
    pub const NONE: i32 = 0;
    pub const WAITING: i32 = 1;
    pub const PAYMENT_STARTED: i32 = 100;
    pub const PAYMENT_SENT: i32 = 101;
    pub const PAYMENT_FAILED: i32 = 200;
    pub const PAYMENT_NO_ALLOWANCE: i32 = 201;
    pub const PAYMENT_NO_BALANCE: i32 = 202;
    pub const PAYMENT_REVERTED: i32 = 203;
    pub const STORING: i32 = 300;
    pub const DONE: i32 = 400;
    pub const STORE_FAILED: i32 = 401;
    pub const LENGTH_MISMATCH: i32 = 402;
    pub const EXPIRED: i32 = 299;

    /// Done, payment failed, or storing failed: nothing changes after these.
    pub fn is_final(status: i32) -> bool {
        status >= DONE || (PAYMENT_FAILED..STORING).contains(&status)
    }
}

//! Filecoin datasets (the delta-dm capability): datasets and their pieces, storage providers
//! and what each may replicate, and chain time for deals.
pub mod contents;
pub mod datasets;
pub mod engine;
pub mod epoch;
pub mod pieces;
pub mod providers;
pub mod replications;
pub mod wallets;

use sea_orm::DbErr;

/// What a dataset operation can fail with; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Bad input (400).
    #[error("{0}")]
    Invalid(String),
    /// A named thing does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// It exists already (409).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Bytes of the pieces counted, before and after padding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Bytes {
    pub raw: i64,
    pub padded: i64,
}

/// The replication statuses that mean a deal failed: the piece may be replicated again.
pub const FAILED_STATUSES: [&str; 5] = [
    "StorageDealProposalRejected",
    "StorageDealError",
    "transfer-failed",
    "deal-proposal-failed",
    // Ours: no progress within the configured time.
    "ddm-timed-out",
];

/// SQL list of the failed statuses, for `status NOT IN (…)`.
pub fn failed_list() -> String {
    FAILED_STATUSES
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

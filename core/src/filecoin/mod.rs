//! Filecoin datasets (the delta-dm capability): datasets and their pieces, storage providers
//! and what each may replicate, and chain time for deals.
pub mod contents;
pub mod datasets;
pub mod engine;
pub mod epoch;
pub mod pieces;
pub mod providers;
pub mod replications;
pub mod stored_cars;
pub mod wallets;

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

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

/// Bytes and count per group, from a query selecting `group_key`, `raw`, `padded` and `n`.
async fn bytes_by_key<C: ConnectionTrait>(
    db: &C,
    query: &str,
) -> Result<HashMap<String, (Bytes, i64)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        group_key: String,
        raw: Option<i64>,
        padded: Option<i64>,
        n: i64,
    }
    let rows = Row::find_by_statement(sea_orm::Statement::from_string(
        db.get_database_backend(),
        query,
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let bytes = Bytes {
                raw: r.raw.unwrap_or(0),
                padded: r.padded.unwrap_or(0),
            };
            (r.group_key, (bytes, r.n))
        })
        .collect())
}

/// Bytes of the pieces of each dataset (by id as text) and how many there are.
pub(crate) async fn content_bytes_by_dataset<C: ConnectionTrait>(
    db: &C,
) -> Result<HashMap<String, (Bytes, i64)>, DbErr> {
    bytes_by_key(
        db,
        "SELECT CAST(dataset_id AS TEXT) AS group_key, CAST(SUM(size) AS BIGINT) AS raw, \
         CAST(SUM(padded_size) AS BIGINT) AS padded, COUNT(*) AS n FROM contents GROUP BY dataset_id",
    )
    .await
}

/// Bytes and count of live (not failed) replications, grouped by a column of `replications`
/// (`dataset_id` or `provider_actor_id`), keyed by its value as text. Each replica counts.
pub(crate) async fn replicated_bytes_by<C: ConnectionTrait>(
    db: &C,
    column: &str,
) -> Result<HashMap<String, (Bytes, i64)>, DbErr> {
    bytes_by_key(
        db,
        &format!(
            "SELECT CAST(r.{column} AS TEXT) AS group_key, CAST(SUM(c.size) AS BIGINT) AS raw, \
             CAST(SUM(c.padded_size) AS BIGINT) AS padded, COUNT(*) AS n \
             FROM replications r JOIN contents c ON c.comm_p = r.content_comm_p \
             WHERE r.status NOT IN ({}) GROUP BY r.{column}",
            failed_list()
        ),
    )
    .await
}

//! Raw statements written once with `$n` placeholders and run on either backend.
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

/// Builds a statement for the connection's backend; SQLite gets `?n` placeholders.
pub fn statement<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_string(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Begins a transaction that will write. On SQLite it runs on the process's single writer
/// connection (`db::writer_for`: writers queue in-process instead of in SQLite's busy handler)
/// and takes the write lock up front (`BEGIN IMMEDIATE`): a deferred transaction that reads
/// before writing cannot wait for a concurrent writer and fails at once with "database is
/// locked".
pub async fn begin_write(
    db: &sea_orm::DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let writer = crate::db::writer_for(db);
    writer
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
}

/// Ends a write transaction with the outcome of the work done in it: commits when `result` is
/// a success, rolls back otherwise, and hands `result` on (or the commit's own failure).
pub async fn settle<T, E: From<sea_orm::DbErr>>(
    txn: sea_orm::DatabaseTransaction,
    result: Result<T, E>,
) -> Result<T, E> {
    match result {
        Ok(value) => {
            txn.commit().await?;
            Ok(value)
        }
        Err(e) => {
            txn.rollback().await?;
            Err(e)
        }
    }
}

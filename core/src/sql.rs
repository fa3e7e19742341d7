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

/// Bound parameters per multi-row INSERT of [`insert_rows`], far under SQLite's (32,766) and
/// PostgreSQL's (65,535) limits.
const PARAMS_PER_STATEMENT: usize = 1024;

/// Inserts rows of `columns` values each (`values` holds them row after row) with multi-row
/// statements `{insert} VALUES ($1, …), (…) {tail}`, as many rows to a statement as fit in
/// `PARAMS_PER_STATEMENT`. `insert` names the table and columns; `tail` may add an
/// `ON CONFLICT` clause.
pub async fn insert_rows<C: ConnectionTrait>(
    db: &C,
    insert: &str,
    columns: usize,
    values: Vec<Value>,
    tail: &str,
) -> Result<(), sea_orm::DbErr> {
    let columns = columns.max(1);
    let per_statement = (PARAMS_PER_STATEMENT / columns).max(1) * columns;
    let mut values = values.into_iter().peekable();
    while values.peek().is_some() {
        let chunk: Vec<Value> = values.by_ref().take(per_statement).collect();
        let text = format!(
            "{insert} VALUES {} {tail}",
            row_placeholders(chunk.len() / columns, columns)
        );
        db.execute_raw(statement(db, &text, chunk)).await?;
    }
    Ok(())
}

/// `($1, $2, …), ($n+1, …)`: `rows` groups of `columns` numbered placeholders.
pub fn row_placeholders(rows: usize, columns: usize) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        text.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                text.push_str(", ");
            }
            let _ = write!(text, "${}", row * columns + column + 1);
        }
        text.push(')');
    }
    text
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

#[cfg(test)]
mod tests {
    use super::row_placeholders;

    #[test]
    fn placeholders_number_every_value_row_after_row() {
        assert_eq!(row_placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(row_placeholders(1, 1), "($1)");
    }
}

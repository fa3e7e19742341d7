//! Raw statements written once with `$n` placeholders and run on either backend.
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

/// Builds a statement for the connection's backend; SQLite gets `?` placeholders.
pub fn statement<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => sqlite_placeholders(sql),
        _ => sql.to_string(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// `$1, $2, …` in order become plain `?`; any other use (a number twice, out of order) keeps
/// its number as `?n`. SQLite looks a numbered parameter's name up in a list as long as the
/// statement's parameters, and sqlx asks for every parameter's name when it binds: a
/// 1,000-value INSERT spent more time there than inserting (issue 15's getQuote profile).
fn sqlite_placeholders(sql: &str) -> String {
    let mut plain = String::with_capacity(sql.len());
    let mut expected = 1u64;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        plain.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 || after[..digits].parse::<u64>() != Ok(expected) {
            return sql.replace('$', "?");
        }
        plain.push('?');
        expected += 1;
        rest = &after[digits..];
    }
    plain.push_str(rest);
    plain
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
    use super::{row_placeholders, sqlite_placeholders};

    #[test]
    fn sqlite_gets_plain_placeholders_only_where_their_order_is_the_values_order() {
        assert_eq!(
            sqlite_placeholders("INSERT INTO t VALUES ($1, $2), ($3, $4)"),
            "INSERT INTO t VALUES (?, ?), (?, ?)"
        );
        assert_eq!(
            sqlite_placeholders("UPDATE t SET a = $2 WHERE b = $1"),
            "UPDATE t SET a = ?2 WHERE b = ?1"
        );
        assert_eq!(
            sqlite_placeholders("SELECT $1 WHERE x = $1"),
            "SELECT ?1 WHERE x = ?1"
        );
        assert_eq!(sqlite_placeholders("SELECT 1"), "SELECT 1");
        assert_eq!(sqlite_placeholders("SELECT $10"), "SELECT ?10");
    }

    #[test]
    fn placeholders_number_every_value_row_after_row() {
        assert_eq!(row_placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(row_placeholders(1, 1), "($1)");
    }
}

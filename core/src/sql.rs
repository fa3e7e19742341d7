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

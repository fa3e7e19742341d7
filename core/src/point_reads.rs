//! Point reads (one row by primary key) for the hottest read paths, such as a balance.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every statement and row
//! across channels: on `GET balance` more than half of the server's time went to those thread
//! wake-ups (perf, docs/PERFORMANCE.md), not to SQLite. A point read on a SQLite file takes
//! a few microseconds from the page cache, so it runs here, on the calling thread, on a small
//! pool of read-only connections with cached statements (WAL readers never wait for the
//! writer). On PostgreSQL, or a SQLite database in memory, it goes through the pool as usual.
use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use crate::sql;

/// Read-only connections kept per SQLite file; more may be open at a peak and are dropped
/// when returned.
const POOL_KEEP: usize = 8;
/// A reader waits this long at most for a lock (only a checkpoint that resets the WAL or a
/// schema change takes one a reader must wait for).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);
/// Prepared statements each connection keeps.
const STATEMENTS_KEPT: usize = 32;

#[derive(Clone)]
pub struct PointReads {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    File(Arc<FilePool>),
    Pool(DatabaseConnection),
}

struct FilePool {
    path: String,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl PointReads {
    /// Point reads on `db`'s database.
    pub fn new(db: &DatabaseConnection) -> Self {
        let inner = match crate::db::sqlite_file_of(db) {
            Some(path) => Inner::File(Arc::new(FilePool {
                path,
                idle: Mutex::new(Vec::new()),
            })),
            None => Inner::Pool(db.clone()),
        };
        Self { inner }
    }

    /// The one `i64` column of the row `sql` (with one `$1` parameter) selects, if any.
    pub async fn i64_by_key(
        &self,
        sql_text: &'static str,
        key: &str,
    ) -> Result<Option<i64>, DbErr> {
        match &self.inner {
            Inner::File(pool) => pool.i64_by_key(sql_text, key),
            Inner::Pool(db) => {
                let row = db
                    .query_one_raw(sql::statement(db, sql_text, [key.into()]))
                    .await?;
                row.map(|r| r.try_get_by_index::<i64>(0)).transpose()
            }
        }
    }
}

impl FilePool {
    fn i64_by_key(&self, sql_text: &str, key: &str) -> Result<Option<i64>, DbErr> {
        let conn = match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read_i64(&conn, sql_text, key);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < POOL_KEEP
        {
            idle.push(conn);
        }
        result.map_err(|e| DbErr::Custom(format!("point read on {}: {e}", self.path)))
    }

    fn open(&self) -> Result<rusqlite::Connection, DbErr> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| DbErr::Custom(format!("cannot open {} to read: {e}", self.path)))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| DbErr::Custom(e.to_string()))?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        Ok(conn)
    }
}

fn read_i64(
    conn: &rusqlite::Connection,
    sql_text: &str,
    key: &str,
) -> rusqlite::Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    // `$1` is SQLite's `?1`; the converted text is what the statement cache keys on.
    let mut statement = conn.prepare_cached(&sql_text.replace('$', "?"))?;
    statement
        .query_row([key], |row| row.get::<_, i64>(0))
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_what_the_pool_wrote_on_a_file_and_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let file = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        for url in [file.as_str(), "sqlite::memory:"] {
            let db = crate::db::connect(url).await.unwrap();
            db.execute_unprepared(
                "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL); INSERT INTO t VALUES ('a', 7)",
            )
            .await
            .unwrap();
            let reads = PointReads::new(&db);
            let sql = "SELECT v FROM t WHERE k = $1";
            assert_eq!(reads.i64_by_key(sql, "a").await.unwrap(), Some(7), "{url}");
            assert_eq!(reads.i64_by_key(sql, "b").await.unwrap(), None, "{url}");
            // A committed write is seen by the next read.
            db.execute_unprepared("UPDATE t SET v = 8 WHERE k = 'a'")
                .await
                .unwrap();
            assert_eq!(reads.i64_by_key(sql, "a").await.unwrap(), Some(8), "{url}");
            // A bad statement is an error, not a panic.
            assert!(
                reads
                    .i64_by_key("SELECT nope FROM t WHERE k = $1", "a")
                    .await
                    .is_err()
            );
        }
    }
}

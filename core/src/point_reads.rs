//! Point reads (one row by primary key) for the hottest read paths, such as a balance.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every statement and row
//! across channels: on `GET balance` more than half of the server's time went to those thread
//! wake-ups (perf, docs/PERFORMANCE.md), not to SQLite. A point read on a SQLite file takes
//! a few microseconds from the page cache, so it runs here, on the calling thread, on a small
//! pool of read-only connections with cached statements (WAL readers never wait for the
//! writer). On PostgreSQL over loopback without TLS, reads are pipelined on two connections of
//! their own with statements prepared once each; a SQLite database in memory, or PostgreSQL
//! elsewhere, goes through the pool as usual.
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
/// PostgreSQL connections the pipelined reads share (each carries many reads at once).
const PG_CONNECTIONS: usize = 2;

#[derive(Clone)]
pub struct PointReads {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    File(Arc<FilePool>),
    Pipelined(Arc<PgPipe>),
    Pool(DatabaseConnection),
}

struct FilePool {
    path: String,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl PointReads {
    /// Point reads on `db`'s database, which `url` names.
    pub fn new(db: &DatabaseConnection, url: &str) -> Self {
        let inner = match crate::db::sqlite_file_of(db) {
            Some(path) => Inner::File(Arc::new(FilePool {
                path,
                idle: Mutex::new(Vec::new()),
            })),
            None => match PgPipe::for_url(url) {
                Some(pipe) if db.get_database_backend() == sea_orm::DbBackend::Postgres => {
                    Inner::Pipelined(Arc::new(pipe))
                }
                _ => Inner::Pool(db.clone()),
            },
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
            Inner::Pipelined(pipe) => pipe.i64_by_key(sql_text, key).await,
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

/// Pipelined connections for PostgreSQL point reads: every concurrent read shares a couple of
/// connections instead of taking one from the pool each (acquire and release were a third of
/// a read), and each statement is prepared once per connection.
struct PgPipe {
    config: tokio_postgres::Config,
    lanes: Vec<PgLane>,
    next: std::sync::atomic::AtomicUsize,
}

/// One pipelined connection, opened on first use and again once the server ends it.
#[derive(Default)]
struct PgLane {
    current: Mutex<Option<Arc<PgSlot>>>,
    /// Held while connecting, so that a burst of reads opens one connection, not one each.
    connecting: tokio::sync::Mutex<()>,
}

struct PgSlot {
    client: tokio_postgres::Client,
    statements: Mutex<std::collections::HashMap<&'static str, tokio_postgres::Statement>>,
}

impl PgPipe {
    /// Pipelines for a loopback PostgreSQL URL that asks for no TLS (or does not say); any
    /// other URL keeps the pool, which does TLS as the URL asks.
    fn for_url(url: &str) -> Option<Self> {
        let parsed = url::Url::parse(url).ok()?;
        if !crate::db::is_loopback_postgres(&parsed)
            || parsed
                .query_pairs()
                .any(|(k, v)| k == "sslmode" && v != "disable")
        {
            return None;
        }
        Some(Self {
            config: url.parse().ok()?,
            lanes: (0..PG_CONNECTIONS).map(|_| PgLane::default()).collect(),
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

impl PgLane {
    fn open(&self) -> Option<Arc<PgSlot>> {
        self.current
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .filter(|s| !s.client.is_closed())
    }

    async fn slot(&self, config: &tokio_postgres::Config) -> Result<Arc<PgSlot>, DbErr> {
        if let Some(slot) = self.open() {
            return Ok(slot);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(slot) = self.open() {
            return Ok(slot);
        }
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| DbErr::Custom(format!("point-read connection: {}", pg_detail(&e))))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a point-read connection ended");
            }
        });
        let slot = Arc::new(PgSlot {
            client,
            statements: Mutex::new(std::collections::HashMap::new()),
        });
        if let Ok(mut current) = self.current.lock() {
            *current = Some(slot.clone());
        }
        Ok(slot)
    }
}

impl PgPipe {
    async fn i64_by_key(&self, sql_text: &'static str, key: &str) -> Result<Option<i64>, DbErr> {
        let index = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.lanes.len();
        let slot = self.lanes[index].slot(&self.config).await?;
        let cached = slot
            .statements
            .lock()
            .ok()
            .and_then(|s| s.get(sql_text).cloned());
        let statement = match cached {
            Some(s) => s,
            None => {
                let prepared = slot.client.prepare(sql_text).await.map_err(pg_error)?;
                if let Ok(mut statements) = slot.statements.lock() {
                    statements.insert(sql_text, prepared.clone());
                }
                prepared
            }
        };
        let row = slot
            .client
            .query_opt(&statement, &[&key])
            .await
            .map_err(pg_error)?;
        row.map(|r| r.try_get::<_, i64>(0).map_err(pg_error))
            .transpose()
    }
}

/// The server's message when there is one (the error's own text is only "db error").
fn pg_detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

fn pg_error(e: tokio_postgres::Error) -> DbErr {
    DbErr::Custom(format!("point read: {}", pg_detail(&e)))
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
            let reads = PointReads::new(&db, url);
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

    /// On PostgreSQL (`WHARF_TEST_DATABASE_URL`): many reads at once on the pipelined
    /// connections, each seeing what was committed, and a connection the server ends is
    /// replaced by the next read.
    #[tokio::test]
    async fn pipelined_reads_on_postgres_see_commits_and_outlive_a_dropped_connection() {
        let Ok(url) = std::env::var("WHARF_TEST_DATABASE_URL") else {
            return;
        };
        let db = crate::db::connect(&url).await.unwrap();
        let table = format!(
            "point_reads_{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        db.execute_unprepared(&format!(
            "CREATE TABLE {table} (k TEXT PRIMARY KEY, v BIGINT NOT NULL)"
        ))
        .await
        .unwrap();
        db.execute_unprepared(&format!(
            "INSERT INTO {table} SELECT 'k' || g, g FROM generate_series(1, 500) g"
        ))
        .await
        .unwrap();
        let reads = PointReads::new(&db, &url);
        assert!(matches!(reads.inner, Inner::Pipelined(_)), "{url}");
        let sql: &'static str =
            Box::leak(format!("SELECT v FROM {table} WHERE k = $1").into_boxed_str());
        let all = futures::future::join_all((1..=500).map(|i| {
            let reads = reads.clone();
            async move { reads.i64_by_key(sql, &format!("k{i}")).await }
        }))
        .await;
        for (i, value) in all.into_iter().enumerate() {
            assert_eq!(value.unwrap(), Some(i as i64 + 1));
        }
        assert_eq!(reads.i64_by_key(sql, "none").await.unwrap(), None);
        db.execute_unprepared(&format!("UPDATE {table} SET v = 0 WHERE k = 'k1'"))
            .await
            .unwrap();
        assert_eq!(reads.i64_by_key(sql, "k1").await.unwrap(), Some(0));
        assert!(
            reads
                .i64_by_key("SELECT nope FROM pg_class WHERE relname = $1", "a")
                .await
                .is_err()
        );
        // The server ends both connections: reads go on, at worst one error per connection.
        db.execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE query LIKE '%{table}%' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();
        let mut failures = 0;
        for _ in 0..20 {
            match reads.i64_by_key(sql, "k2").await {
                Ok(v) => assert_eq!(v, Some(2)),
                Err(_) => failures += 1,
            }
        }
        assert!(failures <= PG_CONNECTIONS, "{failures} failed reads");
        assert_eq!(reads.i64_by_key(sql, "k2").await.unwrap(), Some(2));
        db.execute_unprepared(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
    }
}

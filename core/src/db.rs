//! Database connection for both modes and the migration entry points.
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use wharf_migration::{Migrator, MigratorTrait};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sea_orm::DbErr),
    #[error("migration failed: {0}")]
    Migrate(#[source] sea_orm::DbErr),
}

/// Connects to SQLite (WAL, generous busy timeout so that concurrent writers queue instead of
/// failing) or PostgreSQL. On a SQLite file it also opens the one connection every write
/// transaction of this process takes (see [`writer_for`]).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbError> {
    let db = open(url, Pool::Shared).await?;
    if let Some(path) = sqlite_file_of(&db) {
        let writer = open(url, Pool::SqliteWriter).await?;
        if let Ok(mut writers) = WRITERS.lock() {
            writers.insert(path.clone(), writer);
        }
        spawn_checkpointer(db.clone(), path);
    }
    Ok(db)
}

/// How often the checkpointer looks whether the WAL has new frames.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies the WAL's new pages back into a SQLite file from a reader connection. SQLite would
/// otherwise checkpoint inside the commit that crosses 1,000 WAL pages, on the writer
/// connection that every write of the process waits for: fsync included, that was 12 % of the
/// writer's time under POST /getQuote and its slowest commits. The task looks at the WAL's
/// modification time first, so an idle database costs a `stat` per tick; it ends with the
/// runtime. A PASSIVE checkpoint never waits for readers or the writer.
fn spawn_checkpointer(db: DatabaseConnection, path: String) {
    use sea_orm::ConnectionTrait;
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return; // no runtime: SQLite's own checkpoint on close is all there is
    };
    runtime.spawn(async move {
        let wal = format!("{path}-wal");
        let mut checkpointed_at = None;
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            let Ok(modified) = tokio::fs::metadata(&wal).await.and_then(|m| m.modified()) else {
                continue; // no WAL yet, or it was removed when the last connection closed
            };
            if checkpointed_at == Some(modified) {
                continue;
            }
            match db
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                Ok(_) => checkpointed_at = Some(modified),
                Err(sea_orm::DbErr::ConnectionAcquire(_)) if db.ping().await.is_err() => break,
                Err(e) => tracing::debug!(error = %e, "checkpoint skipped"),
            }
        }
    });
}

/// Which pool [`open`] makes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// Every read, and writes on PostgreSQL: 8 connections on SQLite, 32 on PostgreSQL.
    Shared,
    /// The one connection of a SQLite file's write transactions; it leaves checkpoints to
    /// [`spawn_checkpointer`].
    SqliteWriter,
}

/// SQLite takes one writer at a time. Writers on separate connections that meet the lock sleep
/// in SQLite's busy handler (1, 2, 5 … 100 ms steps), which is what made write latency spiky
/// under load; queued instead for this one connection in-process (a fair FIFO), each starts
/// the moment the previous one commits. By database file, as a process may open several.
static WRITERS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, DatabaseConnection>>,
> = std::sync::LazyLock::new(Default::default);

/// The connection write transactions on `db` go through: on a SQLite file, the single writer
/// connection of that file; otherwise `db` itself (PostgreSQL has row locks).
pub fn writer_for(db: &DatabaseConnection) -> DatabaseConnection {
    if let Some(path) = sqlite_file_of(db)
        && let Ok(writers) = WRITERS.lock()
        && let Some(writer) = writers.get(&path)
    {
        return writer.clone();
    }
    db.clone()
}

/// Counts the statements of `db`'s writer connection too (see `Services::db_statements`).
pub fn count_writer_statements(
    db: &DatabaseConnection,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    if let Some(path) = sqlite_file_of(db)
        && let Ok(mut writers) = WRITERS.lock()
        && let Some(writer) = writers.get_mut(&path)
    {
        writer.set_metric_callback(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
}

/// The SQLite file behind `db`, if it is a SQLite database not in memory.
pub(crate) fn sqlite_file_of(db: &DatabaseConnection) -> Option<String> {
    (db.get_database_backend() == DbBackend::Sqlite)
        .then(|| sqlite_file(db))
        .flatten()
}

/// A pool on `url`: the shared one, or a SQLite file's writer.
async fn open(url: &str, pool: Pool) -> Result<DatabaseConnection, DbError> {
    let mut options = ConnectOptions::new(without_loopback_tls(url));
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        let writer = pool == Pool::SqliteWriter;
        options
            .max_connections(if writer { 1 } else { 8 })
            .map_sqlx_sqlite_opts(move |opts| {
                let opts = opts
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
                    .create_if_missing(true);
                if writer {
                    opts.pragma("wal_autocheckpoint", "0")
                } else {
                    opts
                }
            });
    } else {
        options.max_connections(32);
    }
    match sqlite_path_of_url(url) {
        // Switching a new file to WAL needs the database to itself: processes opening one
        // file together take turns.
        Some(path) => crate::filelock::exclusive(
            std::path::Path::new(&format!("{path}.migrate-lock")),
            Database::connect(options),
        )
        .await
        .map_err(|e| DbError::Connect(sea_orm::DbErr::Custom(format!("cannot lock {path}: {e}"))))?
        .map_err(DbError::Connect),
        None => Database::connect(options).await.map_err(DbError::Connect),
    }
}

/// A PostgreSQL URL on a loopback host that does not choose an `sslmode` gets
/// `sslmode=disable`. sqlx's default (`prefer`) encrypts whenever the server offers TLS, as
/// Debian's does: on loopback that protects nothing and was 14 % of a balance read's time in
/// the profile. An explicit `sslmode` is always kept.
fn without_loopback_tls(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return url.to_string();
    };
    let chosen = parsed.query_pairs().any(|(k, _)| k == "sslmode");
    if chosen || !is_loopback_postgres(&parsed) {
        return url.to_string();
    }
    let mut changed = parsed;
    changed.query_pairs_mut().append_pair("sslmode", "disable");
    changed.to_string()
}

/// Whether a URL names PostgreSQL on this machine: localhost, 127.0.0.0/8 or ::1.
pub(crate) fn is_loopback_postgres(url: &url::Url) -> bool {
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return false;
    }
    match url.host() {
        // Not a special scheme to the url crate: an IP address arrives as a domain.
        Some(url::Host::Domain(name)) => {
            name == "localhost"
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The file of a `sqlite:` URL, if it names one.
fn sqlite_path_of_url(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| path.to_string())
}

/// Applies pending migrations. On PostgreSQL the run holds an advisory lock, so several
/// replicas starting at once apply each migration exactly once.
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbError> {
    with_migration_lock(db, async { Migrator::up(db, None).await }).await
}

pub async fn migrate_down(db: &DatabaseConnection, steps: u32) -> Result<(), DbError> {
    with_migration_lock(db, async { Migrator::down(db, Some(steps)).await }).await
}

/// Names of applied and pending migrations, in order.
pub async fn migration_status(db: &DatabaseConnection) -> Result<Vec<(String, bool)>, DbError> {
    let applied: Vec<String> = Migrator::get_applied_migrations(db)
        .await
        .map_err(DbError::Migrate)?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    Ok(Migrator::migrations()
        .iter()
        .map(|m| {
            let name = m.name().to_string();
            let done = applied.contains(&name);
            (name, done)
        })
        .collect())
}

/// An arbitrary constant identifying wharf's migration lock among PostgreSQL advisory locks.
const MIGRATION_LOCK_KEY: i64 = 0x7768_6172_6600_0001;

async fn with_migration_lock<F>(db: &DatabaseConnection, run: F) -> Result<(), DbError>
where
    F: Future<Output = Result<(), sea_orm::DbErr>>,
{
    match db.get_database_backend() {
        DbBackend::Postgres => {}
        DbBackend::Sqlite => return with_sqlite_file_lock(db, run).await,
        _ => return run.await.map_err(DbError::Migrate),
    }
    // Session-level advisory locks belong to one connection, so take and release it on a
    // dedicated pool connection.
    let pool = db.get_postgres_connection_pool();
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| DbError::Connect(sea_orm::DbErr::Custom(e.to_string())))?;
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *conn)
        .await
        .map_err(|e| DbError::Migrate(sea_orm::DbErr::Custom(e.to_string())))?;
    let result = run.await.map_err(DbError::Migrate);
    let unlock = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *conn)
        .await;
    if let Err(e) = unlock {
        tracing::warn!(error = %e, "releasing the migration lock failed; it ends with the connection");
    }
    result
}

/// SQLite has no advisory locks: processes sharing one database file (serve and worker on one
/// data dir) serialise their migrations on an OS lock of a file beside it.
async fn with_sqlite_file_lock<F>(db: &DatabaseConnection, run: F) -> Result<(), DbError>
where
    F: Future<Output = Result<(), sea_orm::DbErr>>,
{
    let Some(path) = sqlite_file(db) else {
        return run.await.map_err(DbError::Migrate);
    };
    let lock_path = format!("{path}.migrate-lock");
    crate::filelock::exclusive(std::path::Path::new(&lock_path), run)
        .await
        .map_err(|e| {
            DbError::Migrate(sea_orm::DbErr::Custom(format!(
                "cannot lock {lock_path}: {e}"
            )))
        })?
        .map_err(DbError::Migrate)
}

/// The file behind a SQLite connection, if it is not in memory.
fn sqlite_file(db: &DatabaseConnection) -> Option<String> {
    let pool = db.get_sqlite_connection_pool();
    let filename = pool
        .connect_options()
        .get_filename()
        .to_string_lossy()
        .into_owned();
    // sqlx names `sqlite::memory:` databases `file:sqlx-in-memory-<n>` (shared cache).
    let in_memory = filename.is_empty()
        || filename == ":memory:"
        || filename.starts_with("file::memory")
        || filename.starts_with("file:sqlx-in-memory-");
    (!in_memory).then_some(filename)
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::{connect, without_loopback_tls};

    /// The writer never checkpoints itself: without the checkpointer, everything written would
    /// stay in the WAL until the last connection closed, and the WAL would grow with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_reach_the_sqlite_file_while_the_server_keeps_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wharf.db");
        let db = connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        let writer = super::writer_for(&db);
        writer
            .execute_unprepared("CREATE TABLE filler (body BLOB NOT NULL)")
            .await
            .unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        // 8 MiB in 256 transactions of 32 KiB: about 2,000 WAL pages.
        for _ in 0..256 {
            let txn = crate::sql::begin_write(&db).await.unwrap();
            txn.execute_unprepared("INSERT INTO filler (body) VALUES (randomblob(32768))")
                .await
                .unwrap();
            txn.commit().await.unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let size = std::fs::metadata(&path).unwrap().len();
            if size >= before + 8 * 1024 * 1024 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the database file is still {size} bytes: nothing was checkpointed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    #[test]
    fn loopback_postgres_skips_tls_unless_the_url_chooses() {
        assert_eq!(
            without_loopback_tls("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
        );
        assert_eq!(
            without_loopback_tls("postgresql://u:p@localhost/db?application_name=w"),
            "postgresql://u:p@localhost/db?application_name=w&sslmode=disable"
        );
        assert_eq!(
            without_loopback_tls("postgres://u@[::1]:5432/db"),
            "postgres://u@[::1]:5432/db?sslmode=disable"
        );
        // Chosen, remote, or not PostgreSQL: as given.
        for kept in [
            "postgres://u@127.0.0.1/db?sslmode=require",
            "postgres://u@db.example.org/db",
            "postgres://u@10.0.0.5/db",
            "sqlite://wharf.db?mode=rwc",
            "not a url",
        ] {
            assert_eq!(without_loopback_tls(kept), kept);
        }
    }
}

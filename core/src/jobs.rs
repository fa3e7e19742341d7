//! Background jobs: their definitions, their queue names, and the queue they travel on.
//!
//! The backend is chosen once at start-up: apalis-sqlite in `jobs.db` (embedded mode) or
//! apalis-redis (`REDIS_URL`). Application code pushes through [`JobQueue`] and never names a
//! backend. Queue names are explicit: `<queue_prefix>.<job queue>`.
use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_redis::{ConnectionManager, RedisStorage};
use apalis_sqlite::{SqlitePool, SqliteStorage};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cannot open the job database {path}: {detail}")]
    OpenSqlite { path: String, detail: String },
    #[error("cannot connect to Redis: {0}")]
    ConnectRedis(String),
    #[error("cannot queue the job: {0}")]
    Push(String),
    #[error("the job queue does not answer: {0}")]
    Unavailable(String),
}

/// Deletes expired sign-in sessions and unused sign-in nonces, refunds unused credit-paid
/// quotes, and ends every record a dead process or a lost job left mid-way. Idempotent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Housekeeping {
    /// Unix milliseconds when it was requested; for the logs.
    pub requested_at: i64,
}

impl Housekeeping {
    pub const QUEUE: &'static str = "housekeeping";
}

/// Takes a quote whose files were received through payment and storage. Idempotent: each
/// step records its effect (payment transaction, storage link) and a re-run resumes from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessUpload {
    pub quote_id: String,
    /// The owner's signature, for a storage microservice that checks it itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<crate::uploads::backend::OwnerSignature>,
}

/// Submits reserved replications (status `ddm-pending`, no engine id yet) to the deal engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MakeDeals {
    pub replication_ids: Vec<i32>,
}

impl MakeDeals {
    pub const QUEUE: &'static str = "deals";
}

/// Runs a waiting compute job (`wharf_core::compute`). Idempotent: the job is claimed once,
/// and a job already taken or ended is skipped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunCompute {
    pub job_id: String,
}

impl RunCompute {
    pub const QUEUE: &'static str = "compute";
}

impl ProcessUpload {
    pub const QUEUE: &'static str = "uploads";
}

/// Computes the piece CID (CommP) of a stored CAR added to a dataset, and adds it as a piece
/// (`wharf_core::filecoin::stored_cars`). Idempotent: a computation already ended is skipped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComputePiece {
    pub car_id: String,
}

impl ComputePiece {
    pub const QUEUE: &'static str = "pieces";
}

/// The full queue name of a job queue under a deployment's prefix.
pub fn queue_name(prefix: &str, queue: &str) -> String {
    format!("{prefix}.{queue}")
}

/// Attempts a job gets in all, counting the first (the storage enforces this as well as the
/// retry layer: apalis-sqlite would otherwise re-run a failed job at once up to 25 times).
pub fn max_attempts(config: &Config) -> usize {
    config.jobs.max_retries + 1
}

/// One job type's storage on whichever backend was chosen.
pub enum Storage<T> {
    Sqlite(SqliteStorage<T>),
    Redis(RedisStorage<T, ConnectionManager>),
}

impl<T> Clone for Storage<T> {
    fn clone(&self) -> Self {
        match self {
            Storage::Sqlite(s) => Storage::Sqlite(s.clone()),
            Storage::Redis(r) => Storage::Redis(r.clone()),
        }
    }
}

impl<T> Storage<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static,
{
    /// Queues a job and returns its id.
    pub async fn push(&self, job: T, max_attempts: usize) -> Result<String, JobError> {
        self.push_after(job, max_attempts, None).await
    }

    /// Queues a job to run no sooner than `delay` from now.
    pub async fn push_after(
        &self,
        job: T,
        max_attempts: usize,
        delay: Option<Duration>,
    ) -> Result<String, JobError> {
        let id = TaskId::from_ulid(ulid::Ulid::generate());
        let mut builder = TaskBuilder::new(job)
            .task_id(id.clone())
            .max_attempts(max_attempts);
        if let Some(delay) = delay {
            builder = builder.run_after(delay);
        }
        let task = builder.build();
        match self {
            Storage::Sqlite(s) => s
                .clone()
                .push_task(task)
                .await
                .map_err(|e| JobError::Push(e.to_string()))?,
            Storage::Redis(r) => {
                let mut r = r.clone();
                r.push_task(task)
                    .await
                    .map_err(|e| JobError::Push(e.to_string()))?;
                if delay.is_none() {
                    let keys = r.get_config();
                    let (scheduled, active) = (keys.scheduled_jobs_set(), keys.active_jobs_list());
                    PROMOTE_ONE
                        .key(scheduled)
                        .key(active)
                        .arg(id.to_string())
                        .invoke_async::<i64>(r.get_connection())
                        .await
                        .map_err(|e| JobError::Push(e.to_string()))?;
                }
            }
        }
        Ok(id.to_string())
    }

    /// On Redis, moves delayed jobs that are due to the active list, at most `PROMOTE_CHUNK`
    /// per script run; returns how many moved. (A no-op on SQLite.)
    pub async fn promote_due(&self) -> Result<u64, JobError> {
        let Storage::Redis(r) = self else {
            return Ok(0);
        };
        let mut r = r.clone();
        let keys = r.get_config();
        let (scheduled, active) = (keys.scheduled_jobs_set(), keys.active_jobs_list());
        // apalis-redis scores the scheduled set in Unix seconds.
        let now = crate::time::now_ms() / 1000;
        let mut moved = 0;
        loop {
            let n: u64 = PROMOTE_DUE
                .key(&scheduled)
                .key(&active)
                .arg(now)
                .arg(PROMOTE_CHUNK)
                .invoke_async(r.get_connection())
                .await
                .map_err(|e| JobError::Unavailable(e.to_string()))?;
            moved += n;
            if n < PROMOTE_CHUNK {
                return Ok(moved);
            }
        }
    }
}

/// apalis-redis 1.0 puts every pushed job in the queue's scheduled set, due now, and a worker's
/// fetch moves all due jobs to the active list with one Lua `unpack`, which fails beyond about
/// 8,000 ids ("too many results to unpack"). A burst of jobs between two polls would then
/// wedge every worker of the queue for good (found by the queue benchmark with 20,000 jobs).
/// So a job pushed to run now goes straight to the active list (unless a fetch got it first),
/// and workers move due delayed jobs in chunks (`promote_due`) before apalis' fetch sees them.
static PROMOTE_ONE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('zrem', KEYS[1], ARGV[1]) == 1 then redis.call('rpush', KEYS[2], ARGV[1]) end
         return 1",
    )
});

/// Due jobs moved per run of `PROMOTE_DUE`, well under Lua's `unpack` limit.
const PROMOTE_CHUNK: u64 = 1000;

static PROMOTE_DUE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        "local ids = redis.call('zrangebyscore', KEYS[1], 0, ARGV[1], 'LIMIT', 0, ARGV[2])
         if #ids > 0 then
           redis.call('rpush', KEYS[2], unpack(ids))
           redis.call('zrem', KEYS[1], unpack(ids))
         end
         return #ids",
    )
});

enum Backend {
    Sqlite(SqlitePool),
    Redis(ConnectionManager),
}

/// The storage of `queue` (under `prefix`) on a backend.
fn storage_on<T>(backend: &Backend, prefix: &str, heartbeat: Duration, queue: &str) -> Storage<T> {
    match backend {
        Backend::Sqlite(pool) => Storage::Sqlite(
            SqliteStorage::new(pool).with_config(
                apalis_sqlite::Config::default()
                    .queue(queue_name(prefix, queue))
                    .heartbeat_interval(heartbeat)
                    .missed_heartbeats(3),
            ),
        ),
        Backend::Redis(conn) => Storage::Redis(
            RedisStorage::new(conn.clone()).with_config(
                apalis_redis::Config::default()
                    .queue(queue_name(prefix, queue))
                    .heartbeat_interval(heartbeat)
                    .missed_heartbeats(3),
            ),
        ),
    }
}

/// The job queue of this process: one storage per job type.
pub struct JobQueue {
    backend: Backend,
    prefix: String,
    heartbeat: Duration,
    max_attempts: usize,
    pub housekeeping: Storage<Housekeeping>,
    pub uploads: Storage<ProcessUpload>,
    pub deals: Storage<MakeDeals>,
    pub compute: Storage<RunCompute>,
    pub pieces: Storage<ComputePiece>,
}

impl JobQueue {
    pub async fn connect(config: &Config) -> Result<Self, JobError> {
        let backend = match &config.redis_url {
            Some(url) => {
                let conn = tokio::time::timeout(
                    Duration::from_secs(10),
                    apalis_redis::connect(url.as_str()),
                )
                .await
                .map_err(|_| JobError::ConnectRedis("timed out".into()))?
                .map_err(|e| JobError::ConnectRedis(e.to_string()))?;
                Backend::Redis(conn)
            }
            None => {
                let path = config.jobs_db_path();
                let open_error = |detail: String| JobError::OpenSqlite {
                    path: path.display().to_string(),
                    detail,
                };
                // Several processes may share jobs.db: opening it (the switch to WAL) and its
                // set-up (migrations) take turns.
                let lock = path.with_extension("db.setup-lock");
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let pool = crate::filelock::exclusive(&lock, async {
                    let pool = SqlitePool::connect(&url)
                        .await
                        .map_err(|e| open_error(e.to_string()))?;
                    SqliteStorage::setup(&pool)
                        .await
                        .map_err(|e| open_error(e.to_string()))?;
                    Ok::<_, JobError>(pool)
                })
                .await
                .map_err(|e| open_error(e.to_string()))??;
                Backend::Sqlite(pool)
            }
        };
        let heartbeat = Duration::from_secs(config.jobs.heartbeat_secs);
        let prefix = config.queue_prefix.clone();
        Ok(Self {
            housekeeping: storage_on(&backend, &prefix, heartbeat, Housekeeping::QUEUE),
            uploads: storage_on(&backend, &prefix, heartbeat, ProcessUpload::QUEUE),
            deals: storage_on(&backend, &prefix, heartbeat, MakeDeals::QUEUE),
            compute: storage_on(&backend, &prefix, heartbeat, RunCompute::QUEUE),
            pieces: storage_on(&backend, &prefix, heartbeat, ComputePiece::QUEUE),
            max_attempts: max_attempts(config),
            backend,
            prefix,
            heartbeat,
        })
    }

    /// The storage of another job type on this process's backend, under the same prefix and
    /// heartbeat as the built-in queues (the queue benchmark measures a no-op job through it).
    pub fn storage<T>(&self, queue: &str) -> Storage<T> {
        storage_on(&self.backend, &self.prefix, self.heartbeat, queue)
    }

    /// Attempts each job pushed through this queue gets (`max_attempts`).
    pub fn max_attempts(&self) -> usize {
        self.max_attempts
    }

    /// Moves due delayed jobs of every queue to their active lists (see `Storage::promote_due`).
    pub async fn promote_due(&self) -> Result<u64, JobError> {
        Ok(self.housekeeping.promote_due().await?
            + self.uploads.promote_due().await?
            + self.deals.promote_due().await?
            + self.compute.promote_due().await?
            + self.pieces.promote_due().await?)
    }

    pub fn is_redis(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    pub async fn push_housekeeping(&self) -> Result<String, JobError> {
        let job = Housekeeping {
            requested_at: crate::time::now_ms(),
        };
        self.housekeeping.push(job, self.max_attempts).await
    }

    pub async fn push_upload(
        &self,
        quote_id: &str,
        signed: Option<crate::uploads::backend::OwnerSignature>,
    ) -> Result<String, JobError> {
        let job = ProcessUpload {
            quote_id: quote_id.to_string(),
            signed,
        };
        self.uploads.push(job, self.max_attempts).await
    }

    /// Looks at an upload's payment again later: a transaction still pending is not a failed
    /// attempt, so the job is queued anew instead of retried.
    pub async fn push_upload_after(
        &self,
        quote_id: &str,
        signed: Option<crate::uploads::backend::OwnerSignature>,
        delay: Duration,
    ) -> Result<String, JobError> {
        let job = ProcessUpload {
            quote_id: quote_id.to_string(),
            signed,
        };
        self.uploads
            .push_after(job, self.max_attempts, Some(delay))
            .await
    }

    pub async fn push_deals(&self, replication_ids: Vec<i32>) -> Result<String, JobError> {
        self.deals
            .push(MakeDeals { replication_ids }, self.max_attempts)
            .await
    }

    /// Queues a compute job to run, after `delay` when given (its environment was full).
    pub async fn push_compute_after(
        &self,
        job_id: &str,
        delay: Option<Duration>,
    ) -> Result<String, JobError> {
        let job = RunCompute {
            job_id: job_id.to_string(),
        };
        self.compute.push_after(job, self.max_attempts, delay).await
    }

    pub async fn push_compute(&self, job_id: &str) -> Result<String, JobError> {
        self.push_compute_after(job_id, None).await
    }

    pub async fn push_piece(&self, car_id: &str) -> Result<String, JobError> {
        let job = ComputePiece {
            car_id: car_id.to_string(),
        };
        self.pieces.push(job, self.max_attempts).await
    }

    /// The readiness check: the backend answers a trivial request.
    pub async fn check(&self) -> Result<(), JobError> {
        match &self.backend {
            Backend::Sqlite(pool) => sea_orm::sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(|e| JobError::Unavailable(e.to_string())),
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                let pong: String = redis::cmd("PING")
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| JobError::Unavailable(e.to_string()))?;
                if pong == "PONG" {
                    Ok(())
                } else {
                    Err(JobError::Unavailable(format!("unexpected reply {pong}")))
                }
            }
        }
    }
}

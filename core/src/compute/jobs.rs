//! Compute jobs in the database: created waiting (1), claimed by one runner at a time with a
//! lease, moved through the Ocean status table, and ended (70) — by their runner, by a stop,
//! or by housekeeping when the runner died.
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::status;
use crate::{sql, time::now_ms};

/// A result file of a job, kept in the blob store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultFile {
    pub filename: String,
    pub filesize: u64,
    /// `output` or `algorithmLog`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Blob-store key (never shown to clients).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct Job {
    pub id: String,
    pub agreement_id: String,
    pub owner: String,
    pub chain_id: i64,
    pub environment: String,
    pub dataset_did: String,
    pub algorithm_did: Option<String>,
    pub request: String,
    pub status: i32,
    pub status_text: String,
    pub stopreq: i32,
    pub removed: i32,
    pub results: String,
    pub error: Option<String>,
    pub executor_ref: Option<String>,
    pub lease_until: Option<i64>,
    pub max_duration_secs: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
}

impl Job {
    pub fn results(&self) -> Vec<ResultFile> {
        serde_json::from_str(&self.results).unwrap_or_default()
    }

    pub fn request(&self) -> Value {
        serde_json::from_str(&self.request).unwrap_or(Value::Null)
    }

    pub fn is_final(&self) -> bool {
        self.status >= status::FINISHED
    }

    /// The job as operator-service and the Provider answer it (shared/reference/ocean-provider.md
    /// §10.2).
    pub fn to_json(&self) -> Value {
        let results: Vec<Value> = self
            .results()
            .into_iter()
            .map(|r| json!({"filename": r.filename, "filesize": r.filesize, "type": r.kind}))
            .collect();
        let request = self.request();
        let inputs: Vec<Value> = request["datasets"]
            .as_array()
            .map(|d| d.iter().map(|d| d["document_id"].clone()).collect())
            .unwrap_or_default();
        json!({
            "agreementId": self.agreement_id,
            "jobId": self.id,
            "owner": self.owner,
            "status": self.status,
            "statusText": self.status_text,
            "dateCreated": (self.created_at / 1000).to_string(),
            "dateFinished": self.finished_at.map(|t| (t / 1000).to_string()),
            "results": results,
            "stopreq": self.stopreq,
            "removed": self.removed,
            "algoDID": self.algorithm_did.clone().unwrap_or_else(|| "raw".into()),
            "inputDID": inputs,
            "environment": self.environment,
        })
    }
}

/// What a new job is.
pub struct NewJob<'a> {
    pub id: &'a str,
    pub agreement_id: &'a str,
    pub owner: &'a str,
    pub chain_id: u64,
    pub environment: &'a str,
    pub dataset_did: &'a str,
    pub algorithm_did: Option<&'a str>,
    pub request: &'a Value,
    pub max_duration_secs: u64,
}

/// The failure reason of a job its owner stopped.
pub const STOPPED: &str = "stopped";

#[derive(Clone)]
pub struct JobStore {
    db: DatabaseConnection,
}

const COLUMNS: &str = "id, agreement_id, owner, chain_id, environment, dataset_did, algorithm_did, request, \
     status, status_text, stopreq, removed, results, error, executor_ref, lease_until, max_duration_secs, \
     created_at, started_at, finished_at, updated_at";

impl JobStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn insert(&self, job: &NewJob<'_>) -> Result<(), DbErr> {
        let now = now_ms();
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "INSERT INTO compute_jobs (id, agreement_id, owner, chain_id, environment, dataset_did, algorithm_did, \
                 request, status, status_text, stopreq, removed, results, max_duration_secs, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 0, '[]', $11, $12, $12)",
                [
                    job.id.into(),
                    job.agreement_id.into(),
                    job.owner.to_lowercase().into(),
                    (job.chain_id as i64).into(),
                    job.environment.into(),
                    job.dataset_did.into(),
                    job.algorithm_did.map(str::to_string).into(),
                    job.request.to_string().into(),
                    status::WARMING_UP.into(),
                    status::text(status::WARMING_UP).into(),
                    (job.max_duration_secs as i64).into(),
                    now.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<Job>, DbErr> {
        Job::find_by_statement(sql::statement(
            &self.db,
            &format!("SELECT {COLUMNS} FROM compute_jobs WHERE id = $1"),
            [id.into()],
        ))
        .one(&self.db)
        .await
    }

    /// An owner's jobs (not deleted), newest first; a job id, an agreement id or the first
    /// dataset's DID narrow it.
    pub async fn of_owner(
        &self,
        owner: &str,
        job_id: Option<&str>,
        agreement_id: Option<&str>,
        dataset_did: Option<&str>,
        before: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<Job>, DbErr> {
        let mut text =
            format!("SELECT {COLUMNS} FROM compute_jobs WHERE owner = $1 AND removed = 0");
        let mut values: Vec<sea_orm::Value> = vec![owner.to_lowercase().into()];
        if let Some(job) = job_id {
            values.push(job.into());
            text.push_str(&format!(" AND id = ${}", values.len()));
        }
        if let Some(agreement) = agreement_id {
            values.push(agreement.to_lowercase().into());
            text.push_str(&format!(" AND agreement_id = ${}", values.len()));
        }
        if let Some(did) = dataset_did {
            values.push(did.into());
            text.push_str(&format!(" AND dataset_did = ${}", values.len()));
        }
        if let Some((created, id)) = before {
            values.push(created.into());
            let c = values.len();
            values.push(id.into());
            let i = values.len();
            text.push_str(&format!(
                " AND (created_at < ${c} OR (created_at = ${c} AND id < ${i}))"
            ));
        }
        text.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {limit}"));
        Job::find_by_statement(sql::statement(&self.db, &text, values))
            .all(&self.db)
            .await
    }

    /// Claims a waiting job for a runner: 1 -> 10, with a lease, while its environment runs
    /// fewer than `max_jobs`. Of two runners, one wins.
    pub async fn claim(&self, id: &str, lease_ms: i64, max_jobs: u64) -> Result<bool, DbErr> {
        let now = now_ms();
        let claimed = self
            .db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE compute_jobs SET status = $1, status_text = $2, lease_until = $3, started_at = $4, updated_at = $4 \
                 WHERE id = $5 AND status = $6 AND stopreq = 0 AND (SELECT COUNT(*) FROM compute_jobs AS running \
                 WHERE running.environment = compute_jobs.environment AND running.status >= $1 AND running.status < $7) < $8",
                [
                    status::STARTED.into(),
                    status::text(status::STARTED).into(),
                    (now + lease_ms).into(),
                    now.into(),
                    id.into(),
                    status::WARMING_UP.into(),
                    status::FINISHED.into(),
                    (max_jobs.min(i64::MAX as u64) as i64).into(),
                ],
            ))
            .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Moves a running job on (not once it ended) and renews its lease.
    pub async fn advance(&self, id: &str, to: i32, lease_ms: i64) -> Result<bool, DbErr> {
        let now = now_ms();
        let moved = self
            .db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE compute_jobs SET status = $1, status_text = $2, lease_until = $3, updated_at = $4 \
                 WHERE id = $5 AND status < $6",
                [
                    to.into(),
                    status::text(to).into(),
                    (now + lease_ms).into(),
                    now.into(),
                    id.into(),
                    status::FINISHED.into(),
                ],
            ))
            .await?;
        Ok(moved.rows_affected() == 1)
    }

    /// Renews a running job's lease. `false`: the job should stop (a stop was asked for, or
    /// it ended or went meanwhile).
    pub async fn renew(&self, id: &str, lease_ms: i64) -> Result<bool, DbErr> {
        let now = now_ms();
        let renewed = self
            .db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE compute_jobs SET lease_until = $1 WHERE id = $2 AND status < $3 AND stopreq = 0",
                [(now + lease_ms).into(), id.into(), status::FINISHED.into()],
            ))
            .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Records the operator's reference for a handed-over job.
    pub async fn set_reference(&self, id: &str, reference: &str) -> Result<(), DbErr> {
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE compute_jobs SET executor_ref = $1, updated_at = $2 WHERE id = $3",
                [reference.into(), now_ms().into(), id.into()],
            ))
            .await?;
        Ok(())
    }

    /// Ends a job (70) with its results and, when it failed, why. Only once.
    pub async fn finish(
        &self,
        id: &str,
        results: &[ResultFile],
        error: Option<&str>,
    ) -> Result<bool, DbErr> {
        let now = now_ms();
        let text = match error {
            None => status::text(status::FINISHED).to_string(),
            Some(STOPPED) => "Job stopped".to_string(),
            Some(e) => format!("Job failed: {e}"),
        };
        let ended = self
            .db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE compute_jobs SET status = $1, status_text = $2, results = $3, error = $4, lease_until = NULL, \
                 finished_at = $5, updated_at = $5 WHERE id = $6 AND status < $1",
                [
                    status::FINISHED.into(),
                    text.into(),
                    serde_json::to_string(results).unwrap_or_else(|_| "[]".into()).into(),
                    error.map(str::to_string).into(),
                    now.into(),
                    id.into(),
                ],
            ))
            .await?;
        Ok(ended.rows_affected() == 1)
    }

    /// Asks a job to stop: a waiting one ends at once, a running one at its runner's next look.
    pub async fn request_stop(&self, id: &str) -> Result<(), DbErr> {
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE compute_jobs SET stopreq = 1, updated_at = $1 WHERE id = $2 AND status < $3",
                [now_ms().into(), id.into(), status::FINISHED.into()],
            ))
            .await?;
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE compute_jobs SET status = $1, status_text = $2, finished_at = $3, updated_at = $3 \
                 WHERE id = $4 AND status = $5",
                [
                    status::FINISHED.into(),
                    "Job stopped".into(),
                    now_ms().into(),
                    id.into(),
                    status::WARMING_UP.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Marks a job deleted: no longer listed; purged once it has ended.
    pub async fn mark_removed(&self, id: &str) -> Result<(), DbErr> {
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE compute_jobs SET removed = 1, updated_at = $1 WHERE id = $2",
                [now_ms().into(), id.into()],
            ))
            .await?;
        Ok(())
    }

    pub async fn delete(&self, id: &str) -> Result<(), DbErr> {
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "DELETE FROM compute_jobs WHERE id = $1",
                [id.into()],
            ))
            .await?;
        Ok(())
    }

    /// Jobs whose runner died: running here (10..69) past their lease.
    pub async fn abandoned(&self, now: i64, limit: u64) -> Result<Vec<Job>, DbErr> {
        self.select(
            "status >= $1 AND status < $2 AND executor_ref IS NULL AND lease_until < $3 ORDER BY created_at",
            vec![status::STARTED.into(), status::FINISHED.into(), now.into()],
            limit,
        )
        .await
    }

    /// Jobs still waiting (1) and untouched since `before`: their queue job may be lost.
    pub async fn stale_waiting(&self, before: i64, limit: u64) -> Result<Vec<Job>, DbErr> {
        self.select(
            "status = $1 AND updated_at < $2 ORDER BY created_at",
            vec![status::WARMING_UP.into(), before.into()],
            limit,
        )
        .await
    }

    /// Takes a stale waiting job for requeueing: of two sweeps, one does.
    pub async fn touch(&self, id: &str, before: i64) -> Result<bool, DbErr> {
        let touched = self
            .db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE compute_jobs SET updated_at = $1 WHERE id = $2 AND status = $3 AND updated_at < $4",
                [now_ms().into(), id.into(), status::WARMING_UP.into(), before.into()],
            ))
            .await?;
        Ok(touched.rows_affected() == 1)
    }

    /// Handed-over jobs (operator) not ended, least recently updated first.
    pub async fn handed_over(&self, limit: u64) -> Result<Vec<Job>, DbErr> {
        self.select(
            "executor_ref IS NOT NULL AND status < $1 ORDER BY updated_at",
            vec![status::FINISHED.into()],
            limit,
        )
        .await
    }

    /// Mirrors an operator's status for a handed-over job.
    pub async fn mirror(&self, id: &str, status_code: i32, text: &str) -> Result<(), DbErr> {
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE compute_jobs SET status = $1, status_text = $2, updated_at = $3 WHERE id = $4 AND status < $5",
                [
                    status_code.into(),
                    text.into(),
                    now_ms().into(),
                    id.into(),
                    status::FINISHED.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Jobs of an environment that ended before `before` (their storage expired).
    pub async fn expired_in(
        &self,
        environment: &str,
        before: i64,
        limit: u64,
    ) -> Result<Vec<Job>, DbErr> {
        self.select(
            "environment = $1 AND status >= $2 AND finished_at < $3 ORDER BY finished_at",
            vec![environment.into(), status::FINISHED.into(), before.into()],
            limit,
        )
        .await
    }

    /// Deleted jobs that have ended (their purge was interrupted).
    pub async fn removed_and_ended(&self, limit: u64) -> Result<Vec<Job>, DbErr> {
        self.select(
            "removed = 1 AND status >= $1 ORDER BY updated_at",
            vec![status::FINISHED.into()],
            limit,
        )
        .await
    }

    /// Whether any job is under way or deleted but not purged.
    pub async fn any_to_follow(&self) -> Result<bool, DbErr> {
        #[derive(FromQueryResult)]
        struct One {
            #[allow(dead_code)]
            id: String,
        }
        let row = One::find_by_statement(sql::statement(
            &self.db,
            "SELECT id FROM compute_jobs WHERE status < $1 OR removed = 1 LIMIT 1",
            [status::FINISHED.into()],
        ))
        .one(&self.db)
        .await?;
        Ok(row.is_some())
    }

    /// Jobs of an environment not ended (its `currentJobs`).
    pub async fn unfinished_in(&self, environment: &str) -> Result<u64, DbErr> {
        #[derive(FromQueryResult)]
        struct Count {
            n: i64,
        }
        let row = Count::find_by_statement(sql::statement(
            &self.db,
            "SELECT COUNT(*) AS n FROM compute_jobs WHERE environment = $1 AND status < $2",
            [environment.into(), status::FINISHED.into()],
        ))
        .one(&self.db)
        .await?;
        Ok(row.map_or(0, |c| c.n.max(0) as u64))
    }

    async fn select(
        &self,
        condition: &str,
        values: Vec<sea_orm::Value>,
        limit: u64,
    ) -> Result<Vec<Job>, DbErr> {
        Job::find_by_statement(sql::statement(
            &self.db,
            &format!("SELECT {COLUMNS} FROM compute_jobs WHERE {condition} LIMIT {limit}"),
            values,
        ))
        .all(&self.db)
        .await
    }
}

//! A CAR this server stores (an upload, a hosted file, a gateway import), added to a dataset
//! as a piece. Imports skip CommP unless the content is bound for Filecoin, and what they
//! compute is the file's piece, not the CAR's; so the CAR's piece CID is computed here, by a
//! `ComputePiece` job that streams the stored CAR once, after the operator adds it.
//!
//! A computation is a row of `piece_computations`:
//! - `computing`: its job is queued or running (a running job touches `updated_at`). If the job
//!   is lost or its process dies, the reconciliation sweep queues it again once `updated_at` is
//!   older than `jobs.stale_after_secs`, and fails it when its attempts are used up.
//! - `failed`: with the reason; adding the CAR again starts over.
//! - Done: the row is gone and the dataset has the piece.
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult};
use serde::Serialize;

use super::{DatasetError, contents, datasets, pieces};
use crate::{
    content::{ContentError, ContentStore},
    jobs::JobQueue,
    sql,
    time::now_ms,
};

/// In a content location, replaced by the piece CID once it is known (so that
/// `https://wharf.example/piece/{pieceCid}` names the piece route).
pub const PIECE_CID_PLACEHOLDER: &str = "{pieceCid}";

pub const COMPUTING: &str = "computing";
pub const FAILED: &str = "failed";

/// How often a running computation records that it is still making progress.
const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// A stored CAR on its way to becoming a piece of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromQueryResult)]
pub struct PieceComputation {
    pub car_id: String,
    pub dataset_id: i32,
    /// The CAR's root CID: the piece's payload CID.
    pub root: String,
    pub content_location: Option<String>,
    pub status: String,
    /// Why it failed (or why the last attempt did).
    pub error: Option<String>,
    pub attempts: i32,
    pub requested_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "car_id, dataset_id, root, content_location, status, error, attempts, requested_at, updated_at";

#[derive(Debug, thiserror::Error)]
pub enum PieceError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("reading the stored CAR failed: {0}")]
    Read(#[from] std::io::Error),
    #[error("the stored CAR is {found} bytes long, its record says {recorded}")]
    Length { found: u64, recorded: u64 },
    #[error("the CommP task failed: {0}")]
    Task(String),
}

/// Adds the stored CAR with root `root` to a dataset; its piece is computed by a job. Adding
/// a CAR already being computed for the same dataset answers that computation again.
pub async fn add(
    db: &DatabaseConnection,
    content: &ContentStore,
    queue: &JobQueue,
    dataset_id: i32,
    root: &str,
    content_location: Option<String>,
) -> Result<PieceComputation, DatasetError> {
    datasets::get(db, dataset_id).await?;
    let root = root.trim();
    pieces::check_payload_cid(root).map_err(DatasetError::Invalid)?;
    let content_location = content_location
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty());
    if content_location
        .as_ref()
        .is_some_and(|l| l.len() > contents::MAX_LOCATION_BYTES)
    {
        return Err(DatasetError::Invalid(format!(
            "contentLocation is longer than {} characters",
            contents::MAX_LOCATION_BYTES
        )));
    }
    let Some(car) = content.car_by_root(root).await? else {
        return Err(DatasetError::NotFound(format!(
            "no CAR with root {root} is stored here"
        )));
    };
    if let Some(other) = dataset_holding_payload(db, root).await? {
        return Err(DatasetError::Conflict(format!(
            "a piece with payload {root} is already in dataset {other}"
        )));
    }
    let now = now_ms();
    // A failed computation starts over; one still computing is left to its job.
    let started = db
        .execute_raw(sql::statement(
            db,
            "INSERT INTO piece_computations (car_id, dataset_id, root, content_location, status, error, attempts, requested_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'computing', NULL, 0, $5, $5) \
             ON CONFLICT (car_id) DO UPDATE SET dataset_id = excluded.dataset_id, \
               content_location = excluded.content_location, status = 'computing', error = NULL, \
               attempts = 0, requested_at = excluded.requested_at, updated_at = excluded.updated_at \
             WHERE piece_computations.status = 'failed'",
            [
                car.id.clone().into(),
                dataset_id.into(),
                root.into(),
                content_location.into(),
                now.into(),
            ],
        ))
        .await?
        .rows_affected()
        == 1;
    let row = get(db, &car.id)
        .await?
        .ok_or_else(|| DatasetError::NotFound(format!("no CAR with root {root} is stored here")))?;
    if !started && row.dataset_id != dataset_id {
        return Err(DatasetError::Conflict(format!(
            "the CAR with root {root} is being added to dataset {}",
            row.dataset_id
        )));
    }
    if started && let Err(e) = queue.push_piece(&car.id).await {
        // The row stays `computing`: the sweep queues it once it is stale.
        tracing::warn!(car = %car.id, error = %e, "could not queue a piece computation");
    }
    Ok(row)
}

/// The dataset (by name) that has a piece with this payload CID, if any.
async fn dataset_holding_payload(
    db: &DatabaseConnection,
    root: &str,
) -> Result<Option<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Holder {
        name: String,
    }
    Ok(Holder::find_by_statement(sql::statement(
        db,
        "SELECT d.name FROM contents c JOIN datasets d ON d.id = c.dataset_id WHERE c.payload_cid = $1 LIMIT 1",
        [root.into()],
    ))
    .one(db)
    .await?
    .map(|h| h.name))
}

pub async fn get(db: &DatabaseConnection, car_id: &str) -> Result<Option<PieceComputation>, DbErr> {
    PieceComputation::find_by_statement(sql::statement(
        db,
        &format!("SELECT {COLUMNS} FROM piece_computations WHERE car_id = $1"),
        [car_id.into()],
    ))
    .one(db)
    .await
}

/// A dataset's computations not yet done (computing or failed), oldest first.
pub async fn of_dataset(
    db: &DatabaseConnection,
    dataset_id: i32,
) -> Result<Vec<PieceComputation>, DbErr> {
    PieceComputation::find_by_statement(sql::statement(
        db,
        &format!(
            "SELECT {COLUMNS} FROM piece_computations WHERE dataset_id = $1 ORDER BY requested_at, car_id"
        ),
        [dataset_id.into()],
    ))
    .all(db)
    .await
}

/// How a computation run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Computed {
    /// The dataset has the piece.
    Added { comm_p: String, padded_size: u64 },
    /// It cannot become a piece (the reason is on the row).
    Failed(String),
    /// Nothing to do: ended already, or never requested.
    Skipped,
}

/// Runs one computation: streams the stored CAR through CommP on every core and adds the
/// piece to the dataset. An error leaves the row `computing` with the error noted, for the
/// job's retry or the sweep.
pub async fn compute(
    db: &DatabaseConnection,
    content: &ContentStore,
    car_id: &str,
) -> Result<Computed, PieceError> {
    let claimed = db
        .execute_raw(sql::statement(
            db,
            "UPDATE piece_computations SET attempts = attempts + 1, updated_at = $1 \
             WHERE car_id = $2 AND status = 'computing'",
            [now_ms().into(), car_id.into()],
        ))
        .await?;
    if claimed.rows_affected() == 0 {
        return Ok(Computed::Skipped);
    }
    let Some(row) = get(db, car_id).await? else {
        return Ok(Computed::Skipped);
    };
    match run(db, content, &row).await {
        Ok(done) => Ok(done),
        Err(e) => {
            note_error(db, car_id, &e.to_string()).await?;
            Err(e)
        }
    }
}

async fn run(
    db: &DatabaseConnection,
    content: &ContentStore,
    row: &PieceComputation,
) -> Result<Computed, PieceError> {
    let Some(car) = content.car_by_id(&row.car_id).await? else {
        return fail(db, row, "the stored CAR was removed").await;
    };
    let piece = piece_of(db, content, &car).await?;
    if piece.below_deal_minimum() {
        return fail(db, row, "the CAR is under 65 bytes: too small for a deal").await;
    }
    let comm_p = piece.cid_v1().to_string();
    // Served by piece from now on (`GET /piece/{pieceCid}`), whatever the dataset says.
    content.record_piece(&comm_p, &car.id).await?;
    let piece_row = contents::ContentRow {
        comm_p: comm_p.clone(),
        payload_cid: row.root.clone(),
        size: car.car_bytes as u64,
        padded_size: piece.padded_size,
        content_location: row
            .content_location
            .as_ref()
            .map(|l| l.replace(PIECE_CID_PLACEHOLDER, &comm_p)),
    };
    if let Err(reason) = piece_row.check() {
        return fail(db, row, &reason).await;
    }
    let outcome = contents::import(db, vec![(row.dataset_id, Ok(piece_row))]).await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(DatasetError::Db(e)) => return Err(e.into()),
        Err(e) => return fail(db, row, &e.to_string()).await,
    };
    if outcome.success.is_empty() {
        // Present already: stored by an earlier run of this computation that died before
        // ending it, or a piece of another dataset.
        let holder = contents::by_pieces(db, vec![comm_p.clone()]).await?;
        match holder.first() {
            Some(c) if c.dataset_id == row.dataset_id => {}
            Some(c) => {
                let reason = format!("piece {comm_p} is already in dataset {}", c.dataset_id);
                return fail(db, row, &reason).await;
            }
            None => {
                return Err(PieceError::Db(DbErr::Custom(format!(
                    "piece {comm_p} was refused and is not stored"
                ))));
            }
        }
    }
    db.execute_raw(sql::statement(
        db,
        "DELETE FROM piece_computations WHERE car_id = $1 AND status = 'computing'",
        [row.car_id.clone().into()],
    ))
    .await?;
    Ok(Computed::Added {
        comm_p,
        padded_size: piece.padded_size,
    })
}

/// The CommP of a stored CAR, read once from the blob store while a blocking thread hashes
/// (on every core); the row is touched as it goes.
async fn piece_of(
    db: &DatabaseConnection,
    content: &ContentStore,
    car: &crate::content::StoredCar,
) -> Result<wharf_content::commp::PieceInfo, PieceError> {
    use futures::StreamExt;
    let mut stream = content.read_car(car).await?;
    let (to_hash, mut chunks) = tokio::sync::mpsc::channel::<bytes::Bytes>(2);
    let hasher = tokio::task::spawn_blocking(move || {
        let threads = wharf_content::commp::CommP::available_threads();
        let mut commp = wharf_content::commp::CommP::with_threads(threads);
        let mut total = 0u64;
        while let Some(chunk) = chunks.blocking_recv() {
            total += chunk.len() as u64;
            commp.write(&chunk);
        }
        (total, commp.finish())
    });
    let mut last_touch = std::time::Instant::now();
    while let Some(chunk) = stream.next().await {
        if to_hash.send(chunk?).await.is_err() {
            break;
        }
        if last_touch.elapsed() >= TOUCH_EVERY {
            touch(db, &car.id).await?;
            last_touch = std::time::Instant::now();
        }
    }
    drop(to_hash);
    let (total, piece) = hasher.await.map_err(|e| PieceError::Task(e.to_string()))?;
    let recorded = car.car_bytes as u64;
    if total != recorded {
        return Err(PieceError::Length {
            found: total,
            recorded,
        });
    }
    Ok(piece)
}

async fn touch(db: &DatabaseConnection, car_id: &str) -> Result<(), DbErr> {
    db.execute_raw(sql::statement(
        db,
        "UPDATE piece_computations SET updated_at = $1 WHERE car_id = $2 AND status = 'computing'",
        [now_ms().into(), car_id.into()],
    ))
    .await?;
    Ok(())
}

async fn note_error(db: &DatabaseConnection, car_id: &str, error: &str) -> Result<(), DbErr> {
    db.execute_raw(sql::statement(
        db,
        "UPDATE piece_computations SET error = $1 WHERE car_id = $2 AND status = 'computing'",
        [error.into(), car_id.into()],
    ))
    .await?;
    Ok(())
}

async fn fail(
    db: &DatabaseConnection,
    row: &PieceComputation,
    reason: &str,
) -> Result<Computed, PieceError> {
    mark_failed(db, &row.car_id, reason).await?;
    tracing::warn!(car = %row.car_id, dataset = row.dataset_id, reason, "piece computation failed");
    Ok(Computed::Failed(reason.to_string()))
}

async fn mark_failed<C: ConnectionTrait>(
    db: &C,
    car_id: &str,
    reason: &str,
) -> Result<bool, DbErr> {
    let done = db
        .execute_raw(sql::statement(
            db,
            "UPDATE piece_computations SET status = 'failed', error = $1, updated_at = $2 \
             WHERE car_id = $3 AND status = 'computing'",
            [reason.into(), now_ms().into(), car_id.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What the sweep did with stale computations.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stale {
    /// Computations whose job is to be queued again (each taken: its `updated_at` is now).
    pub requeue: Vec<String>,
    /// Computations failed because their attempts were used up.
    pub failed: usize,
}

/// Takes computations that made no progress since `before` (Unix ms): those with attempts
/// left are taken for a new job, the others fail. Each is taken with a conditional update, so
/// two sweeps never take the same one.
pub async fn take_stale(
    db: &DatabaseConnection,
    before: i64,
    max_attempts: usize,
    limit: u64,
) -> Result<Stale, DbErr> {
    let stale = PieceComputation::find_by_statement(sql::statement(
        db,
        &format!(
            "SELECT {COLUMNS} FROM piece_computations WHERE status = 'computing' AND updated_at < $1 \
             ORDER BY updated_at LIMIT $2"
        ),
        [before.into(), (limit as i64).into()],
    ))
    .all(db)
    .await?;
    let mut out = Stale::default();
    for row in stale {
        if row.attempts as usize >= max_attempts {
            let reason = match &row.error {
                Some(e) => format!("gave up after {} attempts: {e}", row.attempts),
                None => format!("gave up after {} attempts", row.attempts),
            };
            if mark_failed(db, &row.car_id, &reason).await? {
                out.failed += 1;
            }
            continue;
        }
        let taken = db
            .execute_raw(sql::statement(
                db,
                "UPDATE piece_computations SET updated_at = $1 \
                 WHERE car_id = $2 AND status = 'computing' AND updated_at = $3",
                [
                    now_ms().into(),
                    row.car_id.clone().into(),
                    row.updated_at.into(),
                ],
            ))
            .await?;
        if taken.rows_affected() == 1 {
            out.requeue.push(row.car_id);
        }
    }
    Ok(out)
}

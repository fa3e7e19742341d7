//! Replications: choosing pieces for a provider, reserving them (so two requests never book
//! one piece twice), handing them to the deal engine, and following the deals.
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    FromQueryResult, Statement, Value,
};
use wharf_entity::replication;

use super::{
    DatasetError, FAILED_STATUSES,
    engine::{Accepted, DealRequest, DealState},
    epoch::{DealBounds, EPOCHS_PER_DAY, epoch_at},
    failed_list, providers,
};
use crate::{sql, time::now_ms};

/// A replication reserved, not yet known to the deal engine.
pub const PENDING: &str = "ddm-pending";
/// Handed to the engine; its answer did not come back (a crash in between).
pub const SUBMITTING: &str = "ddm-submitting";
/// No progress within `filecoin.stuck_after_secs`.
pub const TIMED_OUT: &str = "ddm-timed-out";
/// The engine refused the deal.
pub const REFUSED: &str = "deal-proposal-failed";

pub fn is_failed(status: &str) -> bool {
    FAILED_STATUSES.contains(&status)
}

/// What to replicate.
#[derive(Debug, Clone)]
pub struct ReplicationRequest {
    pub provider: String,
    pub dataset_id: Option<i32>,
    /// A specific piece (self-service by CID).
    pub piece_cid: Option<String>,
    pub num_deals: u64,
    pub delay_days: u64,
    /// Days the provider asked to end the deal early (self-service `end_epoch_advance`).
    pub end_advance_days: u64,
    pub self_service: bool,
    /// Only pieces with a content location (self-service).
    pub located_only: bool,
}

/// Most deals one request may make.
pub const MAX_DEALS_PER_REQUEST: u64 = 10_000;

#[derive(Debug, Clone, FromQueryResult)]
pub struct Candidate {
    pub comm_p: String,
    pub payload_cid: String,
    pub size: i64,
    pub padded_size: i64,
    pub dataset_id: i32,
    pub dataset_name: String,
    pub deal_duration: i64,
    pub content_location: Option<String>,
    pub unsealed: bool,
    pub indexed: bool,
}

/// Pieces the provider may take: of datasets it has a profile for, under the dataset's
/// quota, with no live replication to this provider; in a stable order.
pub async fn candidates<C: ConnectionTrait>(
    db: &C,
    request: &ReplicationRequest,
) -> Result<Vec<Candidate>, DbErr> {
    let mut text = format!(
        "SELECT c.comm_p, c.payload_cid, c.size, c.padded_size, c.dataset_id, d.name AS dataset_name, \
                d.deal_duration, c.content_location, rp.unsealed, rp.indexed \
         FROM contents c \
         JOIN datasets d ON d.id = c.dataset_id \
         JOIN replication_profiles rp ON rp.dataset_id = c.dataset_id AND rp.provider_actor_id = $1 \
         WHERE c.num_replications < d.replication_quota \
           AND NOT EXISTS (SELECT 1 FROM replications r WHERE r.content_comm_p = c.comm_p \
                           AND r.provider_actor_id = $1 AND r.status NOT IN ({}))",
        failed_list()
    );
    let mut values: Vec<Value> = vec![request.provider.clone().into()];
    if let Some(dataset) = request.dataset_id {
        values.push(dataset.into());
        text.push_str(&format!(" AND c.dataset_id = ${}", values.len()));
    }
    if let Some(piece) = &request.piece_cid {
        values.push(piece.clone().into());
        text.push_str(&format!(" AND c.comm_p = ${}", values.len()));
    }
    if request.located_only {
        text.push_str(" AND c.content_location IS NOT NULL");
    }
    values.push((request.num_deals.min(MAX_DEALS_PER_REQUEST) as i64).into());
    text.push_str(&format!(
        " ORDER BY c.dataset_id, c.created_at, c.comm_p LIMIT ${}",
        values.len()
    ));
    Candidate::find_by_statement(sql::statement(db, &text, values))
        .all(db)
        .await
}

/// The wallet that pays for a dataset's deals: its first by address.
async fn wallet_of<C: ConnectionTrait>(db: &C, dataset_id: i32) -> Result<Option<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        wallet_addr: String,
    }
    Ok(Row::find_by_statement(sql::statement(
        db,
        "SELECT wallet_addr FROM wallet_datasets WHERE dataset_id = $1 ORDER BY wallet_addr LIMIT 1",
        [dataset_id.into()],
    ))
    .one(db)
    .await?
    .map(|r| r.wallet_addr))
}

/// Serialises reservations across processes on PostgreSQL (SQLite write transactions are
/// already exclusive).
async fn lock_reservations(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(7234002)",
        ))
        .await?;
    }
    Ok(())
}

/// Reserves replications for a request: picks pieces, checks each dataset has a wallet and a
/// valid term, inserts `ddm-pending` rows and counts them on the pieces — all in one
/// transaction. Returns the new rows and the candidates they were made for.
pub async fn reserve(
    db: &DatabaseConnection,
    bounds: &DealBounds,
    genesis_unix: i64,
    request: &ReplicationRequest,
) -> Result<Vec<(replication::Model, Candidate)>, DatasetError> {
    if request.num_deals == 0 || request.num_deals > MAX_DEALS_PER_REQUEST {
        return Err(DatasetError::Invalid(format!(
            "num_deals must be between 1 and {MAX_DEALS_PER_REQUEST}"
        )));
    }
    bounds
        .check_delay(request.delay_days)
        .map_err(|e| DatasetError::Invalid(e.to_string()))?;
    providers::get(db, &request.provider).await.map_err(|_| {
        DatasetError::NotFound(format!(
            "provider {} does not exist. please add it first",
            request.provider
        ))
    })?;
    if let Some(dataset) = request.dataset_id {
        super::datasets::get(db, dataset).await?;
    }
    let txn = sql::begin_write(db).await?;
    let result = reserve_in(&txn, bounds, genesis_unix, request).await;
    match result {
        Ok(rows) => {
            txn.commit().await?;
            Ok(rows)
        }
        Err(e) => {
            txn.rollback().await?;
            Err(e)
        }
    }
}

async fn reserve_in(
    txn: &DatabaseTransaction,
    bounds: &DealBounds,
    genesis_unix: i64,
    request: &ReplicationRequest,
) -> Result<Vec<(replication::Model, Candidate)>, DatasetError> {
    lock_reservations(txn).await?;
    let picked = candidates(txn, request).await?;
    if picked.is_empty() {
        return Err(DatasetError::NotFound(
            "no content to replicate to this provider was found. check dataset-provider allowances, replication quota".into(),
        ));
    }
    let now = now_ms();
    let mut out = Vec::with_capacity(picked.len());
    for candidate in picked {
        if wallet_of(txn, candidate.dataset_id).await?.is_none() {
            return Err(DatasetError::Invalid(format!(
                "dataset '{}' does not have a wallet. no deals were made",
                candidate.dataset_name
            )));
        }
        let term = bounds
            .term(
                genesis_unix,
                now / 1000,
                request.delay_days,
                candidate.deal_duration as u64,
                request.end_advance_days,
            )
            .map_err(|e| DatasetError::Invalid(e.to_string()))?;
        // The quota is checked again on the row itself: another provider's reservation may
        // have taken the last replica since the selection.
        let counted = txn
            .execute_raw(sql::statement(
                txn,
                "UPDATE contents SET num_replications = num_replications + 1, updated_at = $1 \
                 WHERE comm_p = $2 AND num_replications < \
                   (SELECT replication_quota FROM datasets WHERE id = contents.dataset_id)",
                [now.into(), candidate.comm_p.clone().into()],
            ))
            .await?;
        if counted.rows_affected() != 1 {
            continue;
        }
        let placeholder = format!("PENDING_{}", ulid::Ulid::generate());
        #[derive(FromQueryResult)]
        struct Id {
            id: i32,
        }
        let id = Id::find_by_statement(sql::statement(
            txn,
            "INSERT INTO replications (content_comm_p, dataset_id, provider_actor_id, deal_time, deal_uuid, \
               on_chain_deal_id, proposal_cid, status, delta_message, start_epoch, end_epoch, \
               ss_is_self_service, ss_last_update, ss_status, ss_message, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $5, $6, '', $7, $8, $9, 0, '', '', $4, $4) RETURNING id",
            [
                candidate.comm_p.clone().into(),
                candidate.dataset_id.into(),
                request.provider.clone().into(),
                now.into(),
                placeholder.into(),
                PENDING.into(),
                term.start_epoch.into(),
                term.end_epoch.into(),
                request.self_service.into(),
            ],
        ))
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::Custom("insert returned no id".into()))?
        .id;
        let row = replication::Entity::find_by_id(id)
            .one(txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("replication {id}")))?;
        out.push((row, candidate));
    }
    if out.is_empty() {
        return Err(DatasetError::NotFound(
            "no content to replicate to this provider was found. check dataset-provider allowances, replication quota".into(),
        ));
    }
    Ok(out)
}

/// The deal requests of reserved replications still waiting to be submitted, marking them as
/// being submitted. Rows found already "submitting" (a worker died after handing them over)
/// are failed instead: whether the engine took them is unknown, and failing frees the piece.
pub async fn begin_submission(
    db: &DatabaseConnection,
    genesis_unix: i64,
    ids: &[i32],
) -> Result<Vec<(i32, DealRequest)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    #[derive(FromQueryResult)]
    struct Stale {
        id: i32,
    }
    let stale = Stale::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT id FROM replications WHERE id IN ({list}) AND status = '{SUBMITTING}'"),
    ))
    .all(db)
    .await?;
    for row in stale {
        fail(db, row.id, TIMED_OUT, "the deal engine's answer was lost (worker restarted); the piece may be replicated again").await?;
    }
    #[derive(FromQueryResult)]
    struct Row {
        id: i32,
        comm_p: String,
        payload_cid: String,
        size: i64,
        padded_size: i64,
        provider_actor_id: String,
        dataset_id: i32,
        start_epoch: i64,
        end_epoch: i64,
        unsealed: Option<bool>,
        indexed: Option<bool>,
        deal_time: i64,
    }
    let rows = Row::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT r.id, c.comm_p, c.payload_cid, c.size, c.padded_size, r.provider_actor_id, r.dataset_id, \
                    r.start_epoch, r.end_epoch, rp.unsealed, rp.indexed, r.deal_time \
             FROM replications r JOIN contents c ON c.comm_p = r.content_comm_p \
             LEFT JOIN replication_profiles rp ON rp.dataset_id = r.dataset_id AND rp.provider_actor_id = r.provider_actor_id \
             WHERE r.id IN ({list}) AND r.status = '{PENDING}' AND r.delta_content_id IS NULL ORDER BY r.id"
        ),
    ))
    .all(db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(wallet) = wallet_of(db, row.dataset_id).await? else {
            fail(db, row.id, REFUSED, "the dataset has no wallet").await?;
            continue;
        };
        let moved = db
            .execute_raw(sql::statement(
                db,
                "UPDATE replications SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
                [SUBMITTING.into(), now_ms().into(), row.id.into(), PENDING.into()],
            ))
            .await?;
        if moved.rows_affected() != 1 {
            continue;
        }
        // The term was fixed at reservation: whole days of delay, then the whole duration.
        let duration_days = ((row.end_epoch - row.start_epoch) / EPOCHS_PER_DAY) as u64;
        let delay_days = ((row.start_epoch - epoch_at(genesis_unix, row.deal_time / 1000))
            / EPOCHS_PER_DAY)
            .max(0) as u64;
        out.push((
            row.id,
            DealRequest {
                payload_cid: row.payload_cid,
                piece_cid: row.comm_p,
                padded_piece_size: row.padded_size,
                size: row.size,
                provider: row.provider_actor_id,
                wallet,
                remove_unsealed_copy: !row.unsealed.unwrap_or(false),
                skip_ipni_announce: !row.indexed.unwrap_or(false),
                start_epoch: row.start_epoch,
                end_epoch: row.end_epoch,
                delay_days,
                duration_days,
            },
        ));
    }
    Ok(out)
}

/// Records what the engine accepted (by piece and provider) and fails what it did not.
pub async fn finish_submission(
    db: &DatabaseConnection,
    submitted: &[(i32, DealRequest)],
    accepted: &[Accepted],
) -> Result<(usize, usize), DbErr> {
    let (mut ok, mut refused) = (0, 0);
    for (id, deal) in submitted {
        let taken = accepted.iter().find(|a| {
            a.piece_cid == deal.piece_cid && (a.provider.is_empty() || a.provider == deal.provider)
        });
        match taken {
            Some(a) => {
                db.execute_raw(sql::statement(
                    db,
                    "UPDATE replications SET delta_content_id = $1, status = $2, updated_at = $3 WHERE id = $4 AND status = $5",
                    [a.content_id.into(), PENDING.into(), now_ms().into(), (*id).into(), SUBMITTING.into()],
                ))
                .await?;
                ok += 1;
            }
            None => {
                fail(db, *id, REFUSED, "the deal engine did not accept this deal").await?;
                refused += 1;
            }
        }
    }
    Ok((ok, refused))
}

/// Fails every submitted row with the engine's message (a whole batch refused).
pub async fn refuse_submission(
    db: &DatabaseConnection,
    submitted: &[(i32, DealRequest)],
    message: &str,
) -> Result<(), DbErr> {
    for (id, _) in submitted {
        fail(db, *id, REFUSED, message).await?;
    }
    Ok(())
}

/// Gives submitted rows back for another attempt (the engine could not be reached).
pub async fn retry_submission(
    db: &DatabaseConnection,
    submitted: &[(i32, DealRequest)],
) -> Result<(), DbErr> {
    for (id, _) in submitted {
        db.execute_raw(sql::statement(
            db,
            "UPDATE replications SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
            [
                PENDING.into(),
                now_ms().into(),
                (*id).into(),
                SUBMITTING.into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

/// Moves a live replication to a failed status and gives its replica back to the piece,
/// exactly once.
pub async fn fail(
    db: &DatabaseConnection,
    id: i32,
    status: &str,
    message: &str,
) -> Result<bool, DbErr> {
    let txn = sql::begin_write(db).await?;
    let moved = txn
        .execute_raw(sql::statement(
            &txn,
            &format!(
                "UPDATE replications SET status = $1, delta_message = $2, updated_at = $3 WHERE id = $4 AND status NOT IN ({})",
                failed_list()
            ),
            [status.into(), message.into(), now_ms().into(), id.into()],
        ))
        .await?;
    if moved.rows_affected() == 1 {
        txn.execute_raw(sql::statement(
            &txn,
            "UPDATE contents SET num_replications = num_replications - 1 \
             WHERE comm_p = (SELECT content_comm_p FROM replications WHERE id = $1) AND num_replications > 0",
            [id.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(moved.rows_affected() == 1)
}

/// Applies the engine's deal states; a change into a failed status frees the replica.
pub async fn apply_states(db: &DatabaseConnection, states: &[DealState]) -> Result<usize, DbErr> {
    let mut changed = 0;
    for state in states {
        #[derive(FromQueryResult)]
        struct Row {
            id: i32,
            status: String,
        }
        let Some(row) = Row::find_by_statement(sql::statement(
            db,
            "SELECT id, status FROM replications WHERE delta_content_id = $1 ORDER BY id DESC LIMIT 1",
            [state.content_id.into()],
        ))
        .one(db)
        .await?
        else {
            continue;
        };
        if is_failed(&row.status) {
            continue;
        }
        if !state.status.is_empty() && is_failed(&state.status) {
            fail(db, row.id, &state.status, &state.message).await?;
            changed += 1;
            continue;
        }
        // Only fields the engine filled in are taken.
        db.execute_raw(sql::statement(
            db,
            "UPDATE replications SET \
               status = CASE WHEN $1 = '' THEN status ELSE $1 END, \
               delta_message = CASE WHEN $2 = '' THEN delta_message ELSE $2 END, \
               proposal_cid = CASE WHEN $3 = '' THEN proposal_cid ELSE $3 END, \
               deal_uuid = CASE WHEN $4 = '' THEN deal_uuid ELSE $4 END, \
               on_chain_deal_id = CASE WHEN $5 = 0 THEN on_chain_deal_id ELSE $5 END, \
               updated_at = $6 \
             WHERE id = $7",
            [
                state.status.clone().into(),
                state.message.clone().into(),
                state.proposal_cid.clone().into(),
                state.deal_uuid.clone().into(),
                state.on_chain_deal_id.into(),
                now_ms().into(),
                row.id.into(),
            ],
        ))
        .await?;
        changed += 1;
    }
    Ok(changed)
}

/// Engine content ids of deals still to follow: live, no on-chain id yet.
pub async fn to_poll(db: &DatabaseConnection, limit: u64) -> Result<Vec<i64>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        delta_content_id: i64,
    }
    Ok(Row::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT delta_content_id FROM replications WHERE delta_content_id IS NOT NULL \
             AND on_chain_deal_id = 0 AND status NOT IN ({}) ORDER BY id LIMIT {limit}",
            failed_list()
        ),
    ))
    .all(db)
    .await?
    .into_iter()
    .map(|r| r.delta_content_id)
    .collect())
}

/// Fails live deals with no on-chain id made before `before_ms`; returns how many.
pub async fn time_out_stuck(db: &DatabaseConnection, before_ms: i64) -> Result<usize, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: i32,
    }
    let rows = Row::find_by_statement(sql::statement(
        db,
        &format!(
            "SELECT id FROM replications WHERE on_chain_deal_id = 0 AND deal_time < $1 AND status NOT IN ({})",
            failed_list()
        ),
        [before_ms.into()],
    ))
    .all(db)
    .await?;
    let mut n = 0;
    for row in rows {
        if fail(
            db,
            row.id,
            TIMED_OUT,
            "no on-chain deal within the configured time",
        )
        .await?
        {
            n += 1;
        }
    }
    Ok(n)
}

/// Filters of `GET /replications`, ANDed. A proposal or piece CID alone selects (the others
/// are then ignored, as upstream).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub statuses: Vec<String>,
    pub dataset_names: Vec<String>,
    pub providers: Vec<String>,
    pub self_service: Option<bool>,
    /// Unix seconds, inclusive.
    pub deal_time_start: Option<i64>,
    pub deal_time_end: Option<i64>,
    pub message: Option<String>,
    pub proposal_cid: Option<String>,
    pub piece_cid: Option<String>,
    pub dataset_id: Option<i32>,
    pub limit: u64,
    pub offset: u64,
}

/// Most replications one page may hold.
pub const MAX_PAGE: u64 = 10_000;

fn placeholders(values: &mut Vec<Value>, items: &[String]) -> String {
    items
        .iter()
        .map(|item| {
            values.push(item.clone().into());
            format!("${}", values.len())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A page of replications, newest first, with their pieces, and how many match in all.
pub async fn list(
    db: &DatabaseConnection,
    filters: &Filters,
) -> Result<
    (
        Vec<(
            replication::Model,
            Option<wharf_entity::dataset_content::Model>,
        )>,
        u64,
    ),
    DbErr,
> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let mut values: Vec<Value> = Vec::new();
    let mut clauses: Vec<String> = Vec::new();
    if let Some(proposal) = &filters.proposal_cid {
        values.push(proposal.clone().into());
        clauses.push(format!("proposal_cid = ${}", values.len()));
    } else if let Some(piece) = &filters.piece_cid {
        values.push(piece.clone().into());
        clauses.push(format!("content_comm_p = ${}", values.len()));
    } else {
        if !filters.statuses.is_empty() {
            clauses.push(format!(
                "status IN ({})",
                placeholders(&mut values, &filters.statuses)
            ));
        }
        if !filters.dataset_names.is_empty() {
            clauses.push(format!(
                "dataset_id IN (SELECT id FROM datasets WHERE name IN ({}))",
                placeholders(&mut values, &filters.dataset_names)
            ));
        }
        if let Some(id) = filters.dataset_id {
            values.push(id.into());
            clauses.push(format!("dataset_id = ${}", values.len()));
        }
        if !filters.providers.is_empty() {
            clauses.push(format!(
                "provider_actor_id IN ({})",
                placeholders(&mut values, &filters.providers)
            ));
        }
        if let Some(flag) = filters.self_service {
            values.push(flag.into());
            clauses.push(format!("ss_is_self_service = ${}", values.len()));
        }
        if let Some(start) = filters.deal_time_start {
            values.push(start.saturating_mul(1000).into());
            clauses.push(format!("deal_time >= ${}", values.len()));
        }
        if let Some(end) = filters.deal_time_end {
            values.push(end.saturating_mul(1000).saturating_add(999).into());
            clauses.push(format!("deal_time <= ${}", values.len()));
        }
        if let Some(message) = &filters.message {
            let escaped = message
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            values.push(format!("%{escaped}%").into());
            clauses.push(format!("delta_message LIKE ${} ESCAPE '\\'", values.len()));
        }
    }
    let condition = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let total = Count::find_by_statement(sql::statement(
        db,
        &format!("SELECT COUNT(*) AS n FROM replications{condition}"),
        values.clone(),
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.n.max(0) as u64);
    let mut page_values = values;
    page_values.push((filters.limit.min(MAX_PAGE) as i64).into());
    let limit_at = page_values.len();
    page_values.push((filters.offset.min(i64::MAX as u64) as i64).into());
    let rows = replication::Model::find_by_statement(sql::statement(
        db,
        &format!(
            "SELECT * FROM replications{condition} ORDER BY id DESC LIMIT ${limit_at} OFFSET ${}",
            limit_at + 1
        ),
        page_values,
    ))
    .all(db)
    .await?;
    let pieces: Vec<String> = rows.iter().map(|r| r.content_comm_p.clone()).collect();
    let contents = if pieces.is_empty() {
        Vec::new()
    } else {
        wharf_entity::dataset_content::Entity::find()
            .filter(wharf_entity::dataset_content::Column::CommP.is_in(pieces))
            .all(db)
            .await?
    };
    Ok((
        rows.into_iter()
            .map(|r| {
                let content = contents
                    .iter()
                    .find(|c| c.comm_p == r.content_comm_p)
                    .cloned();
                (r, content)
            })
            .collect(),
        total,
    ))
}

/// A provider's report on one of its self-service deals; false if no such deal is its own.
pub async fn record_telemetry(
    db: &DatabaseConnection,
    provider: &str,
    deal_uuid: &str,
    state: &str,
    message: &str,
) -> Result<bool, DbErr> {
    let updated = db
        .execute_raw(sql::statement(
            db,
            "UPDATE replications SET ss_last_update = $1, ss_status = $2, ss_message = $3, updated_at = $1 \
             WHERE deal_uuid = $4 AND provider_actor_id = $5",
            [
                now_ms().into(),
                state.into(),
                message.into(),
                deal_uuid.into(),
                provider.into(),
            ],
        ))
        .await?;
    Ok(updated.rows_affected() > 0)
}

/// Replications of a dataset changed after the change `(since_ms, after_id)`, oldest first
/// (keyset order: many rows may share one millisecond).
pub async fn changed_since(
    db: &DatabaseConnection,
    dataset_id: i32,
    since_ms: i64,
    after_id: i32,
    limit: u64,
) -> Result<Vec<replication::Model>, DbErr> {
    replication::Model::find_by_statement(sql::statement(
        db,
        "SELECT * FROM replications WHERE dataset_id = $1 \
         AND (updated_at > $2 OR (updated_at = $2 AND id > $3)) ORDER BY updated_at, id LIMIT $4",
        [
            dataset_id.into(),
            since_ms.into(),
            after_id.into(),
            (limit as i64).into(),
        ],
    ))
    .all(db)
    .await
}

/// Why asking for deals failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestDealsError {
    #[error("no deal engine is configured (filecoin.deal_engine_url)")]
    NoEngine,
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("queueing the deals failed: {0}")]
    Queue(#[from] crate::jobs::JobError),
}

/// Replications reserved or being submitted (no engine id yet) that nothing touched since
/// `before`: their `MakeDeals` job was lost. Each is touched and returned once, for the caller
/// to queue again (a re-run fails the ones whose submission was interrupted, as always).
pub async fn take_stale_unsubmitted(
    db: &DatabaseConnection,
    before: i64,
    limit: u64,
) -> Result<Vec<i32>, DbErr> {
    #[derive(FromQueryResult)]
    struct Stale {
        id: i32,
    }
    let stale = Stale::find_by_statement(sql::statement(
        db,
        &format!(
            "SELECT id FROM replications WHERE status IN ($1, $2) AND delta_content_id IS NULL \
             AND updated_at < $3 ORDER BY id LIMIT {limit}"
        ),
        [PENDING.into(), SUBMITTING.into(), before.into()],
    ))
    .all(db)
    .await?;
    let mut taken = Vec::with_capacity(stale.len());
    for row in stale {
        let touched = db
            .execute_raw(sql::statement(
                db,
                "UPDATE replications SET updated_at = $1 WHERE id = $2 AND updated_at < $3",
                [now_ms().into(), row.id.into(), before.into()],
            ))
            .await?;
        if touched.rows_affected() == 1 {
            taken.push(row.id);
        }
    }
    Ok(taken)
}

/// Reserves replications and queues `MakeDeals` for them: what the REST, GraphQL and
/// self-service entry points all do.
pub async fn request_deals(
    services: &crate::services::Services,
    request: &ReplicationRequest,
) -> Result<Vec<(replication::Model, Candidate)>, RequestDealsError> {
    if services.deal_engine.is_none() {
        return Err(RequestDealsError::NoEngine);
    }
    let config = &services.config.filecoin;
    let reserved = reserve(
        &services.db,
        &config.deal_bounds(),
        config.genesis_unix,
        request,
    )
    .await?;
    services
        .feed
        .publish(crate::feed::Topic::Replication, "")
        .await;
    // Reserved but not queued (the queue is down): housekeeping's sweep queues them later.
    if let Err(e) = services
        .queue
        .push_deals(reserved.iter().map(|(r, _)| r.id).collect())
        .await
    {
        tracing::warn!(error = %e, "could not queue deal-making; housekeeping will");
    }
    Ok(reserved)
}

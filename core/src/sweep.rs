//! The reconciliation sweep: every record a crash, a lost job or a timeout can leave in a
//! non-final state is found here and moved on. Housekeeping runs it in every worker process;
//! each step takes a record with a conditional update, so two sweeps never act twice.
//!
//! | record | left by | ended by |
//! |---|---|---|
//! | quote claimed by an upload (2) | the uploading process died | released to 1, staged files removed |
//! | staged CAR import | the importing process died | removed with its blob and index |
//! | quote being paid or stored (100, 101, 300) | its job was lost | its job queued again |
//! | replication reserved or submitting | its job was lost | `MakeDeals` queued again |
//! | compute job waiting, running or deleted | lost job, dead runner | `ComputeService::follow_jobs` (also on its own cron) |
//! | compute results past their expiry | time | deleted with their job |
//! | hosted download charged, never settled | the serving process died | refunded |
//! | staged plaintext of a hosted upload | the uploading process died | removed |
//! | piece computation (`computing`) | its job was lost, its process died | `ComputePiece` queued again; failed once its attempts are used up |
use crate::{
    filecoin::{replications, stored_cars},
    services::Services,
    time::now_ms,
};

/// Records the sweep moved on, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub released_uploads: usize,
    pub removed_imports: usize,
    pub requeued_quotes: usize,
    pub requeued_deals: usize,
    pub failed_compute_jobs: usize,
    pub expired_compute_jobs: usize,
    pub refunded_downloads: usize,
    pub removed_staging_files: usize,
    pub requeued_pieces: usize,
    pub failed_pieces: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Content(#[from] crate::content::ContentError),
    #[error(transparent)]
    Compute(#[from] crate::compute::ComputeError),
    #[error(transparent)]
    Hosting(#[from] crate::hosting::HostingError),
}

/// Most records of one kind taken per sweep; the next sweep takes the rest.
const BATCH: u64 = 500;

pub async fn reconcile(services: &Services) -> Result<SweepReport, SweepError> {
    let now = now_ms();
    let lease_expired = now - services.config.upload_lease_ms();
    let stale = now - (services.config.jobs.stale_after_secs as i64).saturating_mul(1000);
    let mut report = SweepReport {
        released_uploads: services.quotes.release_stale_uploads(lease_expired).await?,
        removed_imports: services.content.remove_stale_imports(lease_expired).await?,
        ..Default::default()
    };
    for (quote_id, signed) in services.quotes.take_stale_in_progress(stale, BATCH).await? {
        match services.queue.push_upload(&quote_id, signed).await {
            Ok(_) => report.requeued_quotes += 1,
            Err(e) => {
                tracing::warn!(quote = %quote_id, error = %e, "could not queue a stranded upload")
            }
        }
    }
    if services.deal_engine.is_some() {
        let ids = replications::take_stale_unsubmitted(&services.db, stale, BATCH).await?;
        if !ids.is_empty() {
            let count = ids.len();
            match services.queue.push_deals(ids).await {
                Ok(_) => report.requeued_deals += count,
                Err(e) => tracing::warn!(error = %e, "could not queue stranded deals"),
            }
        }
    }
    let pieces =
        stored_cars::take_stale(&services.db, stale, services.queue.max_attempts(), BATCH).await?;
    report.failed_pieces = pieces.failed;
    for car_id in pieces.requeue {
        match services.queue.push_piece(&car_id).await {
            Ok(_) => report.requeued_pieces += 1,
            Err(e) => {
                tracing::warn!(car = %car_id, error = %e, "could not queue a stranded piece computation")
            }
        }
    }
    let followed = services.compute.follow_jobs().await?;
    report.failed_compute_jobs = followed.failed_abandoned;
    report.expired_compute_jobs = services.compute.expire_results().await?;
    report.refunded_downloads = services.hosting.refund_abandoned(stale, BATCH).await?;
    let stale_time = std::time::SystemTime::now()
        - std::time::Duration::from_secs(services.config.jobs.stale_after_secs);
    report.removed_staging_files = services.hosting.remove_stale_staging(stale_time).await;
    if report != SweepReport::default() {
        tracing::info!(
            released_uploads = report.released_uploads,
            removed_imports = report.removed_imports,
            requeued_quotes = report.requeued_quotes,
            requeued_deals = report.requeued_deals,
            failed_compute_jobs = report.failed_compute_jobs,
            expired_compute_jobs = report.expired_compute_jobs,
            refunded_downloads = report.refunded_downloads,
            removed_staging_files = report.removed_staging_files,
            requeued_pieces = report.requeued_pieces,
            failed_pieces = report.failed_pieces,
            "reconciliation sweep"
        );
    }
    Ok(report)
}

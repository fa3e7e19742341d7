//! Housekeeping: delete expired sign-in sessions and unused sign-in nonces, refund the
//! credits of credit-paid quotes that expired without an upload, and run the reconciliation
//! sweep (`wharf_core::sweep`) that ends what dead processes and lost jobs left. Queued on demand
//! (`runHousekeeping`) and run by cron in every worker process; deleting what has expired is
//! idempotent, so running it twice is harmless.
use std::sync::Arc;

use apalis::prelude::*;
use apalis_cron::Tick;
use futures::future::BoxFuture;
use wharf_core::{auth::siwe, jobs::Housekeeping, services::Services, time::now_ms};

use crate::register::{Handler, Run, cron, observed};

pub fn handler() -> Handler<Housekeeping> {
    |job, services, attempt| {
        let attempt = Run::new(&attempt, &services);
        Box::pin(run(job, services, Some(attempt)))
    }
}

/// A queued run (`attempt`) or a cron tick (none).
async fn run(
    job: Housekeeping,
    services: Data<Arc<Services>>,
    attempt: Option<Run>,
) -> Result<(), BoxDynError> {
    observed(Housekeeping::QUEUE, attempt, async move {
        let purged = siwe::purge_expired(&services.db, now_ms()).await?;
        let refunded = services.quotes.refund_expired_credits().await?;
        wharf_core::sweep::reconcile(&services).await?;
        tracing::info!(
            requested_at = job.requested_at,
            sessions = purged.sessions,
            nonces = purged.nonces,
            refunded_quotes = refunded,
            "housekeeping done"
        );
        Ok(())
    })
    .await
}

fn tick(_tick: Tick, services: Data<Arc<Services>>) -> BoxFuture<'static, Result<(), BoxDynError>> {
    Box::pin(run(
        Housekeeping {
            requested_at: now_ms(),
        },
        services,
        None,
    ))
}

pub fn register_cron(monitor: Monitor, services: Arc<Services>) -> anyhow::Result<Monitor> {
    let expression = services.config.jobs.housekeeping_schedule.clone();
    cron(
        monitor,
        "housekeeping-cron",
        "jobs.housekeeping_schedule",
        &expression,
        services,
        tick,
    )
}

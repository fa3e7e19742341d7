//! Deal-making: `MakeDeals` hands reserved replications to the deal engine; `PollDeals`
//! (cron) follows the deals until they are on chain, and fails those stuck too long so their
//! pieces can be replicated again.
use std::sync::Arc;

use apalis::prelude::*;
use apalis_cron::Tick;
use futures::future::BoxFuture;
use wharf_core::{
    feed::Topic,
    filecoin::{engine::EngineError, replications},
    jobs::MakeDeals,
    services::Services,
    time::now_ms,
};

use crate::register::{Handler, Run, cron, observed};

/// Deals submitted to the engine in one request.
const SUBMIT_BATCH: usize = 100;
/// Deals asked about in one poll request.
const POLL_BATCH: u64 = 500;

pub fn handler() -> Handler<MakeDeals> {
    |job, services, attempt| {
        let attempt = Run::new(&attempt, &services);
        Box::pin(make_deals(job, services, attempt))
    }
}

async fn make_deals(
    job: MakeDeals,
    services: Data<Arc<Services>>,
    attempt: Run,
) -> Result<(), BoxDynError> {
    observed(MakeDeals::QUEUE, Some(attempt), async move {
        let Some(engine) = services.deal_engine.clone() else {
            return Err(AbortError::new("no deal engine is configured").into());
        };
        let genesis = services.config.filecoin.genesis_unix;
        for ids in job.replication_ids.chunks(SUBMIT_BATCH) {
            let submitted = replications::begin_submission(&services.db, genesis, ids).await?;
            if submitted.is_empty() {
                continue;
            }
            let deals: Vec<_> = submitted.iter().map(|(_, d)| d.clone()).collect();
            match engine.make_deals(&deals).await {
                Ok(accepted) => {
                    let (ok, refused) =
                        replications::finish_submission(&services.db, &submitted, &accepted)
                            .await?;
                    tracing::info!(accepted = ok, refused, "deals submitted");
                }
                // The engine refused the batch as a whole: every deal in it failed, and the
                // pieces may be replicated again.
                Err(EngineError::Refused { status, message }) if status <= 500 => {
                    tracing::warn!(status, %message, "the deal engine refused a batch");
                    replications::refuse_submission(
                        &services.db,
                        &submitted,
                        &format!("the deal engine refused the batch: {message}"),
                    )
                    .await?;
                }
                // Not reached: try again later with the same reservations.
                Err(e) => {
                    replications::retry_submission(&services.db, &submitted).await?;
                    return Err(e.into());
                }
            }
            services.feed.publish(Topic::Replication, "").await;
        }
        Ok(())
    })
    .await
}

/// One round of following deals.
pub async fn poll_deals(services: &Services) -> Result<(), BoxDynError> {
    let Some(engine) = services.deal_engine.clone() else {
        return Ok(());
    };
    let stuck_before =
        now_ms() - (services.config.filecoin.stuck_after_secs as i64).saturating_mul(1000);
    let timed_out = replications::time_out_stuck(&services.db, stuck_before).await?;
    let ids = replications::to_poll(&services.db, POLL_BATCH).await?;
    let mut updated = 0;
    if !ids.is_empty() {
        let states = engine.deal_states(&ids).await?;
        updated = replications::apply_states(&services.db, &states).await?;
    }
    if timed_out + updated > 0 {
        services.feed.publish(Topic::Replication, "").await;
        tracing::info!(
            polled = ids.len(),
            updated,
            timed_out,
            "deal states followed"
        );
    }
    Ok(())
}

fn tick(_tick: Tick, services: Data<Arc<Services>>) -> BoxFuture<'static, Result<(), BoxDynError>> {
    Box::pin(async move { observed("poll-deals", None, poll_deals(&services)).await })
}

pub fn register_cron(monitor: Monitor, services: Arc<Services>) -> anyhow::Result<Monitor> {
    let expression = services.config.filecoin.poll_schedule.clone();
    cron(
        monitor,
        "poll-deals-cron",
        "filecoin.poll_schedule",
        &expression,
        services,
        tick,
    )
}

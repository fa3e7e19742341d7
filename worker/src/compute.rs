//! Compute-to-data: `RunCompute` runs a waiting job with its environment's executor (to its
//! end for the sandbox, handing it over for an operator); `FollowCompute` (cron) polls
//! handed-over jobs, fails jobs whose runner died, queues waiting jobs whose queue job was
//! lost, and purges deleted jobs once they ended. Results past their storage expiry go in
//! the reconciliation sweep (housekeeping).
use std::{sync::Arc, time::Duration};

use apalis::prelude::*;
use apalis_cron::Tick;
use futures::future::BoxFuture;
use wharf_core::{compute::run::RunOutcome, jobs::RunCompute, services::Services};

use crate::register::{Handler, Run, cron, observed};

/// How long a job waits for room in a full environment before it asks again.
const FULL_RETRY: Duration = Duration::from_secs(2);

pub fn handler() -> Handler<RunCompute> {
    |job, services, attempt| {
        let attempt = Run::new(&attempt, &services);
        Box::pin(run(job, services, attempt))
    }
}

async fn run(
    job: RunCompute,
    services: Data<Arc<Services>>,
    attempt: Run,
) -> Result<(), BoxDynError> {
    observed(RunCompute::QUEUE, Some(attempt), async move {
        match services.compute.run(&job.job_id).await? {
            RunOutcome::Full => {
                services
                    .queue
                    .push_compute_after(&job.job_id, Some(FULL_RETRY))
                    .await?;
            }
            RunOutcome::Done | RunOutcome::Skipped => {}
        }
        Ok(())
    })
    .await
}

fn tick(_tick: Tick, services: Data<Arc<Services>>) -> BoxFuture<'static, Result<(), BoxDynError>> {
    Box::pin(async move {
        observed("follow-compute", None, async {
            let report = services.compute.follow_jobs().await?;
            if report != Default::default() {
                tracing::info!(
                    polled = report.polled,
                    failed_abandoned = report.failed_abandoned,
                    requeued = report.requeued,
                    "compute jobs followed"
                );
            }
            Ok(())
        })
        .await
    })
}

pub fn register_cron(monitor: Monitor, services: Arc<Services>) -> anyhow::Result<Monitor> {
    let expression = services.config.compute.poll_schedule.clone();
    cron(
        monitor,
        "follow-compute-cron",
        "compute.poll_schedule",
        &expression,
        services,
        tick,
    )
}

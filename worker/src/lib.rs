//! Background workers of wharf. One module per job; [`run`] registers them all on an apalis
//! Monitor over the queue backend the process was started with, and stops them gracefully.
pub mod compute;
pub mod deals;
pub mod housekeeping;
pub mod pieces;
pub mod register;
pub mod uploads;

use std::{sync::Arc, time::Duration};

use apalis::prelude::Monitor;
use wharf_core::{
    jobs::{ComputePiece, Housekeeping, MakeDeals, ProcessUpload, RunCompute, queue_name},
    services::Services,
};

/// The Monitor every worker registers on. A worker whose backend failed (Redis restarted, a
/// poll that errored) starts again after a pause (`register_job!`) instead of taking the whole
/// process down with it.
pub fn monitor(config: &wharf_core::config::Config) -> Monitor {
    Monitor::new()
        .shutdown_timeout(Duration::from_secs(config.jobs.shutdown_timeout_secs))
        .should_restart(|worker, error| {
            tracing::warn!(worker = %worker.name(), %error, "worker failed; restarting it");
            true
        })
}

/// Runs every worker until `shutdown` resolves; running jobs then get
/// `jobs.shutdown_timeout_secs` to finish before they are handed back to the queue.
pub async fn run(
    services: Arc<Services>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = services.config.clone();
    let mut monitor = monitor(&config);

    let prefix = &config.queue_prefix;
    let queues = &services.queue;
    monitor = register_job!(
        monitor,
        queue_name(prefix, Housekeeping::QUEUE),
        &queues.housekeeping,
        housekeeping::handler(),
        services.clone()
    );
    monitor = register_job!(
        monitor,
        queue_name(prefix, ProcessUpload::QUEUE),
        &queues.uploads,
        uploads::handler(),
        services.clone()
    );
    monitor = register_job!(
        monitor,
        queue_name(prefix, MakeDeals::QUEUE),
        &queues.deals,
        deals::handler(),
        services.clone()
    );
    monitor = register_job!(
        monitor,
        queue_name(prefix, RunCompute::QUEUE),
        &queues.compute,
        compute::handler(),
        services.clone()
    );
    monitor = register_job!(
        monitor,
        queue_name(prefix, ComputePiece::QUEUE),
        &queues.pieces,
        pieces::handler(),
        services.clone()
    );
    monitor = housekeeping::register_cron(monitor, services.clone())?;
    monitor = compute::register_cron(monitor, services.clone())?;
    monitor = deals::register_cron(monitor, services.clone())?;

    if services.queue.is_redis() {
        tokio::spawn(promote_due_jobs(services.clone()));
    }
    tracing::info!(
        backend = if services.queue.is_redis() {
            "redis"
        } else {
            "sqlite"
        },
        concurrency = config.jobs.concurrency,
        "workers started"
    );
    monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await?;
    tracing::info!("workers stopped");
    Ok(())
}

/// Moves due delayed jobs (retries, waits) to their queues' active lists, a chunk at a time,
/// every poll interval (see `wharf_core::jobs::Storage::promote_due`). Ends with the process.
async fn promote_due_jobs(services: Arc<Services>) {
    let every = Duration::from_millis(services.config.jobs.poll_interval_ms.max(10));
    let mut failing = false;
    loop {
        tokio::time::sleep(every).await;
        match services.queue.promote_due().await {
            Ok(_) if failing => {
                tracing::info!("due jobs are moving again");
                failing = false;
            }
            Ok(_) => {}
            // Once per outage rather than every interval.
            Err(e) if !failing => {
                tracing::warn!(error = %e, "cannot move due jobs to their queues; retrying");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

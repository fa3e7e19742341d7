//! Background workers of wharf. One module per job; [`run`] registers them all on an apalis
//! Monitor over the queue backend the process was started with, and stops them gracefully.
pub mod compute;
pub mod deals;
pub mod housekeeping;
pub mod register;
pub mod uploads;

use std::{sync::Arc, time::Duration};

use apalis::prelude::Monitor;
use wharf_core::{
    jobs::{Housekeeping, MakeDeals, ProcessUpload, RunCompute, queue_name},
    services::Services,
};

/// Runs every worker until `shutdown` resolves; running jobs then get
/// `jobs.shutdown_timeout_secs` to finish before they are handed back to the queue.
pub async fn run(
    services: Arc<Services>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = services.config.clone();
    let mut monitor =
        Monitor::new().shutdown_timeout(Duration::from_secs(config.jobs.shutdown_timeout_secs));

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
    monitor = housekeeping::register_cron(monitor, services.clone())?;
    monitor = compute::register_cron(monitor, services.clone())?;
    monitor = deals::register_cron(monitor, services.clone())?;

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

//! Background workers of wharf. One module per job; [`run`] registers them all on an apalis
//! Monitor over the queue backend the process was started with, and stops them gracefully.
pub mod deals;
pub mod housekeeping;
pub mod register;
pub mod uploads;

use std::{sync::Arc, time::Duration};

use apalis::prelude::Monitor;
use wharf_core::{
    jobs::{Housekeeping, MakeDeals, ProcessUpload, Storage, queue_name},
    services::Services,
};

/// Runs every worker until `shutdown` resolves; running jobs then get
/// `jobs.shutdown_timeout_secs` to finish before they are handed back to the queue.
pub async fn run(
    services: Arc<Services>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = services.config.clone();
    let poll = Duration::from_millis(config.jobs.poll_interval_ms);
    let mut monitor =
        Monitor::new().shutdown_timeout(Duration::from_secs(config.jobs.shutdown_timeout_secs));

    let queue = queue_name(&config.queue_prefix, Housekeeping::QUEUE);
    monitor = match &services.queue.housekeeping {
        Storage::Sqlite(s) => register_job!(
            monitor,
            queue,
            s.clone(),
            housekeeping::handler(),
            services.clone(),
            poll = poll
        ),
        Storage::Redis(r) => register_job!(
            monitor,
            queue,
            r.clone(),
            housekeeping::handler(),
            services.clone()
        ),
    };
    let queue = queue_name(&config.queue_prefix, ProcessUpload::QUEUE);
    monitor = match &services.queue.uploads {
        Storage::Sqlite(s) => register_job!(
            monitor,
            queue,
            s.clone(),
            uploads::handler(),
            services.clone(),
            poll = poll
        ),
        Storage::Redis(r) => register_job!(
            monitor,
            queue,
            r.clone(),
            uploads::handler(),
            services.clone()
        ),
    };
    let queue = queue_name(&config.queue_prefix, MakeDeals::QUEUE);
    monitor = match &services.queue.deals {
        Storage::Sqlite(s) => register_job!(
            monitor,
            queue,
            s.clone(),
            deals::handler(),
            services.clone(),
            poll = poll
        ),
        Storage::Redis(r) => register_job!(
            monitor,
            queue,
            r.clone(),
            deals::handler(),
            services.clone()
        ),
    };
    monitor = housekeeping::register_cron(monitor, services.clone())?;
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

//! Registering a job's worker on the Monitor, the same way for every job and backend.
use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use apalis::{
    layers::retry::{
        BackoffRetryPolicy, HasherRng, RetryPolicy,
        backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff},
    },
    prelude::*,
};
use futures::future::BoxFuture;
use wharf_core::services::Services;

/// A job handler: the job, the process services, and which attempt this is.
pub type Handler<T> =
    fn(T, Data<Arc<Services>>, Attempt) -> BoxFuture<'static, Result<(), BoxDynError>>;

/// A worker name unique to this process: apalis-redis tracks in-flight jobs per worker name,
/// and two processes sharing one would hide each other's crashes.
pub fn unique_name(queue: &str) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!(
        "{queue}-{host}-{}-{}",
        std::process::id(),
        ulid::Ulid::generate()
    )
}

/// Wakes a worker every `every` to fetch. apalis' own interval strategy arms its next delay
/// without polling it, so that delay registers no waker: a worker woken by nothing else
/// (no fetch in flight) slept until its heartbeat, and a job pushed meanwhile waited seconds.
pub struct EveryInterval {
    every: Duration,
    next: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl EveryInterval {
    pub fn new(every: Duration) -> Self {
        Self { every, next: None }
    }
}

impl Clone for EveryInterval {
    fn clone(&self) -> Self {
        Self::new(self.every)
    }
}

impl apalis_core::backend::ext::poll_strategy::PollStrategy for EveryInterval {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _: &apalis_core::backend::ext::poll_strategy::PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        let every = self.every;
        let next = self
            .next
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        if next.as_mut().poll(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        // Armed and polled at once, so that it wakes this worker when it is due.
        let mut following = Box::pin(tokio::time::sleep(every));
        let _ = following.as_mut().poll(cx);
        self.next = Some(following);
        std::task::Poll::Ready(Some(()))
    }
}

/// Exponential backoff between attempts: 1 s, 2 s, 4 s ... capped at 5 minutes, with jitter.
pub fn retry_policy(retries: usize) -> BackoffRetryPolicy<ExponentialBackoff> {
    let maker = ExponentialBackoffMaker::new(
        Duration::from_secs(1),
        Duration::from_secs(300),
        0.5,
        HasherRng::default(),
    );
    match maker {
        Ok(mut maker) => RetryPolicy::retries(retries).with_backoff(maker.make_backoff()),
        // The constants above are valid; this arm only keeps a typo from panicking.
        Err(_) => {
            RetryPolicy::retries(0).with_backoff(ExponentialBackoffMaker::default().make_backoff())
        }
    }
}

/// Registers the worker of one job queue (`wharf_core::jobs::Storage` of either backend). A
/// macro rather than a generic function: apalis' service bounds are concrete per backend, and
/// spelling them out generically costs more than it explains.
#[macro_export]
macro_rules! register_job {
    ($monitor:expr, $queue:expr, $storage:expr, $handler:expr, $services:expr) => {{
        let services = $services;
        match $storage {
            // apalis-sqlite parks an idle worker until its next heartbeat: poll it as well.
            wharf_core::jobs::Storage::Sqlite(storage) => {
                let storage = storage.clone();
                let poll = std::time::Duration::from_millis(services.config.jobs.poll_interval_ms);
                $crate::register_job!(@build $monitor, $queue,
                    apalis::prelude::BackendExt::poll_with_strategy(
                        storage.clone(), $crate::register::EveryInterval::new(poll)),
                    $handler, services)
            }
            // apalis-redis fetches at each heartbeat only (10 s): poll it as often as SQLite.
            wharf_core::jobs::Storage::Redis(storage) => {
                let storage = storage.clone();
                let poll = std::time::Duration::from_millis(services.config.jobs.poll_interval_ms);
                $crate::register_job!(@build $monitor, $queue,
                    apalis::prelude::BackendExt::poll_with_strategy(
                        storage.clone(), $crate::register::EveryInterval::new(poll)),
                    $handler, services)
            }
        }
    }};
    (@build $monitor:expr, $queue:expr, $backend:expr, $handler:expr, $services:expr) => {{
        use apalis::layers::WorkerBuilderExt as _;
        use tower::Layer as _;
        let name = $crate::register::unique_name(&$queue);
        let services = $services;
        let concurrency = services.config.jobs.concurrency;
        let retries = services.config.jobs.max_retries;
        $monitor.register(move |restarts| {
            // A restarted worker waits first (1 s, 2 s … 30 s), so that a backend that is down
            // is not polled in a tight loop.
            let pause = std::time::Duration::from_secs(restarts.min(30) as u64);
            let backend = apalis::prelude::BackendExt::before_start($backend, move |_| async move {
                tokio::time::sleep(pause).await;
                Ok(())
            });
            apalis::prelude::WorkerBuilder::new(name.clone())
                .backend(backend)
                .concurrency(concurrency)
                .retry($crate::register::retry_policy(retries))
                .layer($crate::register::task_spans())
                .data(services.clone())
                // Inside the lifecycle, so that a panicking job ends as Killed instead of
                // being left Running (the builder's own catch_panic wraps outside it).
                .build(
                    apalis::layers::catch_panic::CatchPanicLayer::<_, apalis::prelude::AbortError>::new()
                        .layer(apalis::prelude::task_fn($handler)),
                )
        })
    }};
}

/// A cron tick's handler.
pub type TickHandler =
    fn(apalis_cron::Tick, Data<Arc<Services>>) -> BoxFuture<'static, Result<(), BoxDynError>>;

/// Registers a worker that runs `tick` on the cron `expression` (seconds first) in this
/// process; `setting` names the configuration key, for the error of a bad expression.
pub fn cron(
    monitor: Monitor,
    name: &str,
    setting: &str,
    expression: &str,
    services: Arc<Services>,
    tick: TickHandler,
) -> anyhow::Result<Monitor> {
    use std::str::FromStr;
    let schedule = cron::Schedule::from_str(expression)
        .map_err(|e| anyhow::anyhow!("{setting} {expression:?}: {e}"))?;
    let name = unique_name(name);
    Ok(monitor.register(move |_| {
        WorkerBuilder::new(name.clone())
            .backend(apalis_cron::CronScheduler::new(schedule.clone()))
            .layer(task_spans())
            .data(services.clone())
            .build(tick)
    }))
}

/// Each job runs in an info-level `task` span with its `task_id` and `attempt`, so every line
/// it logs names the job (apalis' own span is at debug level, which the default filter drops).
pub fn task_spans() -> apalis::layers::tracing::TraceLayer {
    use apalis::layers::tracing::{DefaultMakeSpan, TraceLayer};
    TraceLayer::new().make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
}

/// Which run of a queued job this is, so that a failure of the last one reads as the job
/// giving up.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    attempt: usize,
    retries: usize,
}

impl Run {
    /// apalis counts runs from 1 (it increments the attempt as a run starts) and retries a
    /// failed run while `retries >= attempt`; the retries are `jobs.max_retries`, which
    /// `register_job!` gives the retry layer.
    pub fn new(attempt: &Attempt, services: &Services) -> Self {
        Run {
            attempt: attempt.current(),
            retries: services.config.jobs.max_retries,
        }
    }

    fn is_last(&self) -> bool {
        self.attempt > self.retries
    }
}

/// Runs a job body (`run`: which run of a queued job; none for a cron tick) and records its
/// outcome and duration per queue. A failure is logged with why, and whether the job will run
/// again or gave up.
pub async fn observed<F>(queue: &'static str, run: Option<Run>, body: F) -> Result<(), BoxDynError>
where
    F: Future<Output = Result<(), BoxDynError>>,
{
    let started = Instant::now();
    let result = body.await;
    let outcome = match &result {
        Ok(()) => "done",
        Err(e) if e.is::<AbortError>() => "aborted",
        Err(_) => "failed",
    };
    if let Err(e) = &result {
        let attempt = run.map(|r| r.attempt);
        match run {
            None => {
                tracing::warn!(queue, error = %e, "scheduled run failed; the next tick runs again")
            }
            Some(r) if outcome == "aborted" || r.is_last() => tracing::error!(
                queue,
                outcome,
                attempt,
                error = %e,
                "job gave up"
            ),
            Some(_) => tracing::warn!(queue, attempt, error = %e, "job failed; it will be retried"),
        }
    }
    metrics::counter!("wharf_jobs_total", "queue" => queue, "outcome" => outcome).increment(1);
    metrics::histogram!("wharf_job_duration_seconds", "queue" => queue)
        .record(started.elapsed().as_secs_f64());
    result
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Log lines written while `work` runs.
    async fn logged(work: impl Future<Output = ()>) -> String {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        work.await;
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    /// What `observed` logs when run `attempt` of a job with 5 retries fails with `error`.
    async fn failure_logged(attempt: usize, error: BoxDynError) -> String {
        let run = Run {
            attempt,
            retries: 5,
        };
        logged(async {
            let _ = observed("uploads", Some(run), async { Err(error) }).await;
        })
        .await
    }

    #[tokio::test]
    async fn the_last_failed_attempt_is_logged_as_giving_up_with_why() {
        let out = failure_logged(3, "the chain did not answer".into()).await;
        assert!(out.contains("job failed; it will be retried"), "{out}");
        assert!(!out.contains("gave up"), "{out}");
        let out = failure_logged(6, "the chain did not answer".into()).await;
        assert!(out.contains("ERROR"), "{out}");
        assert!(out.contains("job gave up"), "{out}");
        assert!(out.contains("the chain did not answer"), "{out}");
        assert!(out.contains("attempt=6"), "{out}");
        // An abort gives up at once.
        let out = failure_logged(1, Box::new(AbortError::new("bad input".to_string()))).await;
        assert!(out.contains("job gave up"), "{out}");
    }

    /// Polled the way apalis polls it (once per wake-up of the worker, nothing else waking
    /// it), the interval keeps waking the worker: a job pushed to an idle queue is fetched
    /// within one interval, not at the next heartbeat.
    #[tokio::test]
    async fn the_poll_interval_wakes_an_idle_worker_on_every_tick() {
        use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};
        let mut strategy = super::EveryInterval::new(Duration::from_millis(20));
        let snapshot = PollSnapshot::default();
        let mut ticks = 0;
        let ticked = tokio::time::timeout(
            Duration::from_secs(5),
            std::future::poll_fn(|cx| {
                if strategy.poll_drive(cx, &snapshot).is_ready() {
                    ticks += 1;
                    if ticks == 10 {
                        return std::task::Poll::Ready(());
                    }
                }
                std::task::Poll::Pending
            }),
        )
        .await;
        assert!(
            ticked.is_ok(),
            "the worker was woken {ticks} times, then never"
        );
    }
}

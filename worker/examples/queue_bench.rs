//! Queue throughput: no-op jobs per second through the backend wharf runs on (apalis-sqlite in
//! the data dir, or apalis-redis when `REDIS_URL` is set), with 1 or more worker processes
//! registered exactly as `wharf worker` registers its queues (same macro, retry layer, spans,
//! concurrency and poll interval from the configuration).
//!
//! Usage: `queue_bench <jobs> <worker processes>`. The jobs are pushed first (the push rate is
//! printed too); then the worker processes start, each waits until all are ready, and the
//! clock runs from the word go until the last job is done.
use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use apalis::prelude::Data;
use serde::{Deserialize, Serialize};
use wharf_core::{config::Config, jobs::JobQueue, services::Services};
use wharf_worker::register::Handler;

/// The job: nothing to do but be fetched, run and acknowledged.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Noop {
    seq: u64,
}

const QUEUE: &str = "bench-noop";

static DONE: AtomicU64 = AtomicU64::new(0);

fn noop_handler() -> Handler<Noop> {
    |_job, _services: Data<Arc<Services>>, _attempt| {
        DONE.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new()?;
    if args.first().map(String::as_str) == Some("--work") {
        return runtime.block_on(work());
    }
    let jobs: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let workers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    runtime.block_on(drive(jobs, workers))
}

/// The driver: pushes the jobs, starts the worker processes and times them.
async fn drive(jobs: u64, workers: usize) -> anyhow::Result<()> {
    // Each run gets its own queue (and, on SQLite, its own data dir) unless told otherwise.
    let prefix = format!("bench{}", std::process::id());
    let data_dir = std::env::temp_dir().join(format!("wharf-queue-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data_dir)?;
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.push(("WHARF_QUEUE_PREFIX".into(), prefix));
    if std::env::var_os("WHARF_DATA_DIR").is_none() {
        vars.push(("WHARF_DATA_DIR".into(), data_dir.display().to_string()));
    }
    let config = Config::load_from(std::env::var("WHARF_CONFIG").ok().as_deref(), &vars)?;
    let backend = if config.redis_url.is_some() {
        "apalis-redis"
    } else {
        "apalis-sqlite"
    };
    let queue = Arc::new(JobQueue::connect(&config).await?);
    let storage = queue.storage::<Noop>(QUEUE);

    // Push from 32 tasks at once, as concurrent API requests would.
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut pushers = Vec::new();
    for _ in 0..32 {
        let (storage, next, attempts) = (storage.clone(), next.clone(), queue.max_attempts());
        pushers.push(tokio::spawn(async move {
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= jobs {
                    return Ok::<_, anyhow::Error>(());
                }
                storage.push(Noop { seq }, attempts).await?;
            }
        }));
    }
    for pusher in pushers {
        pusher.await??;
    }
    let pushed = started.elapsed();

    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    let (tx, rx) = std::sync::mpsc::channel::<(usize, String)>();
    for i in 0..workers {
        let mut child = Command::new(&exe)
            .arg("--work")
            .envs(vars.iter().cloned())
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send((i, line)).is_err() {
                    return;
                }
            }
        });
        children.push(child);
    }
    let mut ready = 0;
    while ready < workers {
        let (_, line) = rx.recv_timeout(Duration::from_secs(60))?;
        if line == "ready" {
            ready += 1;
        }
    }
    let go = Instant::now();
    for child in &mut children {
        if let Some(stdin) = child.stdin.as_mut() {
            writeln!(stdin, "go")?;
            stdin.flush()?;
        }
    }
    let mut done = vec![0u64; workers];
    let deadline = go + Duration::from_secs(600);
    let ran = loop {
        let (i, line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))?;
        if let Some(n) = line.strip_prefix("done ").and_then(|n| n.parse().ok()) {
            done[i] = n;
        }
        if done.iter().sum::<u64>() >= jobs {
            break go.elapsed();
        }
    };
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    println!(
        "{backend:<14} push (32 tasks)      {:>9.0} jobs/s  ({jobs} jobs in {:.2} s)",
        jobs as f64 / pushed.as_secs_f64(),
        pushed.as_secs_f64()
    );
    println!(
        "{backend:<14} run, {workers} worker process{} {:>9.0} jobs/s  ({jobs} jobs in {:.2} s; per process: {done:?}; concurrency {} each)",
        if workers == 1 { " " } else { "es" },
        jobs as f64 / ran.as_secs_f64(),
        ran.as_secs_f64(),
        config.jobs.concurrency,
    );
    Ok(())
}

/// A worker process: the no-op queue registered as `wharf worker` registers its own; reports
/// its count of done jobs every 20 ms.
async fn work() -> anyhow::Result<()> {
    let config = Config::load()?;
    let services = Arc::new(Services::start(config).await?);
    let storage = services.queue.storage::<Noop>(QUEUE);
    let name = wharf_core::jobs::queue_name(&services.config.queue_prefix, QUEUE);
    let monitor = wharf_worker::register_job!(
        wharf_worker::monitor(&services.config),
        name,
        &storage,
        noop_handler(),
        services.clone()
    );
    println!("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    tokio::spawn(async {
        let mut last = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = DONE.load(Ordering::Relaxed);
            if now != last {
                println!("done {now}");
                last = now;
            }
        }
    });
    monitor.run().await?;
    Ok(())
}

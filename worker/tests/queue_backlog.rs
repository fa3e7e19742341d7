//! A backlog larger than a Lua `unpack` (about 8,000 ids) is worked off: apalis-redis 1.0 moves
//! every due job in one `unpack`, so 9,000 jobs queued between two polls used to fail every
//! fetch and stop the worker process. Runs on Redis when `WHARF_TEST_REDIS_URL` is set, else on
//! the embedded apalis-sqlite with a smaller backlog.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use apalis::prelude::Data;
use serde::{Deserialize, Serialize};
use wharf_core::{config::Config, jobs::queue_name, services::Services};
use wharf_worker::register::Handler;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Counted {
    seq: u64,
}

static DONE: AtomicU64 = AtomicU64::new(0);

fn handler() -> Handler<Counted> {
    |_job, _services: Data<Arc<Services>>, _attempt| {
        DONE.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_beyond_a_lua_unpack_is_worked_off_now_and_when_delayed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        queue_prefix: format!("backlog{}", std::process::id()),
        ..Config::default()
    };
    config.redis_url = std::env::var("WHARF_TEST_REDIS_URL").ok();
    config.jobs.poll_interval_ms = 50;
    let (now, later) = if config.redis_url.is_some() {
        (9_000, 9_000)
    } else {
        (300, 300)
    };
    let services = Arc::new(Services::start(config).await.unwrap());
    let storage = services.queue.storage::<Counted>("backlog");
    let attempts = services.queue.max_attempts();

    // Jobs to run now, and jobs that all fall due together a second later.
    for seq in 0..now {
        storage.push(Counted { seq }, attempts).await.unwrap();
    }
    for seq in now..now + later {
        storage
            .push_after(Counted { seq }, attempts, Some(Duration::from_secs(1)))
            .await
            .unwrap();
    }

    let name = queue_name(&services.config.queue_prefix, "backlog");
    let monitor = wharf_worker::register_job!(
        wharf_worker::monitor(&services.config),
        name,
        &storage,
        handler(),
        services.clone()
    );
    let promoter = {
        let storage = storage.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = storage.promote_due().await;
            }
        })
    };
    let running = tokio::spawn(monitor.run());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while DONE.load(Ordering::SeqCst) < now + later {
        assert!(
            !running.is_finished(),
            "the worker stopped with {} of {} jobs done",
            DONE.load(Ordering::SeqCst),
            now + later
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {} jobs done in 120 s",
            DONE.load(Ordering::SeqCst),
            now + later
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    promoter.abort();
    running.abort();
    if let Some(url) = &services.config.redis_url {
        // Leave nothing of this queue behind.
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", services.config.queue_prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        for key in keys {
            let _: () = redis::cmd("DEL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
}

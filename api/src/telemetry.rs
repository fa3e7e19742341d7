//! Logging: human-readable text by default, JSON lines with `WHARF_LOG_FORMAT=json`.
//! `RUST_LOG` filters as usual. Every request runs in a span carrying its request id, so each
//! line logged while serving it names that id.
use std::{
    io::{IsTerminal, Write},
    sync::{Condvar, Mutex, MutexGuard},
    time::Duration,
};

use tracing::{Level, Metadata};
use tracing_subscriber::{EnvFilter, fmt, fmt::MakeWriter, prelude::*};
use wharf_core::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,sea_orm=warn,apalis=info,async_graphql::graphql=warn")
    });
    // tokio-postgres logs each statement's parameters at debug (access tokens among them):
    // never below info, whatever RUST_LOG says.
    let filter = match "tokio_postgres=info".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    // Every enclosing span too, so a line logged deep inside a request (a
                    // GraphQL field) or a job still carries its request_id or job_id.
                    .with_span_list(true)
                    .with_writer(BatchedStdout),
            )
            .try_init(),
        // Colours only for a person at a terminal: a file, a pipe or journald would keep the
        // escape codes as text.
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_writer(BatchedStdout),
            )
            .try_init(),
    };
    // A second init (tests starting several apps) keeps the first subscriber.
    if result.is_ok() {
        start_flushing();
    }
}

/// Log lines waiting for the flusher, in the order they were logged.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Held while lines go to stdout, so that two flushes cannot interleave or reorder them.
static WRITING: Mutex<()> = Mutex::new(());
/// Wakes the flusher early when much is pending.
static WAKE: Condvar = Condvar::new();

/// How long an info line may wait before it reaches stdout.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Pending bytes that wake the flusher before its time.
const FLUSH_AT: usize = 64 * 1024;
/// Pending bytes at which a logging thread writes them itself, waiting for stdout as it did
/// before lines were batched: a stdout nobody reads (a stuck pipe) holds threads back instead
/// of growing the buffer without bound.
const PENDING_MAX: usize = 4 * 1024 * 1024;

/// Where log lines go: appended to a buffer that a thread of its own writes to stdout every
/// 50 ms, in one write. With each request's access-log line written by the request's thread,
/// the threads queued on stdout's lock and the access log doubled a read's CPU time. Warnings
/// and errors are written at once, with everything logged before them.
struct BatchedStdout;

struct PendingLine {
    urgent: bool,
}

impl<'a> MakeWriter<'a> for BatchedStdout {
    type Writer = PendingLine;

    fn make_writer(&'a self) -> PendingLine {
        PendingLine { urgent: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> PendingLine {
        PendingLine {
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

fn pending() -> MutexGuard<'static, Vec<u8>> {
    PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Write for PendingLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let pending_bytes = {
            let mut pending = pending();
            pending.extend_from_slice(bytes);
            pending.len()
        };
        if self.urgent || pending_bytes >= PENDING_MAX {
            flush();
        } else if pending_bytes >= FLUSH_AT {
            WAKE.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes every pending log line to stdout now. Called before the process ends and before
/// anything is printed to stdout directly.
pub fn flush() {
    let _writing = WRITING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let lines = std::mem::take(&mut *pending());
    if lines.is_empty() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    // Nowhere to report a failed write of the logs themselves.
    let _ = stdout.write_all(&lines);
    let _ = stdout.flush();
}

fn start_flushing() {
    let started = std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(|| {
            loop {
                let guard = pending();
                let (guard, _) = WAKE
                    .wait_timeout(guard, FLUSH_EVERY)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                drop(guard);
                flush();
            }
        });
    // Without the thread, lines still reach stdout at each warning and at exit; say so.
    if let Err(e) = started {
        eprintln!("wharf: no log-flushing thread ({e}); info lines are written in batches");
    }
    // Lines logged just before a panic are written before its message.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        flush();
        report(info);
    }));
}

/// Path segments that carry a secret, by the route prefix they follow: web-core access tokens
/// are bearer credentials written into the path (`/accounts/token/redeem/<token>`).
const SECRET_SEGMENT_AFTER: [&str; 4] = [
    "/accounts/token/balance/",
    "/accounts/token/redeem/",
    "/accounts/token/deposit/",
    "/accounts/token/withdraw/",
];

/// The request path as it may be logged: secrets in it replaced by `[redacted]`. Query
/// strings (signatures, keys) are never logged at all.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in SECRET_SEGMENT_AFTER {
        if let Some(rest) = path.strip_prefix(prefix)
            && !rest.is_empty()
        {
            let tail = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            return format!("{prefix}[redacted]{tail}").into();
        }
    }
    path.into()
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn access_tokens_in_paths_are_redacted() {
        assert_eq!(
            loggable_path("/accounts/token/redeem/AbC123xyz0987654"),
            "/accounts/token/redeem/[redacted]"
        );
        assert_eq!(
            loggable_path("/accounts/token/balance/tok/extra"),
            "/accounts/token/balance/[redacted]/extra"
        );
        assert_eq!(loggable_path("/accounts/token/new"), "/accounts/token/new");
        assert_eq!(loggable_path("/getQuote"), "/getQuote");
    }
}

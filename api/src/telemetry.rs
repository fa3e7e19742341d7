//! Logging: human-readable text by default, JSON lines with `WHARF_LOG_FORMAT=json`.
//! `RUST_LOG` filters as usual. Every request runs in a span carrying its request id, so each
//! line logged while serving it names that id.
use tracing_subscriber::{EnvFilter, fmt, prelude::*};
use wharf_core::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,apalis=info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Text => registry.with(fmt::layer()).try_init(),
    };
    // A second init (tests starting several apps) keeps the first subscriber.
    let _ = result;
}

//! Logging: human-readable text by default, JSON lines with `WHARF_LOG_FORMAT=json`.
//! `RUST_LOG` filters as usual. Every request runs in a span carrying its request id, so each
//! line logged while serving it names that id.
use tracing_subscriber::{EnvFilter, fmt, prelude::*};
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
                    .with_span_list(true),
            )
            .try_init(),
        LogFormat::Text => registry.with(fmt::layer()).try_init(),
    };
    // A second init (tests starting several apps) keeps the first subscriber.
    let _ = result;
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

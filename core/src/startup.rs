//! What `wharf serve`, `wharf worker` and `wharf check` verify before they start, so that an
//! operator learns of a mistake from one line at start-up instead of from failed payments:
//! the database and Redis answer, each chain's node is the chain it is configured as, its
//! treasury key parses and its tokens are contracts; and a one-screen summary of what runs.

use std::{fmt::Write as _, str::FromStr, time::Duration};

use alloy_primitives::Address;
use alloy_provider::{Provider, ProviderBuilder};

use crate::config::Config;

/// How long a start-up probe waits for a node, the database or Redis.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// One finding of the start-up checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// wharf cannot work as configured: it does not start.
    Fatal,
    /// Something works less than configured (a node that does not answer now); `serve` starts,
    /// `check` fails.
    Warning,
}

impl Finding {
    fn fatal(message: String) -> Self {
        Finding {
            severity: Severity::Fatal,
            message,
        }
    }
    fn warning(message: String) -> Self {
        Finding {
            severity: Severity::Warning,
            message,
        }
    }
}

/// What was verified, for the summary: each chain's treasury address.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub treasuries: Vec<(u64, Address)>,
}

impl Report {
    pub fn fatal(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Fatal)
    }
}

/// Runs every check; never fails itself: each problem is a finding.
pub async fn check(config: &Config) -> Report {
    let mut report = Report::default();
    if let Some(url) = &config.database_url
        && let Some(finding) = reachable("the database", "DATABASE_URL", url, 5432).await
    {
        report.findings.push(finding);
    }
    if let Some(url) = &config.redis_url
        && let Some(finding) = reachable("Redis", "REDIS_URL", url, 6379).await
    {
        report.findings.push(finding);
    }
    for chain in &config.chains {
        check_chain(chain, &mut report).await;
    }
    report
}

/// One clear line when a networked backend's host does not accept connections, instead of a
/// pool timing out without naming it.
async fn reachable(what: &str, variable: &str, url: &str, default_port: u16) -> Option<Finding> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    // A Unix socket or an embedded URL has no host to reach.
    if host.is_empty() {
        return None;
    }
    let port = parsed.port().unwrap_or(default_port);
    let attempt = tokio::time::timeout(
        PROBE_TIMEOUT,
        tokio::net::TcpStream::connect((host.to_string(), port)),
    )
    .await;
    let problem = match attempt {
        Ok(Ok(_)) => return None,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
    };
    Some(Finding::fatal(format!(
        "cannot reach {what} at {host}:{port} ({variable}): {problem}"
    )))
}

async fn check_chain(chain: &crate::config::ChainConfig, report: &mut Report) {
    let id = chain.chain_id;
    match &chain.treasury_key {
        Some(key) => match alloy_signer_local::PrivateKeySigner::from_str(key.expose()) {
            Ok(signer) => report.treasuries.push((id, signer.address())),
            Err(_) => report.findings.push(Finding::fatal(format!(
                "chain {id}: the treasury key (WHARF_TREASURY_KEY_{id} or treasury_key_file) is \
                 not a hex private key"
            ))),
        },
        None if !chain.tokens.is_empty() => report.findings.push(Finding::fatal(format!(
            "chain {id}: its tokens are offered for payment but it has no treasury key to \
             collect them: set WHARF_TREASURY_KEY_{id} or treasury_key_file under [[chains]]"
        ))),
        None => {}
    }
    let Ok(url) = chain.rpc_url.parse() else {
        report.findings.push(Finding::fatal(format!(
            "chain {id}: rpc_url {:?} is not a URL",
            chain.rpc_url
        )));
        return;
    };
    let node = ProviderBuilder::new().connect_http(url);
    match tokio::time::timeout(PROBE_TIMEOUT, node.get_chain_id()).await {
        Ok(Ok(answered)) if answered == id => {}
        Ok(Ok(answered)) => {
            report.findings.push(Finding::fatal(format!(
                "chain {id}: the node at {} is chain {answered} (eth_chainId), not {id}: fix \
                 chain_id or rpc_url",
                chain.rpc_url
            )));
            return;
        }
        Ok(Err(e)) => {
            report.findings.push(Finding::warning(format!(
                "chain {id}: the node at {} does not answer: {e}",
                chain.rpc_url
            )));
            return;
        }
        Err(_) => {
            report.findings.push(Finding::warning(format!(
                "chain {id}: the node at {} did not answer within {} s",
                chain.rpc_url,
                PROBE_TIMEOUT.as_secs()
            )));
            return;
        }
    }
    for token in &chain.tokens {
        let Ok(address) = Address::from_str(&token.address) else {
            continue; // Config validation reports a malformed address.
        };
        match tokio::time::timeout(PROBE_TIMEOUT, node.get_code_at(address)).await {
            Ok(Ok(code)) if code.is_empty() => report.findings.push(Finding::fatal(format!(
                "chain {id}: token {} at {} is not a contract on this chain",
                token.symbol, token.address
            ))),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => report.findings.push(Finding::warning(format!(
                "chain {id}: cannot read the code of token {}: {e}",
                token.symbol
            ))),
            Err(_) => report.findings.push(Finding::warning(format!(
                "chain {id}: no answer for the code of token {}",
                token.symbol
            ))),
        }
    }
}

/// A URL with its password hidden.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(not a URL)".to_string(),
    }
}

/// The one-screen summary printed at start-up and by `wharf check`.
pub fn summary(config: &Config, report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  listen        {}", config.listen);
    let database = match &config.database_url {
        Some(url) => redacted(url),
        None => format!("SQLite in {}", config.data_dir.join("wharf.db").display()),
    };
    let _ = writeln!(out, "  database      {database}");
    let queue = match &config.redis_url {
        Some(url) => format!("Redis {} (prefix {:?})", redacted(url), config.queue_prefix),
        None => format!("SQLite in {}", config.data_dir.join("jobs.db").display()),
    };
    let _ = writeln!(out, "  queue         {queue}");
    let _ = writeln!(
        out,
        "  blobs         {}",
        config
            .blob_store_url
            .clone()
            .unwrap_or_else(|| config.blob_dir().display().to_string())
    );
    let _ = writeln!(
        out,
        "  workers       {}",
        if config.workers_in_serve() {
            "in this process"
        } else {
            "in `wharf worker` processes"
        }
    );
    if config.chains.is_empty() {
        let _ = writeln!(
            out,
            "  chains        none (quotes are free or paid with credits)"
        );
    }
    for chain in &config.chains {
        let treasury = report
            .treasuries
            .iter()
            .find(|(id, _)| *id == chain.chain_id)
            .map(|(_, a)| a.to_checksum(None))
            .unwrap_or_else(|| "no treasury key".to_string());
        let tokens: Vec<&str> = chain.tokens.iter().map(|t| t.symbol.as_str()).collect();
        let _ = writeln!(
            out,
            "  chain {:<7} {} treasury {treasury} tokens [{}]",
            chain.chain_id,
            redacted(&chain.rpc_url),
            tokens.join(", ")
        );
    }
    let storages: Vec<&str> = config.storages.iter().map(|s| s.kind.as_str()).collect();
    let _ = writeln!(out, "  storages      {}", storages.join(", "));
    let _ = writeln!(out, "  siwe domain   {}", config.siwe_domain());
    let set = |s: bool| if s { "set" } else { "NOT SET" };
    let _ = writeln!(
        out,
        "  secrets       WHARF_ADMIN_API_KEY {}, WHARF_WEBCORE_SECRET {}",
        set(config.admin_api_key.is_some()),
        set(config.webcore_secret.is_some())
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_hide_passwords() {
        assert_eq!(
            redacted("postgres://wharf:hunter2@db:5432/wharf"),
            "postgres://wharf:***@db:5432/wharf"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[tokio::test]
    async fn an_unreachable_database_is_one_line_naming_host_and_port() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let finding = reachable(
            "the database",
            "DATABASE_URL",
            "postgres://u@127.0.0.1:1/x",
            5432,
        )
        .await
        .unwrap();
        assert_eq!(finding.severity, Severity::Fatal);
        assert!(
            finding
                .message
                .starts_with("cannot reach the database at 127.0.0.1:1 (DATABASE_URL): "),
            "{}",
            finding.message
        );
    }
}

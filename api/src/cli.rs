//! The `wharf` command line.
use std::{process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use tokio::sync::watch;
use wharf_core::{config::Config, db, services::Services, startup};

use crate::tools;

#[derive(Parser, Debug)]
#[command(
    name = "wharf",
    version,
    about = "Self-hostable gateway for decentralized storage, Filecoin datasets and compute-to-data",
    long_about = "Self-hostable gateway for decentralized storage, Filecoin datasets and compute-to-data.\n\n\
        With no configuration `wharf serve` keeps everything in ./wharf-data (SQLite, a job queue \
        in jobs.db, local blobs) and runs the workers in-process. Set DATABASE_URL and REDIS_URL \
        to use PostgreSQL and Redis, and run `wharf worker` processes to scale out. \
        Configuration: wharf.toml (or WHARF_CONFIG) and WHARF_* environment variables."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the API server (and, in the embedded mode, the workers).
    Serve,
    /// Run background workers only, for scaled deployments on Redis.
    Worker,
    /// Print the configuration wharf would run with (defaults, wharf.toml, environment) as
    /// TOML; secrets are never printed.
    Config {
        /// The built-in defaults only, ignoring wharf.toml and the environment.
        #[arg(long)]
        defaults: bool,
    },
    /// Ask this host's `serve` (`listen`), or else its `worker` (`worker_listen`), whether it is
    /// ready: exit 0 when `/readyz` answers 200. For container health checks.
    Health,
    /// Check the configuration as `serve` would (database, Redis, each chain's node, treasury
    /// key and tokens), print the start-up summary and exit: 0 when nothing is wrong.
    Check,
    /// Apply or inspect database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print the UnixFS CID of each file or directory (as `ipfs add -r --cid-version=1`
    /// would); `-` reads stdin.
    Cid {
        /// Files or directories (walked recursively); `-` for stdin.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// kubo (256 KiB chunks, 174 links), v1-2025 (1 MiB, 1024) or kubo-v0 (CIDv0).
        #[arg(long, default_value = "kubo")]
        profile: String,
        /// Include hidden entries (names starting with `.`) of directories.
        #[arg(long, short = 'H')]
        hidden: bool,
        /// Print JSON: [{"file", "cid", "size"}].
        #[arg(long)]
        json: bool,
    },
    /// Print the Filecoin piece commitment (CommP) and piece CIDs of a file.
    Commp {
        file: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The delta-dm command line: datasets, contents, providers, replications, wallets on a
    /// wharf server's `/api/v1`.
    Ddm {
        #[command(flatten)]
        connection: crate::ddm_cli::Connection,
        #[command(subcommand)]
        command: crate::ddm_cli::DdmCommand,
    },
    /// Pack files or directories into a CAR v1 (one: its DAG, a directory recursively, `-`
    /// for stdin; several: a directory of them).
    Car {
        /// Files or directories (walked recursively); `-` for stdin.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Where to write the CAR.
        #[arg(short, long)]
        output: std::path::PathBuf,
        /// kubo (256 KiB chunks, 174 links), v1-2025 (1 MiB, 1024) or kubo-v0 (CIDv0).
        #[arg(long, default_value = "kubo")]
        profile: String,
        /// Include hidden entries (names starting with `.`) of directories.
        #[arg(long, short = 'H')]
        hidden: bool,
        /// Print JSON: {"root", "car", "blocks", "size"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum MigrateAction {
    /// Apply all pending migrations.
    Up,
    /// Roll back the latest migrations.
    Down {
        /// How many migrations to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

/// Runs a client command (no configuration, no logging set-up) on a small runtime.
fn run_client(work: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wharf: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wharf: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Ddm {
        connection,
        command,
    } = cli.command
    {
        return run_client(crate::ddm_cli::run(connection, command));
    }
    let tool = match &cli.command {
        Command::Schema => {
            println!("{}", crate::graphql::sdl());
            return ExitCode::SUCCESS;
        }
        Command::Cid {
            files,
            profile,
            hidden,
            json,
        } => Some(tools::profile(profile).and_then(|profile| {
            let walk = tools::Walk {
                profile,
                hidden: *hidden,
            };
            tools::cid(files, walk, *json)
        })),
        Command::Commp { file, json } => Some(tools::commp(file, *json)),
        Command::Car {
            files,
            output,
            profile,
            hidden,
            json,
        } => Some(tools::profile(profile).and_then(|profile| {
            let walk = tools::Walk {
                profile,
                hidden: *hidden,
            };
            tools::car(files, output, walk, *json)
        })),
        _ => None,
    };
    if let Some(result) = tool {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wharf: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Config { defaults: true } = cli.command {
        return match config_toml(&Config::default()) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("wharf: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("wharf: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wharf: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli.command, config));
    // Log lines still waiting for the flusher go out before the process ends.
    crate::telemetry::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "wharf stopped");
            eprintln!("wharf: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(config).await,
        Command::Worker => worker(config).await,
        Command::Check => check(config).await,
        Command::Health => health(config).await,
        Command::Config { .. } => {
            print!("{}", config_toml(&config)?);
            Ok(())
        }
        Command::Migrate { action } => migrate(config, action).await,
        Command::Schema
        | Command::Cid { .. }
        | Command::Commp { .. }
        | Command::Car { .. }
        | Command::Ddm { .. } => Ok(()),
    }
}

/// The start-up checks before anything opens: every fatal finding is listed and stops the
/// process (with `strict`, warnings too); the summary goes to stderr, so stdout keeps only logs.
async fn preflight(config: &Config, strict: bool) -> anyhow::Result<startup::Report> {
    let report = startup::check(config).await;
    eprint!(
        "wharf {}\n{}",
        env!("CARGO_PKG_VERSION"),
        startup::summary(config, &report)
    );
    // Users of uploader.js give it this address to approve (README: "With uploader.js"). A
    // chain offering tokens without a treasury is a fatal finding below.
    for (chain, treasury) in &report.treasuries {
        tracing::info!(
            chain,
            treasury = %treasury.to_checksum(None),
            "payments on this chain go to its treasury"
        );
    }
    for finding in &report.findings {
        match finding.severity {
            startup::Severity::Fatal => tracing::error!("{}", finding.message),
            startup::Severity::Warning => tracing::warn!("{}", finding.message),
        }
    }
    if config.auth.siwe_domain.is_none() && config.listen.ip().is_unspecified() {
        tracing::warn!(
            domain = %config.siwe_domain(),
            "the Sign-In with Ethereum domain falls back to a wildcard listen address no browser \
             uses, so every sign-in fails: set WHARF_AUTH__SIWE_DOMAIN to the host:port users open"
        );
    }
    if config.admin_api_key.is_none() {
        tracing::warn!(
            "WHARF_ADMIN_API_KEY is not set: the operator's routes (datasets, deposits, GraphQL \
             operator fields) answer 401"
        );
    }
    let stopping: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| strict || f.severity == startup::Severity::Fatal)
        .map(|f| f.message.as_str())
        .collect();
    if !stopping.is_empty() {
        anyhow::bail!("{}", stopping.join("\n       "));
    }
    Ok(report)
}

/// The configuration as wharf.toml text (secrets are not part of it).
fn config_toml(config: &Config) -> anyhow::Result<String> {
    toml::to_string_pretty(config)
        .map_err(|e| anyhow::anyhow!("cannot write the configuration as TOML: {e}"))
}

async fn health(config: Config) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(4))
        .build()?;
    let mut last = String::new();
    for mut address in [config.listen, config.worker_listen] {
        // A wildcard listen address is reached on loopback.
        if address.ip().is_unspecified() {
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        match client.get(format!("http://{address}/readyz")).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("{address}/readyz answered {}", r.status()),
            Err(e) if last.is_empty() => last = format!("{address}: {e}"),
            Err(_) => {}
        }
    }
    anyhow::bail!("not ready: {last}")
}

async fn check(config: Config) -> anyhow::Result<()> {
    preflight(&config, true).await?;
    eprintln!("wharf check: nothing wrong");
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    preflight(&config, false).await?;
    let listen = config.listen;
    let workers = config.workers_in_serve();
    let services = Arc::new(Services::start(config).await?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(forward_signals(stop_tx));

    let worker_task = if workers {
        let services = services.clone();
        let stop = stop_rx.clone();
        Some(tokio::spawn(async move {
            wharf_worker::run(services, stopped(stop)).await
        }))
    } else {
        None
    };
    let app = crate::server::router(services.clone());
    tracing::info!(
        address = %local,
        workers_in_process = workers,
        startup_ms = started.elapsed().as_millis() as u64,
        "wharf listening"
    );
    // The plain line is for people and scripts reading text logs; JSON logs are JSON only
    // (the "wharf listening" event above carries the address).
    if services.config.log_format == wharf_core::config::LogFormat::Text {
        crate::telemetry::flush();
        println!("wharf listening on http://{local}");
    }
    crate::server::serve(listener, app, stopped(stop_rx)).await?;
    if let Some(task) = worker_task {
        task.await??;
    }
    tracing::info!("wharf stopped");
    Ok(())
}

async fn worker(config: Config) -> anyhow::Result<()> {
    preflight(&config, false).await?;
    let listen = config.worker_listen;
    let services = Arc::new(Services::start(config).await?);
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {listen} (WHARF_WORKER_LISTEN, worker_listen): {e}")
    })?;
    let local = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(forward_signals(stop_tx));
    let probes = crate::server::operations_router(services.clone());
    let probes_stop = stopped(stop_rx.clone());
    let probes = tokio::spawn(async move {
        axum::serve(listener, probes)
            .with_graceful_shutdown(probes_stop)
            .await
    });
    tracing::info!(address = %local, "wharf worker running");
    if services.config.log_format == wharf_core::config::LogFormat::Text {
        println!("wharf worker running; health and metrics on http://{local}");
    }
    wharf_worker::run(services, stopped(stop_rx)).await?;
    probes.await??;
    Ok(())
}

async fn migrate(config: Config, action: MigrateAction) -> anyhow::Result<()> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    let conn = db::connect(&config.database_url()).await?;
    match action {
        MigrateAction::Up => {
            db::migrate_up(&conn).await?;
            println!("migrations applied");
        }
        MigrateAction::Down { steps } => {
            db::migrate_down(&conn, steps).await?;
            println!("rolled back {steps} migration(s)");
        }
        MigrateAction::Status => {
            for (name, applied) in db::migration_status(&conn).await? {
                println!("{} {name}", if applied { "applied" } else { "pending" });
            }
        }
    }
    Ok(())
}

/// Flips `stop` on SIGINT or SIGTERM.
async fn forward_signals(stop: watch::Sender<bool>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown requested");
    let _ = stop.send(true);
}

/// Resolves once `stop` turns true.
pub async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

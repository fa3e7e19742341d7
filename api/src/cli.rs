//! The `wharf` command line.
use std::{process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use tokio::sync::watch;
use wharf_core::{config::Config, db, services::Services};

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
    /// Apply or inspect database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print the UnixFS CID of each file (as `ipfs add --cid-version=1` would).
    Cid {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// kubo (256 KiB chunks, 174 links), v1-2025 (1 MiB, 1024) or kubo-v0 (CIDv0).
        #[arg(long, default_value = "kubo")]
        profile: String,
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
    /// Pack files into a CAR v1 (one file: its DAG; several: a directory of them).
    Car {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Where to write the CAR.
        #[arg(short, long)]
        output: std::path::PathBuf,
        #[arg(long, default_value = "kubo")]
        profile: String,
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
            json,
        } => Some(tools::profile(profile).and_then(|p| tools::cid(files, p, *json))),
        Command::Commp { file, json } => Some(tools::commp(file, *json)),
        Command::Car {
            files,
            output,
            profile,
            json,
        } => Some(tools::profile(profile).and_then(|p| tools::car(files, output, p, *json))),
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
    match runtime.block_on(run(cli.command, config)) {
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
        Command::Migrate { action } => migrate(config, action).await,
        Command::Schema
        | Command::Cid { .. }
        | Command::Commp { .. }
        | Command::Car { .. }
        | Command::Ddm { .. } => Ok(()),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
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
    // Users of uploader.js give it this address to approve (README: "With uploader.js").
    for chain in &services.config.chains {
        match services.quotes.treasury(chain.chain_id) {
            Some(treasury) => tracing::info!(
                chain = chain.chain_id,
                treasury = %treasury.to_checksum(None),
                "payments on this chain go to its treasury"
            ),
            None => tracing::warn!(
                chain = chain.chain_id,
                "no treasury key for this chain: its tokens cannot pay for quotes"
            ),
        }
    }
    tracing::info!(
        address = %local,
        workers_in_process = workers,
        startup_ms = started.elapsed().as_millis() as u64,
        "wharf listening"
    );
    println!("wharf listening on http://{local}");
    crate::server::serve(listener, app, stopped(stop_rx)).await?;
    if let Some(task) = worker_task {
        task.await??;
    }
    tracing::info!("wharf stopped");
    Ok(())
}

async fn worker(config: Config) -> anyhow::Result<()> {
    let services = Arc::new(Services::start(config).await?);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(forward_signals(stop_tx));
    println!("wharf worker running");
    wharf_worker::run(services, stopped(stop_rx)).await?;
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

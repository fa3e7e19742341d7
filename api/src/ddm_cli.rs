//! `wharf ddm …`: the delta-dm command line, a client of `/api/v1` with upstream's commands and
//! flags (shared/reference/delta-dm.md §11). Prints the server's JSON answer.
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub struct Connection {
    /// Where the delta-dm API is served.
    #[arg(
        long = "ddm-api-info",
        env = "DDM_API_INFO",
        default_value = "http://127.0.0.1:8080"
    )]
    pub api: String,
    /// The operator key (WHARF_ADMIN_API_KEY of the server).
    #[arg(long = "delta-auth", env = "DELTA_AUTH", hide_env_values = true)]
    pub auth: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum DdmCommand {
    /// Datasets: add, list.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Contents of a dataset: import, list.
    #[command(subcommand)]
    Content(ContentCommand),
    /// Storage providers: add, modify, list.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Replications: create.
    #[command(subcommand)]
    Replication(ReplicationCommand),
    /// Replication profiles: add, modify, delete, list.
    #[command(subcommand, name = "replication-profile", alias = "rp")]
    ReplicationProfile(ProfileCommand),
    /// Wallets: import, associate, list, delete.
    #[command(subcommand)]
    Wallet(WalletCommand),
}

#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    Add {
        #[arg(long)]
        name: String,
        #[arg(
            long = "replication-quota",
            alias = "replicaion-quota",
            default_value_t = 6
        )]
        replication_quota: u64,
        /// Deal duration in days.
        #[arg(long, default_value_t = 540)]
        duration: u64,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum ContentCommand {
    Import {
        #[arg(long)]
        dataset: u32,
        #[arg(long, group = "format")]
        json: bool,
        #[arg(long, group = "format")]
        csv: bool,
        #[arg(long, group = "format")]
        singularity: bool,
        file: PathBuf,
    },
    List {
        #[arg(long)]
        dataset: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProviderCommand {
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: Option<String>,
    },
    Modify {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// on or off.
        #[arg(long = "allow-selfserve")]
        allow_selfserve: Option<String>,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum ReplicationCommand {
    Create {
        #[arg(long)]
        num: u64,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        dataset: Option<u32>,
        /// Days before the deals start (1..14).
        #[arg(long = "delay-start")]
        delay_start: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    Add {
        #[arg(long)]
        spid: String,
        #[arg(long)]
        dataset: u32,
        #[arg(long)]
        indexed: bool,
        #[arg(long)]
        unsealed: bool,
    },
    Modify {
        #[arg(long)]
        spid: String,
        #[arg(long)]
        dataset: u32,
        #[arg(long)]
        indexed: bool,
        #[arg(long)]
        unsealed: bool,
    },
    Delete {
        #[arg(long)]
        spid: String,
        #[arg(long)]
        dataset: u32,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum WalletCommand {
    Import {
        /// A lotus keystore file (`{"Type","PrivateKey"}`).
        #[arg(long, group = "key")]
        file: Option<PathBuf>,
        /// The hex of a lotus wallet export.
        #[arg(long, group = "key")]
        hex: Option<String>,
    },
    Delete {
        address: String,
    },
    Associate {
        #[arg(long)]
        address: String,
        /// Dataset ids, comma separated.
        #[arg(long, value_delimiter = ',')]
        datasets: Vec<u32>,
    },
    List {
        #[arg(long)]
        dataset: Option<u32>,
    },
}

/// What a request is: method, path under /api/v1, and a body.
enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

fn plan(command: DdmCommand) -> anyhow::Result<(reqwest::Method, String, Body)> {
    use reqwest::Method;
    Ok(match command {
        DdmCommand::Dataset(DatasetCommand::Add {
            name,
            replication_quota,
            duration,
        }) => (
            Method::POST,
            "/datasets".into(),
            Body::Json(
                json!({"name": name, "replication_quota": replication_quota, "deal_duration": duration}),
            ),
        ),
        DdmCommand::Dataset(DatasetCommand::List) => (Method::GET, "/datasets".into(), Body::None),
        DdmCommand::Content(ContentCommand::Import {
            dataset,
            csv,
            singularity,
            file,
            ..
        }) => {
            let query = if csv {
                "?import_type=csv"
            } else if singularity {
                "?import_type=singularity"
            } else {
                ""
            };
            (
                Method::POST,
                format!("/contents/{dataset}{query}"),
                Body::Raw(read(&file)?),
            )
        }
        DdmCommand::Content(ContentCommand::List { dataset }) => {
            (Method::GET, format!("/contents/{dataset}"), Body::None)
        }
        DdmCommand::Provider(ProviderCommand::Add { id, name }) => (
            Method::POST,
            "/providers".into(),
            Body::Json(json!({"actor_id": id, "actor_name": name})),
        ),
        DdmCommand::Provider(ProviderCommand::Modify {
            id,
            name,
            allow_selfserve,
        }) => (
            Method::PUT,
            format!("/providers/{id}"),
            Body::Json(json!({"actor_name": name, "allow_self_service": allow_selfserve})),
        ),
        DdmCommand::Provider(ProviderCommand::List) => {
            (Method::GET, "/providers".into(), Body::None)
        }
        DdmCommand::Replication(ReplicationCommand::Create {
            num,
            provider,
            dataset,
            delay_start,
        }) => (
            Method::POST,
            "/replications".into(),
            Body::Json(
                json!({"provider": provider, "dataset_id": dataset, "num_deals": num, "delay_start_days": delay_start}),
            ),
        ),
        DdmCommand::ReplicationProfile(ProfileCommand::Add {
            spid,
            dataset,
            indexed,
            unsealed,
        }) => (
            Method::POST,
            "/replication-profiles".into(),
            Body::Json(
                json!({"provider_actor_id": spid, "dataset_id": dataset, "indexed": indexed, "unsealed": unsealed}),
            ),
        ),
        DdmCommand::ReplicationProfile(ProfileCommand::Modify {
            spid,
            dataset,
            indexed,
            unsealed,
        }) => (
            Method::PUT,
            "/replication-profiles".into(),
            Body::Json(
                json!({"provider_actor_id": spid, "dataset_id": dataset, "indexed": indexed, "unsealed": unsealed}),
            ),
        ),
        DdmCommand::ReplicationProfile(ProfileCommand::Delete { spid, dataset }) => (
            Method::DELETE,
            "/replication-profiles".into(),
            Body::Json(json!({"provider_actor_id": spid, "dataset_id": dataset})),
        ),
        DdmCommand::ReplicationProfile(ProfileCommand::List) => {
            (Method::GET, "/replication-profiles".into(), Body::None)
        }
        DdmCommand::Wallet(WalletCommand::Import { file, hex }) => match (file, hex) {
            (Some(file), None) => (Method::POST, "/wallets".into(), Body::Raw(read(&file)?)),
            (None, Some(hex)) => (
                Method::POST,
                "/wallets?hex=true".into(),
                Body::Json(json!({"hex_key": hex})),
            ),
            _ => anyhow::bail!("give --file or --hex"),
        },
        DdmCommand::Wallet(WalletCommand::Delete { address }) => {
            (Method::DELETE, format!("/wallets/{address}"), Body::None)
        }
        DdmCommand::Wallet(WalletCommand::Associate { address, datasets }) => (
            Method::POST,
            "/wallets/associate".into(),
            Body::Json(json!({"address": address, "datasets": datasets})),
        ),
        DdmCommand::Wallet(WalletCommand::List { dataset }) => {
            let query = dataset.map(|d| format!("?dataset={d}")).unwrap_or_default();
            (Method::GET, format!("/wallets{query}"), Body::None)
        }
    })
}

/// Runs one command: checks the server answers `/health` (as upstream's CLI did), sends the
/// request and prints the answer; an error answer is an error.
pub async fn run(connection: Connection, command: DdmCommand) -> anyhow::Result<()> {
    let base = format!("{}/api/v1", connection.api.trim_end_matches('/'));
    let auth = connection
        .auth
        .ok_or_else(|| anyhow::anyhow!("set --delta-auth or DELTA_AUTH to the operator key"))?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()?;
    let health = client
        .get(format!("{base}/health"))
        .bearer_auth(&auth)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {base}: {e}"))?;
    if !health.status().is_success() {
        anyhow::bail!(
            "{base}/health answered {}: {}",
            health.status(),
            health.text().await.unwrap_or_default()
        );
    }
    let (method, path, body) = plan(command)?;
    let mut request = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(&auth);
    request = match body {
        Body::None => request,
        Body::Json(value) => request.json(&value),
        Body::Raw(bytes) => request.body(bytes),
    };
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    let pretty = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    if status.is_success() {
        println!("{pretty}");
        Ok(())
    } else {
        anyhow::bail!("{status}: {pretty}")
    }
}

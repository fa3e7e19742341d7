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

/// The zero byte counters a gorm model carries in upstream's request bodies.
fn zero_sizes() -> Value {
    json!({"raw": 0, "padded": 0})
}

/// A replication profile body: upstream always sends all four fields.
fn profile(spid: String, dataset: u32, unsealed: bool, indexed: bool) -> Body {
    Body::Json(json!({
        "provider_actor_id": spid,
        "dataset_id": dataset,
        "unsealed": unsealed,
        "indexed": indexed,
    }))
}

/// The request of a command, as upstream's CLI builds it (paths with their trailing slashes,
/// bodies with the same keys; shared/reference/delta-dm.md §11). The one difference: content
/// commands send the dataset id in decimal (upstream wrote it as one character).
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
            Body::Json(json!({
                "ID": 0,
                "CreatedAt": "0001-01-01T00:00:00Z",
                "UpdatedAt": "0001-01-01T00:00:00Z",
                "DeletedAt": null,
                "name": name,
                "replication_quota": replication_quota,
                "deal_duration": duration,
                "contents": null,
                "bytes_replicated": zero_sizes(),
                "bytes_total": zero_sizes(),
                "count_replicated": 0,
                "count_total": 0,
                "replication_profiles": null,
            })),
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
        DdmCommand::Provider(ProviderCommand::Add { id, name }) => {
            let mut body = serde_json::Map::new();
            body.insert("key".into(), json!("00000000-0000-0000-0000-000000000000"));
            body.insert("actor_id".into(), json!(id));
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                body.insert("actor_name".into(), json!(name));
            }
            body.insert("bytes_replicated".into(), zero_sizes());
            body.insert("replication_profiles".into(), Value::Null);
            (
                Method::POST,
                "/providers".into(),
                Body::Json(Value::Object(body)),
            )
        }
        DdmCommand::Provider(ProviderCommand::Modify {
            id,
            name,
            allow_selfserve,
        }) => {
            if let Some(switch) = &allow_selfserve
                && switch != "on"
                && switch != "off"
            {
                anyhow::bail!("allow-selfserve must be 'on' or 'off'");
            }
            // Unset flags are empty strings, which the server takes as "no change".
            (
                Method::PUT,
                format!("/providers/{id}"),
                Body::Json(json!({
                    "actor_name": name.unwrap_or_default(),
                    "allow_self_service": allow_selfserve.unwrap_or_default(),
                })),
            )
        }
        DdmCommand::Provider(ProviderCommand::List) => {
            (Method::GET, "/providers/".into(), Body::None)
        }
        DdmCommand::Replication(ReplicationCommand::Create {
            num,
            provider,
            dataset,
            delay_start,
        }) => {
            let mut body = serde_json::Map::new();
            body.insert("provider".into(), json!(provider));
            if let Some(dataset) = dataset.filter(|d| *d != 0) {
                body.insert("dataset_id".into(), json!(dataset));
            }
            body.insert("num_deals".into(), json!(num));
            if let Some(delay) = delay_start.filter(|d| *d != 0) {
                body.insert("delay_start_days".into(), json!(delay));
            }
            (
                Method::POST,
                "/replications".into(),
                Body::Json(Value::Object(body)),
            )
        }
        DdmCommand::ReplicationProfile(ProfileCommand::Add {
            spid,
            dataset,
            indexed,
            unsealed,
        }) => (
            Method::POST,
            "/replication-profiles/".into(),
            profile(spid, dataset, unsealed, indexed),
        ),
        DdmCommand::ReplicationProfile(ProfileCommand::Modify {
            spid,
            dataset,
            indexed,
            unsealed,
        }) => (
            Method::PUT,
            "/replication-profiles/".into(),
            profile(spid, dataset, unsealed, indexed),
        ),
        DdmCommand::ReplicationProfile(ProfileCommand::Delete { spid, dataset }) => (
            Method::DELETE,
            "/replication-profiles/".into(),
            profile(spid, dataset, false, false),
        ),
        DdmCommand::ReplicationProfile(ProfileCommand::List) => {
            (Method::GET, "/replication-profiles/".into(), Body::None)
        }
        DdmCommand::Wallet(WalletCommand::Import { file, hex }) => match (file, hex) {
            (Some(file), None) => (
                Method::POST,
                "/wallets".into(),
                Body::Json(keystore(&read(&file)?)?),
            ),
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

/// A lotus keystore file as `{"Type","PrivateKey"}`, its keys matched without regard to case
/// as upstream's CLI read them (other keys dropped).
fn keystore(file: &[u8]) -> anyhow::Result<Value> {
    let parsed: serde_json::Map<String, Value> = serde_json::from_slice(file)
        .map_err(|e| anyhow::anyhow!("the wallet file is not a JSON object: {e}"))?;
    let field = |name: &str| {
        parsed
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let (kind, key) = (field("Type"), field("PrivateKey"));
    if kind.is_empty() || key.is_empty() {
        anyhow::bail!("wallet data must contain Type and PrivateKey");
    }
    Ok(json!({"Type": kind, "PrivateKey": key}))
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
    // Upstream sent `Content-Type: application/json` on every request, CSV imports included.
    request = request.header(reqwest::header::CONTENT_TYPE, "application/json");
    request = match body {
        Body::None => request,
        Body::Json(value) => request.body(serde_json::to_vec(&value)?),
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

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
    /// Create a dataset.
    Add {
        /// Lowercase letters, digits, `-` and `_`.
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
    /// List datasets with their counts and replication profiles.
    List,
}

#[derive(Subcommand, Debug)]
pub enum ContentCommand {
    /// Import pieces (CAR files' piece CIDs and sizes) into a dataset. Prints the server's
    /// answer; each refused row goes to stderr with why, and the exit status is 1 if any was.
    Import {
        /// The dataset's id or name.
        #[arg(long)]
        dataset: String,
        /// delta-dm JSON: `[{"commp","payload_cid","size","padded_size"}]` (the default).
        #[arg(long, group = "format")]
        json: bool,
        /// CSV with a header row `commP,payloadCid,size,paddedSize[,contentLocation]`; a file
        /// that is not JSON is read as CSV even without this flag.
        #[arg(long, group = "format")]
        csv: bool,
        /// Singularity's export JSON.
        #[arg(long, group = "format")]
        singularity: bool,
        file: PathBuf,
    },
    /// List a dataset's pieces.
    List {
        /// The dataset's id or name.
        #[arg(long)]
        dataset: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProviderCommand {
    /// Register a storage provider by its actor id (f0…).
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Change a provider's name or self-service switch; what is not given stays.
    Modify {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// on or off.
        #[arg(long = "allow-selfserve")]
        allow_selfserve: Option<String>,
    },
    /// List providers with what they replicated.
    List,
}

#[derive(Subcommand, Debug)]
pub enum ReplicationCommand {
    /// Ask for deals: `num` pieces replicated to a provider (from one dataset, or any its
    /// profiles allow).
    Create {
        #[arg(long)]
        num: u64,
        #[arg(long)]
        provider: String,
        /// The dataset's id or name.
        #[arg(long)]
        dataset: Option<String>,
        /// Days before the deals start (1..14).
        #[arg(long = "delay-start")]
        delay_start: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// Allow a provider to replicate a dataset.
    Add {
        #[arg(long)]
        spid: String,
        /// The dataset's id or name.
        #[arg(long)]
        dataset: String,
        /// Deals announced to the network indexer.
        #[arg(long)]
        indexed: bool,
        /// The provider keeps an unsealed copy.
        #[arg(long)]
        unsealed: bool,
    },
    /// Change a profile: only the flags given change (`--indexed`, `--indexed=false`).
    Modify {
        #[arg(long)]
        spid: String,
        /// The dataset's id or name.
        #[arg(long)]
        dataset: String,
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        indexed: Option<bool>,
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        unsealed: Option<bool>,
    },
    /// Remove a profile.
    Delete {
        #[arg(long)]
        spid: String,
        /// The dataset's id or name.
        #[arg(long)]
        dataset: String,
    },
    /// List profiles.
    List,
}

#[derive(Subcommand, Debug)]
pub enum WalletCommand {
    /// Import a deal-making wallet.
    Import {
        /// A lotus keystore file (`{"Type","PrivateKey"}`).
        #[arg(long, group = "key")]
        file: Option<PathBuf>,
        /// The hex of a lotus wallet export.
        #[arg(long, group = "key")]
        hex: Option<String>,
    },
    /// Remove a wallet.
    Delete { address: String },
    /// Make a wallet the one that pays for the deals of datasets.
    Associate {
        #[arg(long)]
        address: String,
        /// Dataset ids or names, comma separated.
        #[arg(long, value_delimiter = ',')]
        datasets: Vec<String>,
    },
    /// List wallets (of one dataset).
    List {
        /// The dataset's id or name.
        #[arg(long)]
        dataset: Option<String>,
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
fn plan(command: DdmCommand, ids: &Datasets) -> anyhow::Result<(reqwest::Method, String, Body)> {
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
            let bytes = read(&file)?;
            let dataset = ids.id(&dataset)?;
            let query = if csv || is_csv(&bytes) {
                "?import_type=csv"
            } else if singularity {
                "?import_type=singularity"
            } else {
                ""
            };
            (
                Method::POST,
                format!("/contents/{dataset}{query}"),
                Body::Raw(bytes),
            )
        }
        DdmCommand::Content(ContentCommand::List { dataset }) => (
            Method::GET,
            format!("/contents/{}", ids.id(&dataset)?),
            Body::None,
        ),
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
            if let Some(dataset) = dataset {
                let id = ids.id(&dataset)?;
                if id != 0 {
                    body.insert("dataset_id".into(), json!(id));
                }
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
            profile(spid, ids.id(&dataset)?, unsealed, indexed),
        ),
        // `run` fills the flags not given from the profile as it is.
        DdmCommand::ReplicationProfile(ProfileCommand::Modify {
            spid,
            dataset,
            indexed,
            unsealed,
        }) => (
            Method::PUT,
            "/replication-profiles/".into(),
            profile(
                spid,
                ids.id(&dataset)?,
                unsealed.unwrap_or_default(),
                indexed.unwrap_or_default(),
            ),
        ),
        DdmCommand::ReplicationProfile(ProfileCommand::Delete { spid, dataset }) => (
            Method::DELETE,
            "/replication-profiles/".into(),
            profile(spid, ids.id(&dataset)?, false, false),
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
            Body::Json(json!({
                "address": address,
                "datasets": datasets
                    .iter()
                    .map(|d| ids.id(d))
                    .collect::<anyhow::Result<Vec<u32>>>()?,
            })),
        ),
        DdmCommand::Wallet(WalletCommand::List { dataset }) => {
            let query = match dataset {
                Some(d) => format!("?dataset={}", ids.id(&d)?),
                None => String::new(),
            };
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

/// Dataset ids for the names a command was given (an id stands for itself).
#[derive(Default)]
struct Datasets(std::collections::HashMap<String, u32>);

impl Datasets {
    fn id(&self, given: &str) -> anyhow::Result<u32> {
        if let Ok(id) = given.trim().parse() {
            return Ok(id);
        }
        self.0
            .get(given.trim())
            .copied()
            .ok_or_else(|| anyhow::anyhow!("no dataset is named {given:?}"))
    }
}

/// Every dataset a command names.
fn named_datasets(command: &DdmCommand) -> Vec<&str> {
    match command {
        DdmCommand::Content(ContentCommand::Import { dataset, .. })
        | DdmCommand::Content(ContentCommand::List { dataset })
        | DdmCommand::ReplicationProfile(ProfileCommand::Add { dataset, .. })
        | DdmCommand::ReplicationProfile(ProfileCommand::Modify { dataset, .. })
        | DdmCommand::ReplicationProfile(ProfileCommand::Delete { dataset, .. }) => {
            vec![dataset.as_str()]
        }
        DdmCommand::Replication(ReplicationCommand::Create { dataset, .. })
        | DdmCommand::Wallet(WalletCommand::List { dataset }) => {
            dataset.iter().map(String::as_str).collect()
        }
        DdmCommand::Wallet(WalletCommand::Associate { datasets, .. }) => {
            datasets.iter().map(String::as_str).collect()
        }
        _ => Vec::new(),
    }
}

/// A file that is not JSON is an import in CSV.
fn is_csv(bytes: &[u8]) -> bool {
    !matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'[' | b'{') | None
    )
}

/// The server's answer to a request, as JSON (or the text it was).
struct Answer {
    status: reqwest::StatusCode,
    text: String,
}

impl Answer {
    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.text).ok()
    }
    fn pretty(&self) -> String {
        self.json()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| self.text.clone())
    }
}

struct Api {
    client: reqwest::Client,
    base: String,
    auth: String,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Body,
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.auth)
            // Upstream sent `Content-Type: application/json` on every request, CSV imports
            // included.
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        request = match body {
            Body::None => request,
            Body::Json(value) => request.body(serde_json::to_vec(&value)?),
            Body::Raw(bytes) => request.body(bytes),
        };
        let response = request.send().await?;
        let status = response.status();
        Ok(Answer {
            status,
            text: response.text().await?,
        })
    }

    /// A GET whose answer must be a success, as JSON.
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let answer = self.send(reqwest::Method::GET, path, Body::None).await?;
        if !answer.status.is_success() {
            anyhow::bail!("{path}: {}: {}", answer.status, answer.pretty());
        }
        answer
            .json()
            .ok_or_else(|| anyhow::anyhow!("{path} did not answer JSON"))
    }
}

/// Runs one command: checks the server answers `/health` (as upstream's CLI did), sends the
/// request and prints the answer; an error answer is an error.
pub async fn run(connection: Connection, mut command: DdmCommand) -> anyhow::Result<()> {
    let base = format!("{}/api/v1", connection.api.trim_end_matches('/'));
    let auth = connection
        .auth
        .ok_or_else(|| anyhow::anyhow!("set --delta-auth or DELTA_AUTH to the operator key"))?;
    let api = Api {
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(600))
            .build()?,
        base,
        auth,
    };
    let health = api
        .send(reqwest::Method::GET, "/health", Body::None)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", api.base))?;
    if !health.status.is_success() {
        anyhow::bail!(
            "{}/health answered {}: {}",
            api.base,
            health.status,
            health.text
        );
    }
    let mut ids = Datasets::default();
    if named_datasets(&command)
        .iter()
        .any(|d| d.trim().parse::<u32>().is_err())
    {
        for dataset in api.get("/datasets").await?.as_array().into_iter().flatten() {
            if let (Some(name), Some(id)) = (dataset["name"].as_str(), dataset["ID"].as_u64()) {
                ids.0.insert(name.to_string(), id as u32);
            }
        }
    }
    // A modification changes only what it names: the rest comes from the profile as it is.
    if let DdmCommand::ReplicationProfile(ProfileCommand::Modify {
        spid,
        dataset,
        indexed,
        unsealed,
    }) = &mut command
        && (indexed.is_none() || unsealed.is_none())
    {
        let id = ids.id(dataset)?;
        let profiles = api.get("/replication-profiles/").await?;
        let current = profiles
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| {
                p["provider_actor_id"].as_str() == Some(spid.as_str())
                    && p["dataset_id"].as_u64() == Some(u64::from(id))
            })
            .ok_or_else(|| anyhow::anyhow!("{spid} has no replication profile for dataset {id}"))?;
        indexed.get_or_insert(current["indexed"].as_bool().unwrap_or_default());
        unsealed.get_or_insert(current["unsealed"].as_bool().unwrap_or_default());
    }
    let import_format = match &command {
        DdmCommand::Content(ContentCommand::Import {
            csv, singularity, ..
        }) => Some((*csv, *singularity)),
        _ => None,
    };
    let (method, path, body) = plan(command, &ids)?;
    // The rows of an import as wharf reads them (from the body about to be sent), to say why
    // the server refused any.
    let import = match (import_format, &body) {
        (Some((csv, singularity)), Body::Raw(bytes)) => Some(local_rows(bytes, csv, singularity)),
        _ => None,
    };
    let answer = api.send(method, &path, body).await?;
    if !answer.status.is_success() {
        anyhow::bail!("{}: {}", answer.status, answer.pretty());
    }
    println!("{}", answer.pretty());
    if let (Some(reasons), Some(outcome)) = (import, answer.json()) {
        let failed: Vec<&str> = outcome["fail"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for id in &failed {
            let why = reasons
                .get(*id)
                .map(String::as_str)
                .unwrap_or("already in a dataset, or repeated in this file");
            eprintln!("fail {id}: {why}");
        }
        if !failed.is_empty() {
            let stored = outcome["success"].as_array().map_or(0, Vec::len);
            anyhow::bail!("{} row(s) refused, {stored} imported", failed.len());
        }
    }
    Ok(())
}

/// Why each row of an import file would be refused, by the id the server reports it under.
fn local_rows(
    bytes: &[u8],
    csv: bool,
    singularity: bool,
) -> std::collections::HashMap<String, String> {
    use wharf_core::filecoin::contents;
    let rows = if csv || is_csv(bytes) {
        contents::read_csv(bytes).unwrap_or_default()
    } else {
        let items: Vec<Value> = serde_json::from_slice(bytes).unwrap_or_default();
        if singularity {
            contents::read_singularity_json(&items)
        } else {
            contents::read_delta_json(&items)
        }
    };
    rows.into_iter()
        .filter_map(|row| match row {
            Ok(row) => row.check().err().map(|why| (row.comm_p, why)),
            Err(bad) => Some((bad.id, bad.reason)),
        })
        .collect()
}

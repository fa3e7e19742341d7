//! Typed configuration: defaults, then `wharf.toml` (or `WHARF_CONFIG`), then environment variables.
//!
//! Operator-facing names are listed in the README. Secrets come only from the environment
//! (or a file named by `<NAME>_FILE`) and are never printed by `Debug`.
use std::{fmt, net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("cannot read {name}: {source}")]
    SecretFile {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// A secret string whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on: `ip:port`, or `host:port` with a name this machine
    /// resolves (`localhost:8080`).
    #[serde(deserialize_with = "listen_address")]
    pub listen: SocketAddr,
    /// Where `wharf worker` serves its `/healthz`, `/readyz` and `/metrics` (port 0: any free
    /// port, printed at start).
    #[serde(deserialize_with = "listen_address")]
    pub worker_listen: SocketAddr,
    /// Holds the SQLite database, jobs.db and the local blob store in the embedded mode.
    pub data_dir: PathBuf,
    /// PostgreSQL or SQLite URL; SQLite in the data dir when unset.
    pub database_url: Option<String>,
    /// Redis URL for the job queue; apalis-sqlite in the data dir when unset.
    pub redis_url: Option<String>,
    /// Blob store URL (`file:///path`); a directory in the data dir when unset.
    pub blob_store_url: Option<String>,
    /// Run workers inside `serve`. Default: on without Redis, off with Redis.
    pub workers: Option<bool>,
    /// Prefix of every queue name, so that several deployments (or tests) can share one Redis.
    #[serde(deserialize_with = "lenient_string")]
    pub queue_prefix: String,
    pub log_format: LogFormat,
    pub http: HttpConfig,
    pub graphql: GraphqlConfig,
    pub auth: AuthConfig,
    pub webcore: WebcoreConfig,
    pub jobs: JobsConfig,
    /// EVM chains on which quotes can be paid.
    pub chains: Vec<ChainConfig>,
    /// Storage types offered, with their prices.
    pub storages: Vec<StorageConfig>,
    pub dbs: DbsConfig,
    pub filecoin: FilecoinConfig,
    pub provider: ProviderConfig,
    pub compute: ComputeConfig,
    #[serde(skip)]
    pub admin_api_key: Option<Secret>,
    #[serde(skip)]
    pub webcore_secret: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest JSON or form body accepted by the API routes.
    pub max_body_bytes: usize,
    /// Requests taking longer are answered 408. Uploads are not under it: they are bounded by
    /// `upload_idle_secs` instead.
    pub request_timeout_secs: u64,
    /// An upload body that sends nothing for this many seconds is ended.
    pub upload_idle_secs: u64,
    /// When an upload is refused before its body is read, up to this many bytes of it are
    /// read and discarded so the client, still sending, sees the answer; beyond, the
    /// connection is closed.
    pub max_refused_body_drain_bytes: u64,
    /// Origins allowed by CORS; `["*"]` (the default) allows any, `[]` none. From the
    /// environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub cors_allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlConfig {
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Most operations in one batched request.
    pub max_batch: usize,
    /// Serve the GraphiQL page on GET /graphql.
    pub graphiql: bool,
    /// Subscriptions open at once on one WebSocket connection.
    pub max_subscriptions_per_connection: usize,
    /// Subscriptions open at once in this process, over all connections.
    pub max_subscriptions: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The domain a Sign-In with Ethereum message must name; defaults to the listen address.
    pub siwe_domain: Option<String>,
    pub siwe_nonce_ttl_secs: u64,
    pub session_ttl_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PriceTier {
    /// Bytes of credit.
    pub amount: u64,
    /// What it costs, in the operator's currency unit.
    pub cost: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PromocodeConfig {
    pub code: String,
    pub bytes: u64,
    #[serde(default)]
    pub max_redemptions: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebcoreConfig {
    pub prices: Vec<PriceTier>,
    /// Promocodes created (or updated) at start-up.
    pub promocodes: Vec<PromocodeConfig>,
    /// Largest file `POST /api/upload` takes, in bytes (upstream: 20 MiB).
    pub max_file_bytes: u64,
    /// Where uploads are staged while they are hashed and encrypted (relative: in the data
    /// directory). Plaintext lives here only for the length of its upload.
    pub staging_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Jobs handled at once by each worker.
    pub concurrency: usize,
    /// Attempts after the first before a job is given up.
    pub max_retries: usize,
    /// Cron schedule of the housekeeping job (seconds field first).
    pub housekeeping_schedule: String,
    /// Seconds a worker waits for running jobs on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Seconds between worker heartbeats; a worker silent for three of them is presumed dead
    /// and its jobs go to another.
    pub heartbeat_secs: u64,
    /// Milliseconds between a worker's looks for new jobs, on either queue (apalis-redis
    /// would otherwise look only at each heartbeat).
    pub poll_interval_ms: u64,
    /// A job-backed record (a quote being paid or stored, a deal being submitted) untouched
    /// for this many seconds is presumed to have lost its job: housekeeping queues it again.
    pub stale_after_secs: u64,
    /// How long one run of a payment job waits for its transaction to be mined before it
    /// schedules the next look (a pending transaction never counts as a failed attempt).
    pub payment_wait_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub symbol: String,
    /// 0x address of the ERC-20 contract.
    pub address: String,
    pub decimals: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    pub chain_id: u64,
    pub rpc_url: String,
    /// File holding the hex private key of the treasury account, which receives payments and
    /// sends `transferFrom`. Alternatively `WHARF_TREASURY_KEY_<chain_id>` in the environment.
    #[serde(default)]
    pub treasury_key_file: Option<std::path::PathBuf>,
    /// Blocks on top of the payment's block before it counts.
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    #[serde(skip)]
    pub treasury_key: Option<Secret>,
    /// File holding the Ocean Provider's key on this chain (`WHARF_PROVIDER_KEY_<chain_id>` in
    /// the environment instead); without one, the provider's default key serves the chain.
    #[serde(default)]
    pub provider_key_file: Option<std::path::PathBuf>,
    /// Ocean's ERC721Factory on this chain: decrypt checks a data NFT was deployed by it.
    #[serde(default)]
    pub ocean_factory: Option<String>,
    /// The token provider fees are asked in (none: fees are 0).
    #[serde(default)]
    pub provider_fee_token: Option<String>,
    #[serde(skip)]
    pub provider_key: Option<Secret>,
}

fn default_confirmations() -> u64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `ipfs` (built in) or a type served by a registered microservice.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: String,
    /// Price of one GiB stored for 30 days, per `"<chain_id>:<token symbol>"`, as a decimal
    /// string in whole tokens (no floating point anywhere in money).
    #[serde(default)]
    pub price_per_gib_month: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DbsConfig {
    /// The address whose signature a microservice registration must carry.
    pub registration_signer: Option<String>,
    /// Quotes not uploaded within this many seconds expire.
    pub quote_ttl_secs: u64,
    /// Registrations not renewed within this many seconds expire.
    pub registration_ttl_secs: u64,
    /// Most files in one quote.
    pub max_files: usize,
    /// Most bytes in one quote.
    pub max_total_bytes: u64,
    /// Longest storage duration a quote may ask for, in seconds.
    pub max_duration_secs: u64,
}

/// The Ocean Provider family (data services, later compute).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// File of the provider's default key (all chains without their own). Relative paths are
    /// in the data directory; created with a fresh key on first start when missing.
    pub key_file: PathBuf,
    /// An Aquarius-compatible metadata cache DDOs are read from when wharf's own registry
    /// does not have them (`GET {url}/api/aquarius/assets/ddo/{did}`).
    pub aquarius_url: Option<String>,
    /// How long a DDO read from that cache is kept before it is asked again.
    pub ddo_cache_secs: u64,
    /// Addresses allowed to use `decrypt` (empty: anyone with a valid signature).
    pub authorized_decrypters: Vec<String>,
    /// Files up to this size get a checksum in fileinfo.
    pub max_checksum_bytes: u64,
    /// IPFS gateway for `ipfs` files wharf does not hold itself.
    pub ipfs_gateway: String,
    /// Arweave gateway for `arweave` files.
    pub arweave_gateway: String,
    /// Networks that outgoing fetches may reach although they are not public (CIDRs such as
    /// "10.0.0.0/8"); none by default.
    pub allow_private_networks: Vec<String>,
    /// Seconds an outgoing fetch may take to answer.
    pub fetch_timeout_secs: u64,
    /// Redirects an outgoing fetch follows (each hop checked again).
    pub max_redirects: usize,
    /// The default key from `WHARF_PROVIDER_KEY` (or `_FILE`), over `key_file`.
    #[serde(skip)]
    pub key: Option<Secret>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            key_file: PathBuf::from("provider.key"),
            aquarius_url: None,
            ddo_cache_secs: 60,
            authorized_decrypters: Vec::new(),
            max_checksum_bytes: 5 * 1024 * 1024,
            ipfs_gateway: "https://ipfs.io/".into(),
            arweave_gateway: "https://arweave.net/".into(),
            allow_private_networks: Vec::new(),
            fetch_timeout_secs: 10,
            max_redirects: 5,
            key: None,
        }
    }
}

/// Compute-to-data: the environments jobs run in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// Where jobs' inputs and outputs are staged (relative: in the data directory).
    pub work_dir: PathBuf,
    /// The environments on offer. None configured: one `sandbox` environment, if bubblewrap
    /// is installed.
    pub environments: Vec<EnvironmentConfig>,
    /// How often running operator-service jobs are asked for their status, and jobs whose
    /// runner died are failed (cron, seconds first).
    pub poll_schedule: String,
    /// How long a running job's lease lasts without renewal: a runner that died is noticed
    /// this long after its last renewal (renewed every few seconds while it runs).
    pub lease_secs: u64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            work_dir: PathBuf::from("compute"),
            environments: Vec::new(),
            poll_schedule: "*/5 * * * * *".into(),
            lease_secs: 30,
        }
    }
}

/// How an environment runs jobs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// A local process under bubblewrap.
    Sandbox,
    /// Ocean's operator-service (Kubernetes) over HTTP.
    Operator,
}

/// A compute environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    pub id: String,
    pub executor: ExecutorKind,
    #[serde(default)]
    pub description: String,
    #[serde(default = "one")]
    pub cpu_number: u64,
    #[serde(default = "one")]
    pub ram_gb: u64,
    #[serde(default = "one")]
    pub disk_gb: u64,
    /// Price per minute of a job, in whole fee tokens (decimal string); "0" is free.
    #[serde(default = "zero_price")]
    pub price_min: String,
    /// Longest run a job may ask for, in seconds.
    #[serde(default = "default_max_job_duration")]
    pub max_job_duration_secs: u64,
    /// Jobs running at once.
    #[serde(default = "default_max_jobs")]
    pub max_jobs: u64,
    /// How long results are kept after a job ends, in seconds.
    #[serde(default = "default_storage_expiry")]
    pub storage_expiry_secs: u64,
    /// Sandbox limits.
    #[serde(default)]
    pub limits: SandboxLimits,
    /// operator: the operator-service base URL.
    #[serde(default)]
    pub operator_url: Option<String>,
    /// operator: the address its pods order and download as (its key is the operator's).
    #[serde(default)]
    pub consumer_address: Option<String>,
}

impl EnvironmentConfig {
    /// The environment offered when none is configured: a sandbox with the default limits.
    pub fn default_sandbox() -> Self {
        Self {
            id: "sandbox".into(),
            executor: ExecutorKind::Sandbox,
            description: "Local sandbox (bubblewrap): python3 and node from the host, no network"
                .into(),
            cpu_number: 1,
            ram_gb: 1,
            disk_gb: 1,
            price_min: zero_price(),
            max_job_duration_secs: default_max_job_duration(),
            max_jobs: default_max_jobs(),
            storage_expiry_secs: default_storage_expiry(),
            limits: SandboxLimits::default(),
            operator_url: None,
            consumer_address: None,
        }
    }
}

fn one() -> u64 {
    1
}
fn zero_price() -> String {
    "0".into()
}
fn default_max_job_duration() -> u64 {
    3600
}
fn default_max_jobs() -> u64 {
    2
}
fn default_storage_expiry() -> u64 {
    7 * 86400
}

/// What a sandboxed job may use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxLimits {
    /// CPU seconds of each process.
    pub cpu_secs: u64,
    /// Address space of each process, in MiB.
    pub memory_mb: u64,
    /// Processes at once.
    pub processes: u64,
    /// Bytes the job may write to /data/outputs, in MiB (each file, and all of them).
    pub output_mb: u64,
    /// Bytes of the algorithm's log kept, in KiB.
    pub log_kb: u64,
    /// Bytes of each input fetched, in MiB.
    pub input_mb: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            cpu_secs: 600,
            memory_mb: 1024,
            processes: 64,
            output_mb: 256,
            log_kb: 1024,
            input_mb: 1024,
        }
    }
}

/// Filecoin datasets and deals.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilecoinConfig {
    /// Unix time of the network's genesis (mainnet 2020-08-24T22:00:00Z); epochs count from it.
    pub genesis_unix: i64,
    /// Shortest and longest deal a dataset may ask for, in days.
    pub min_deal_duration_days: u64,
    pub max_deal_duration_days: u64,
    /// Base URL of the Delta deal engine (none: replications cannot be made).
    pub deal_engine_url: Option<String>,
    /// Its API key (`WHARF_DEAL_ENGINE_TOKEN` or `_FILE`; never in the file).
    #[serde(skip)]
    pub deal_engine_token: Option<Secret>,
    /// Cron schedule (seconds first) of polling the engine for deal states.
    pub poll_schedule: String,
    /// A deal with no on-chain id this long after it was made is marked failed, and its piece
    /// may be replicated again.
    pub stuck_after_secs: u64,
    /// Most contents `available-contents` lists at once.
    pub max_available_contents: u64,
}

impl Default for FilecoinConfig {
    fn default() -> Self {
        Self {
            genesis_unix: crate::filecoin::epoch::MAINNET_GENESIS_UNIX,
            min_deal_duration_days: 180,
            max_deal_duration_days: 540,
            deal_engine_url: None,
            deal_engine_token: None,
            poll_schedule: "*/10 * * * * *".into(),
            stuck_after_secs: 7 * 86400,
            max_available_contents: 2000,
        }
    }
}

impl FilecoinConfig {
    pub fn deal_bounds(&self) -> crate::filecoin::epoch::DealBounds {
        crate::filecoin::epoch::DealBounds {
            min_duration_days: self.min_deal_duration_days,
            max_duration_days: self.max_deal_duration_days,
            ..Default::default()
        }
    }
}

impl Default for DbsConfig {
    fn default() -> Self {
        Self {
            registration_signer: None,
            quote_ttl_secs: 1800,
            registration_ttl_secs: 600,
            max_files: 64,
            max_total_bytes: 64 * 1024 * 1024 * 1024,
            // uploader-ui-lib asks for 4,353,545,453 s; leave room above it.
            max_duration_secs: 10_000_000_000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            worker_listen: SocketAddr::from(([127, 0, 0, 1], 9091)),
            data_dir: PathBuf::from("./wharf-data"),
            database_url: None,
            redis_url: None,
            blob_store_url: None,
            workers: None,
            queue_prefix: "wharf".into(),
            log_format: LogFormat::Text,
            http: HttpConfig::default(),
            graphql: GraphqlConfig::default(),
            auth: AuthConfig::default(),
            webcore: WebcoreConfig::default(),
            jobs: JobsConfig::default(),
            chains: Vec::new(),
            storages: vec![StorageConfig {
                kind: "ipfs".into(),
                description: "Content-addressed storage served by this gateway".into(),
                price_per_gib_month: Default::default(),
            }],
            dbs: DbsConfig::default(),
            provider: ProviderConfig::default(),
            compute: ComputeConfig::default(),
            filecoin: FilecoinConfig::default(),
            admin_api_key: None,
            webcore_secret: None,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            upload_idle_secs: 60,
            max_refused_body_drain_bytes: 64 * 1024 * 1024,
            // As the legacy services: every route authenticates by signature or bearer header,
            // never by cookie, so any origin may call it.
            cors_allowed_origins: vec!["*".into()],
        }
    }
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_complexity: 1000,
            max_batch: 10,
            graphiql: true,
            max_subscriptions_per_connection: 32,
            max_subscriptions: 10_000,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            siwe_domain: None,
            siwe_nonce_ttl_secs: 300,
            session_ttl_secs: 24 * 3600,
        }
    }
}

impl Default for WebcoreConfig {
    fn default() -> Self {
        // The price list the legacy accounts service documented.
        Self {
            prices: vec![
                PriceTier {
                    amount: 107_374_182_400,
                    cost: 500,
                },
                PriceTier {
                    amount: 1_073_741_824_000,
                    cost: 5000,
                },
            ],
            promocodes: Vec::new(),
            max_file_bytes: 4 << 30,
            staging_dir: PathBuf::from("hosting-staging"),
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            max_retries: 5,
            housekeeping_schedule: "0 */5 * * * *".into(),
            shutdown_timeout_secs: 30,
            heartbeat_secs: 10,
            poll_interval_ms: 500,
            stale_after_secs: 600,
            payment_wait_secs: 60,
        }
    }
}

/// Environment variables that are not `WHARF_`-prefixed but are part of the operator contract.
const PLAIN_ENV: [&str; 3] = ["DATABASE_URL", "REDIS_URL", "BLOB_STORE_URL"];

impl Config {
    /// Loads the configuration from defaults, the config file and the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let file = std::env::var("WHARF_CONFIG").ok();
        Self::load_from(file.as_deref(), &vars)
    }

    /// Loads with an explicit config file and environment (tests pass their own).
    pub fn load_from(
        config_file: Option<&str>,
        vars: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let env = |name: &str| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match config_file {
            Some(path) => {
                if !std::path::Path::new(path).is_file() {
                    return Err(ConfigError::Invalid(format!(
                        "config file {path} (WHARF_CONFIG) does not exist"
                    )));
                }
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file("wharf.toml")),
        }
        // Unknown keys are reported against the source that brought them: first the file
        // alone, then the environment on top of it.
        let file_name = config_file.unwrap_or("wharf.toml");
        figment
            .extract::<Config>()
            .map_err(|e| explain(e, UnknownIn::File(file_name), vars))?;
        figment = figment.merge(EnvSettings::from_vars(vars));
        let mut config: Config = figment
            .extract()
            .map_err(|e| explain(e, UnknownIn::Environment, vars))?;
        config.admin_api_key = read_secret(&env, "WHARF_ADMIN_API_KEY")?;
        config.webcore_secret = read_secret(&env, "WHARF_WEBCORE_SECRET")?;
        config.filecoin.deal_engine_token = read_secret(&env, "WHARF_DEAL_ENGINE_TOKEN")?;
        config.provider.key = read_secret(&env, "WHARF_PROVIDER_KEY")?;
        // Key files named in wharf.toml are relative to that file, not to the working directory.
        let config_dir = config_file
            .map(|f| {
                std::path::Path::new(f)
                    .parent()
                    .map(std::path::Path::to_path_buf)
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let config_dir = std::path::absolute(&config_dir).unwrap_or(config_dir);
        for (i, chain) in config.chains.iter_mut().enumerate() {
            for file in [&mut chain.provider_key_file, &mut chain.treasury_key_file]
                .into_iter()
                .flatten()
            {
                if file.is_relative() {
                    *file = config_dir.join(&*file);
                }
            }
            let chain_id = chain.chain_id;
            let setting = move |key: &str| format!("chains[{i}].{key} (chain {chain_id})");
            chain.provider_key =
                match read_secret(&env, &format!("WHARF_PROVIDER_KEY_{}", chain.chain_id))? {
                    Some(key) => Some(key),
                    None => match &chain.provider_key_file {
                        Some(path) => Some(read_key_file(&setting("provider_key_file"), path)?),
                        None => None,
                    },
                };
            chain.treasury_key =
                match read_secret(&env, &format!("WHARF_TREASURY_KEY_{}", chain.chain_id))? {
                    Some(key) => Some(key),
                    None => match &chain.treasury_key_file {
                        Some(path) => Some(read_key_file(&setting("treasury_key_file"), path)?),
                        None => None,
                    },
                };
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.to_string()));
        if self.queue_prefix.is_empty()
            || !self
                .queue_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return invalid("queue_prefix must be non-empty and use only letters, digits, - _ .");
        }
        if self.http.max_body_bytes == 0 {
            return invalid("http.max_body_bytes must be positive");
        }
        if self.filecoin.min_deal_duration_days == 0
            || self.filecoin.min_deal_duration_days > self.filecoin.max_deal_duration_days
        {
            return invalid(
                "filecoin.min_deal_duration_days must be positive and at most max_deal_duration_days",
            );
        }
        if self.jobs.poll_interval_ms == 0 {
            return invalid("jobs.poll_interval_ms must be positive");
        }
        if self.jobs.heartbeat_secs == 0 {
            return invalid("jobs.heartbeat_secs must be positive");
        }
        if self.jobs.concurrency == 0 {
            return invalid("jobs.concurrency must be positive");
        }
        if self.jobs.stale_after_secs == 0 || self.jobs.payment_wait_secs == 0 {
            return invalid("jobs.stale_after_secs and jobs.payment_wait_secs must be positive");
        }
        if self.http.upload_idle_secs == 0 {
            return invalid("http.upload_idle_secs must be positive");
        }
        if self.graphql.max_subscriptions == 0 || self.graphql.max_subscriptions_per_connection == 0
        {
            return invalid(
                "graphql.max_subscriptions and max_subscriptions_per_connection must be positive",
            );
        }
        if self.graphql.max_batch == 0 {
            return invalid("graphql.max_batch must be positive");
        }
        for tier in &self.webcore.prices {
            if tier.amount == 0 || tier.amount > i64::MAX as u64 {
                return invalid("webcore.prices amounts must be between 1 and 2^63-1 bytes");
            }
        }
        for code in &self.webcore.promocodes {
            if code.code.is_empty() || code.code.len() > 64 {
                return invalid("webcore.promocodes codes must be 1 to 64 characters");
            }
            if code.bytes == 0 || code.bytes > i64::MAX as u64 {
                return invalid("webcore.promocodes bytes must be between 1 and 2^63-1");
            }
        }
        self.validate_payments()?;
        self.validate_compute()?;
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return invalid("DATABASE_URL must start with sqlite:, postgres:// or postgresql://");
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return invalid("REDIS_URL must start with redis:// or rediss://");
        }
        if let Some(url) = &self.blob_store_url
            && !url.starts_with("file://")
        {
            return invalid(
                "BLOB_STORE_URL must be a file:// URL (S3 stores are not built in yet)",
            );
        }
        Ok(())
    }

    fn validate_compute(&self) -> Result<(), ConfigError> {
        use std::str::FromStr;
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if self.compute.lease_secs < 2 {
            return invalid("compute.lease_secs must be at least 2".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        for env in &self.compute.environments {
            let id = &env.id;
            if id.is_empty()
                || id.len() > 128
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return invalid(format!(
                    "compute.environments id {id:?} must be 1 to 128 letters, digits, '-', '_' or '.'"
                ));
            }
            if !ids.insert(id.clone()) {
                return invalid(format!("compute environment {id:?} is configured twice"));
            }
            if env.max_jobs == 0 || env.max_job_duration_secs == 0 {
                return invalid(format!(
                    "compute environment {id:?}: max_jobs and max_job_duration_secs must be positive"
                ));
            }
            match crate::compute::price_units(&env.price_min, 18) {
                None => {
                    return invalid(format!(
                        "compute environment {id:?}: price_min {:?} is not a non-negative decimal",
                        env.price_min
                    ));
                }
                Some(price) if !price.is_zero() => {
                    if let Some(chain) = self.chains.iter().find(|c| c.provider_fee_token.is_none())
                    {
                        return invalid(format!(
                            "compute environment {id:?} has a price: chain {} needs provider_fee_token, the token it is paid in",
                            chain.chain_id
                        ));
                    }
                }
                Some(_) => {}
            }
            let limits = &env.limits;
            if limits.cpu_secs == 0
                || limits.memory_mb == 0
                || limits.processes == 0
                || limits.output_mb == 0
                || limits.input_mb == 0
            {
                return invalid(format!(
                    "compute environment {id:?}: every limit must be positive"
                ));
            }
            if env.executor == ExecutorKind::Operator {
                let url_ok = env
                    .operator_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"));
                let address_ok = env
                    .consumer_address
                    .as_deref()
                    .is_some_and(|a| alloy_primitives::Address::from_str(a).is_ok());
                if !url_ok || !address_ok {
                    return invalid(format!(
                        "compute environment {id:?}: the operator executor needs operator_url (http(s)) and consumer_address"
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_payments(&self) -> Result<(), ConfigError> {
        use std::str::FromStr;
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        let mut chain_ids = std::collections::BTreeSet::new();
        for chain in &self.chains {
            if !chain_ids.insert(chain.chain_id) {
                return invalid(format!("chain {} is configured twice", chain.chain_id));
            }
            if !(chain.rpc_url.starts_with("http://") || chain.rpc_url.starts_with("https://")) {
                return invalid(format!(
                    "chains[{}].rpc_url must be an http(s) URL",
                    chain.chain_id
                ));
            }
            let mut symbols = std::collections::BTreeSet::new();
            for token in &chain.tokens {
                if alloy_primitives::Address::from_str(&token.address).is_err() {
                    return invalid(format!(
                        "token {} on chain {}: {:?} is not an address",
                        token.symbol, chain.chain_id, token.address
                    ));
                }
                if token.decimals > 36 || token.symbol.is_empty() || !symbols.insert(&token.symbol)
                {
                    return invalid(format!(
                        "token {:?} on chain {}: symbols must be unique and decimals at most 36",
                        token.symbol, chain.chain_id
                    ));
                }
            }
        }
        let mut kinds = std::collections::BTreeSet::new();
        for storage in &self.storages {
            let k = &storage.kind;
            if k.is_empty()
                || k.len() > 64
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                || !kinds.insert(k)
            {
                return invalid(format!(
                    "storage type {k:?} must be unique, 1-64 of [A-Za-z0-9_-]"
                ));
            }
            for (key, price) in &storage.price_per_gib_month {
                let known = key.split_once(':').and_then(|(chain, symbol)| {
                    let chain: u64 = chain.parse().ok()?;
                    self.chains
                        .iter()
                        .find(|c| c.chain_id == chain)?
                        .tokens
                        .iter()
                        .find(|t| t.symbol == symbol)
                });
                if known.is_none() {
                    return invalid(format!(
                        "storage {k}: price key {key:?} must be \"<chain_id>:<symbol>\" of a configured token"
                    ));
                }
                if crate::pricing::Decimal::parse(price).is_err() {
                    return invalid(format!(
                        "storage {k}: price {price:?} is not a decimal number"
                    ));
                }
            }
        }
        if let Some(signer) = &self.dbs.registration_signer
            && alloy_primitives::Address::from_str(signer).is_err()
        {
            return invalid("dbs.registration_signer is not an address".into());
        }
        if self.dbs.max_files == 0
            || self.dbs.max_total_bytes == 0
            || self.dbs.max_duration_secs == 0
        {
            return invalid(
                "dbs.max_files, max_total_bytes and max_duration_secs must be positive".into(),
            );
        }
        Ok(())
    }

    /// Whether `serve` runs the workers in its own process.
    pub fn workers_in_serve(&self) -> bool {
        self.workers.unwrap_or(self.redis_url.is_none())
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("wharf.db").display()
            ),
        }
    }

    pub fn jobs_db_path(&self) -> PathBuf {
        self.data_dir.join("jobs.db")
    }

    pub fn blob_dir(&self) -> PathBuf {
        match &self.blob_store_url {
            Some(url) => PathBuf::from(url.trim_start_matches("file://")),
            None => self.data_dir.join("blobs"),
        }
    }

    /// How long an upload (or import) that stopped renewing its lease is presumed alive:
    /// past this, housekeeping takes its process for dead. It outlasts the idle limit, after
    /// which a live process ends a stalled upload itself.
    pub fn upload_lease_ms(&self) -> i64 {
        (self.http.upload_idle_secs.saturating_add(20) as i64).saturating_mul(1000)
    }

    /// The domain Sign-In with Ethereum messages must name.
    pub fn siwe_domain(&self) -> String {
        self.auth
            .siwe_domain
            .clone()
            .unwrap_or_else(|| self.listen.to_string())
    }
}

/// `ip:port`, or `host:port` for a name the machine resolves (its first IPv4 address, else its
/// first address): `localhost:8080` is what operators type.
fn listen_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    use serde::de::Error;
    let text = lenient_string(d)?;
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(|| {
        D::Error::custom(format!("{text:?} is not host:port, e.g. 127.0.0.1:8080"))
    })?;
    let port: u16 = port
        .parse()
        .map_err(|_| D::Error::custom(format!("{port:?} in {text:?} is not a port number")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let found: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| D::Error::custom(format!("cannot resolve {host:?} in {text:?}: {e}")))?
        .collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(|| D::Error::custom(format!("{host:?} in {text:?} resolves to no address")))
}

/// A string setting that also takes a bare number or boolean, as environment variables
/// arrive untyped (`WHARF_QUEUE_PREFIX=2024`).
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose {
        String(String),
        Unsigned(u64),
        Signed(i64),
        Bool(bool),
    }
    Ok(match Loose::deserialize(d)? {
        Loose::String(s) => s,
        Loose::Unsigned(n) => n.to_string(),
        Loose::Signed(n) => n.to_string(),
        Loose::Bool(b) => b.to_string(),
    })
}

/// Accepts a list, or one string of comma-separated items (how lists arrive from the environment).
fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        String(String),
    }
    Ok(match ListOrString::deserialize(d)? {
        ListOrString::List(items) => items,
        ListOrString::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// `WHARF_*` variables that are read elsewhere and are not configuration keys.
fn is_reserved_env(key: &str) -> bool {
    key == "CONFIG"
        || key.starts_with("TREASURY_KEY_")
        || key.starts_with("PROVIDER_KEY_")
        || [
            "ADMIN_API_KEY",
            "WEBCORE_SECRET",
            "DEAL_ENGINE_TOKEN",
            "PROVIDER_KEY",
        ]
        .iter()
        .any(|secret| key == *secret || key.strip_suffix("_FILE") == Some(secret))
        || key.starts_with("TEST_")
        || key == "BIN"
}

/// The `WHARF_*` variables (and the plain ones of the operator contract) as a figment
/// provider whose errors name the variable, not the key it maps to.
struct EnvSettings {
    /// (dotted key, value)
    settings: Vec<(String, figment::value::Value)>,
}

impl EnvSettings {
    fn from_vars(vars: &[(String, String)]) -> Self {
        let mut settings = Vec::new();
        for (name, value) in vars {
            if let Some(key) = name.strip_prefix("WHARF_")
                && !is_reserved_env(key)
            {
                let key = key.to_ascii_lowercase().replace("__", ".");
                settings.push((key, parse_env_value(value)));
            }
        }
        for name in PLAIN_ENV {
            if let Some((_, value)) = vars.iter().find(|(n, v)| n == name && !v.is_empty()) {
                settings.push((name.to_ascii_lowercase(), value.clone().into()));
            }
        }
        Self { settings }
    }
}

/// The variable a configuration key comes from in the environment.
fn env_name(keys: &[&str]) -> String {
    let joined = keys.join("__").to_ascii_uppercase();
    if PLAIN_ENV.contains(&joined.as_str()) {
        joined
    } else {
        format!("WHARF_{joined}")
    }
}

impl figment::Provider for EnvSettings {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(ENV_SOURCE).interpolater(|_, keys| env_name(keys))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Value};
        // Nested tables from dotted keys; a later variable for the same key wins.
        fn insert(dict: &mut Dict, keys: &[&str], value: Value) {
            match keys {
                [] => {}
                [last] => {
                    dict.insert(last.to_string(), value);
                }
                [first, rest @ ..] => {
                    let entry = dict
                        .entry(first.to_string())
                        .or_insert_with(|| Value::from(Dict::new()));
                    if entry.as_dict().is_none() {
                        *entry = Value::from(Dict::new());
                    }
                    if let Value::Dict(_, inner) = entry {
                        insert(inner, rest, value);
                    }
                }
            }
        }
        let mut root = Dict::new();
        for (key, value) in &self.settings {
            let keys: Vec<&str> = key.split('.').collect();
            insert(&mut root, &keys, value.clone());
        }
        let mut map = figment::value::Map::new();
        map.insert(figment::Profile::Global, root);
        Ok(map)
    }
}

const ENV_SOURCE: &str = "environment";

/// Where an unknown key came from (serde reports it against the enclosing table, whose
/// source is the defaults).
enum UnknownIn<'a> {
    File(&'a str),
    Environment,
}

/// One line per configuration error, naming the setting as the operator wrote it: the
/// environment variable, or the key and the file.
fn explain(
    errors: figment::Error,
    unknown_in: UnknownIn<'_>,
    vars: &[(String, String)],
) -> ConfigError {
    let lines: Vec<String> = errors
        .into_iter()
        .map(|e| {
            let mut path: Vec<String> = e.path.clone();
            if let figment::error::Kind::UnknownField(field, _) = &e.kind {
                if path.last() != Some(field) {
                    path.push(field.clone());
                }
                let keys: Vec<&str> = path.iter().map(String::as_str).collect();
                return match unknown_in {
                    UnknownIn::File(file) => {
                        format!("{} in {file} is not a setting wharf knows", keys.join("."))
                    }
                    UnknownIn::Environment => {
                        format!("{} is not a setting wharf knows", env_name(&keys))
                    }
                };
            }
            let detail = e.kind.to_string();
            let keys: Vec<&str> = path.iter().map(String::as_str).collect();
            match &e.metadata {
                Some(md) if md.name == ENV_SOURCE => {
                    let name = env_name(&keys);
                    match vars.iter().find(|(n, _)| *n == name) {
                        Some((_, value)) => format!("{name}={value:?}: {detail}"),
                        None => format!("{name}: {detail}"),
                    }
                }
                Some(md) => match &md.source {
                    Some(source) => format!("{} in {source}: {detail}", keys.join(".")),
                    None => format!("{}: {detail}", keys.join(".")),
                },
                None => format!("{}: {detail}", keys.join(".")),
            }
        })
        .collect();
    ConfigError::Invalid(lines.join("; "))
}

/// Environment values are typed loosely: numbers and booleans become numbers and booleans,
/// anything else a string, so `WHARF_WORKERS=false` and `WHARF_HTTP__MAX_BODY_BYTES=10` work.
fn parse_env_value(value: &str) -> figment::value::Value {
    use figment::value::Value;
    if let Ok(b) = value.parse::<bool>() {
        return Value::from(b);
    }
    if let Ok(n) = value.parse::<u64>() {
        return Value::from(n);
    }
    if let Ok(n) = value.parse::<i64>() {
        return Value::from(n);
    }
    Value::from(value.to_string())
}

/// Reads a key file named by `setting` (as the operator wrote it); errors name both.
fn read_key_file(setting: &str, path: &std::path::Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
        name: format!("{setting} = {}", path.display()),
        source,
    })?;
    let key = text.trim();
    if key.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "{setting} = {} is an empty file",
            path.display()
        )));
    }
    Ok(Secret::new(key.to_string()))
}

fn read_secret(
    env: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(value) = env(name).filter(|v| !v.is_empty()) {
        return Ok(Some(Secret::new(value)));
    }
    let file_var = format!("{name}_FILE");
    if let Some(path) = env(&file_var).filter(|v| !v.is_empty()) {
        let value = std::fs::read_to_string(&path).map_err(|source| ConfigError::SecretFile {
            name: file_var.clone(),
            source,
        })?;
        let value = value.trim().to_string();
        if value.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "{file_var} names an empty file"
            )));
        }
        return Ok(Some(Secret::new(value)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_from(None, &vars)
    }

    #[test]
    fn defaults_are_the_operator_contract() {
        let config = load(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("./wharf-data"));
        assert!(config.workers_in_serve());
        assert!(config.admin_api_key.is_none());
        assert!(
            config
                .database_url()
                .starts_with("sqlite://./wharf-data/wharf.db")
        );
    }

    #[test]
    fn environment_overrides_nested_keys_and_secrets() {
        let config = load(&[
            ("WHARF_LISTEN", "0.0.0.0:9000"),
            ("WHARF_HTTP__MAX_BODY_BYTES", "2048"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("WHARF_ADMIN_API_KEY", "k"),
        ])
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.http.max_body_bytes, 2048);
        assert!(
            !config.workers_in_serve(),
            "Redis turns in-process workers off"
        );
        assert_eq!(config.admin_api_key.unwrap().expose(), "k");
    }

    #[test]
    fn a_listen_address_may_name_a_host_and_a_bad_one_names_its_variable() {
        let config = load(&[("WHARF_LISTEN", "localhost:18234")]).unwrap();
        assert_eq!(config.listen.port(), 18234);
        assert!(config.listen.ip().is_loopback(), "{}", config.listen);
        let err = load(&[("WHARF_LISTEN", "localhost")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("WHARF_LISTEN=\"localhost\""), "{err}");
        assert!(err.contains("not host:port"), "{err}");
        assert!(!err.contains(".rs:"), "no source location: {err}");
        let err = load(&[("WHARF_LISTEN", "127.0.0.1:99999")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a port number"), "{err}");
        // A string setting that looks like a number stays a string.
        let config = load(&[("WHARF_QUEUE_PREFIX", "2024")]).unwrap();
        assert_eq!(config.queue_prefix, "2024");
    }

    #[test]
    fn lists_come_from_the_environment_comma_separated() {
        let config = load(&[(
            "WHARF_HTTP__CORS_ALLOWED_ORIGINS",
            "https://a.example, https://b.example",
        )])
        .unwrap();
        assert_eq!(
            config.http.cors_allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn bad_values_fail_fast_with_a_message() {
        let err = load(&[("WHARF_LISTEN", "not-an-address")]).unwrap_err();
        assert!(err.to_string().contains("WHARF_LISTEN"), "{err}");
        let err = load(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn payment_settings_are_checked_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| {
            let path = dir.path().join("wharf.toml");
            std::fs::write(&path, text).unwrap();
            Config::load_from(Some(path.to_str().unwrap()), &[])
        };
        let good = r#"
            [[chains]]
            chain_id = 1337
            rpc_url = "http://127.0.0.1:8545"
            tokens = [{ symbol = "OCEAN", address = "0x5FbDB2315678afecb367f032d93F642f64180aa3", decimals = 18 }]
            [[storages]]
            type = "ipfs"
            price_per_gib_month = { "1337:OCEAN" = "0.5" }
        "#;
        let config = write(good).unwrap();
        assert_eq!(config.chains[0].tokens[0].decimals, 18);
        assert!(write(&good.replace("1337:OCEAN", "1:OCEAN")).is_err());
        assert!(write(&good.replace("\"0.5\"", "\"-1\"")).is_err());
        assert!(
            write(&good.replace("0x5FbDB2315678afecb367f032d93F642f64180aa3", "0x12")).is_err()
        );
        let err = write(&good.replace("http://", "ftp://")).unwrap_err();
        assert!(err.to_string().contains("rpc_url"), "{err}");
    }

    #[test]
    fn unknown_settings_stop_start_up_naming_them() {
        let err = load(&[("WHARF_HTTP__MAX_BODY_BYTE", "10")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("WHARF_HTTP__MAX_BODY_BYTE is not a setting"),
            "{err}"
        );
        let err = load(&[("WHARF_LISTN", "127.0.0.1:1")]).unwrap_err();
        assert!(err.to_string().contains("WHARF_LISTN"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wharf.toml");
        std::fs::write(&path, "[jobs]\nconcurency = 3\n").unwrap();
        let err = Config::load_from(Some(path.to_str().unwrap()), &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("jobs.concurency"), "{text}");
        assert!(text.contains(path.to_str().unwrap()), "{text}");

        std::fs::write(
            &path,
            "[[chains]]\nchain_id = 1\nrpc_url = \"http://127.0.0.1:1\"\nconfirmation = 2\n",
        )
        .unwrap();
        let err = Config::load_from(Some(path.to_str().unwrap()), &[]).unwrap_err();
        assert!(err.to_string().contains("confirmation"), "{err}");
    }

    #[test]
    fn variables_read_elsewhere_are_not_settings() {
        let config = load(&[
            ("WHARF_DEAL_ENGINE_TOKEN", "t"),
            ("WHARF_ADMIN_API_KEY", "k"),
            ("WHARF_TREASURY_KEY_1337", "0x00"),
            ("WHARF_CONFIG_UNUSED_BUT_TEST", "x"),
        ]);
        assert!(
            config.is_err(),
            "WHARF_CONFIG_UNUSED_BUT_TEST is not a setting"
        );
        let config = load(&[
            ("WHARF_DEAL_ENGINE_TOKEN", "t"),
            ("WHARF_ADMIN_API_KEY", "k"),
            ("WHARF_TREASURY_KEY_1337", "0x00"),
        ])
        .unwrap();
        assert_eq!(config.filecoin.deal_engine_token.unwrap().expose(), "t");
    }

    #[test]
    fn numeric_looking_strings_from_the_environment_are_strings() {
        let config = load(&[("WHARF_QUEUE_PREFIX", "2024")]).unwrap();
        assert_eq!(config.queue_prefix, "2024");
        let err = load(&[("WHARF_JOBS__CONCURRENCY", "many")]).unwrap_err();
        assert!(err.to_string().contains("WHARF_JOBS__CONCURRENCY"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let config = load(&[("WHARF_WEBCORE_SECRET", "hunter2")]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}

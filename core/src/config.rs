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
#[serde(default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
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
    pub queue_prefix: String,
    pub log_format: LogFormat,
    pub http: HttpConfig,
    pub graphql: GraphqlConfig,
    pub auth: AuthConfig,
    pub webcore: WebcoreConfig,
    pub jobs: JobsConfig,
    #[serde(skip)]
    pub admin_api_key: Option<Secret>,
    #[serde(skip)]
    pub webcore_secret: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Largest JSON or form body accepted by the API routes.
    pub max_body_bytes: usize,
    /// Requests taking longer are answered 408.
    pub request_timeout_secs: u64,
    /// Origins allowed by CORS; `["*"]` allows any. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub cors_allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GraphqlConfig {
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Most operations in one batched request.
    pub max_batch: usize,
    /// Serve the GraphiQL page on GET /graphql.
    pub graphiql: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// The domain a Sign-In with Ethereum message must name; defaults to the listen address.
    pub siwe_domain: Option<String>,
    pub siwe_nonce_ttl_secs: u64,
    pub session_ttl_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PriceTier {
    /// Bytes of credit.
    pub amount: u64,
    /// What it costs, in the operator's currency unit.
    pub cost: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PromocodeConfig {
    pub code: String,
    pub bytes: u64,
    #[serde(default)]
    pub max_redemptions: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WebcoreConfig {
    pub prices: Vec<PriceTier>,
    /// Promocodes created (or updated) at start-up.
    pub promocodes: Vec<PromocodeConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JobsConfig {
    /// Jobs handled at once by each worker.
    pub concurrency: usize,
    /// Attempts after the first before a job is given up.
    pub max_retries: usize,
    /// Cron schedule of the housekeeping job (seconds field first).
    pub housekeeping_schedule: String,
    /// Seconds a worker waits for running jobs on shutdown.
    pub shutdown_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
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
            cors_allowed_origins: Vec::new(),
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
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("WHARF_") else {
                continue;
            };
            if is_reserved_env(key) {
                continue;
            }
            let key = key.to_ascii_lowercase().replace("__", ".");
            figment = figment.merge(Serialized::global(&key, parse_env_value(value)));
        }
        for name in PLAIN_ENV {
            if let Some(value) = env(name).filter(|v| !v.is_empty()) {
                figment = figment.merge(Serialized::global(&name.to_ascii_lowercase(), value));
            }
        }
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.admin_api_key = read_secret(&env, "WHARF_ADMIN_API_KEY")?;
        config.webcore_secret = read_secret(&env, "WHARF_WEBCORE_SECRET")?;
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
        if self.jobs.concurrency == 0 {
            return invalid("jobs.concurrency must be positive");
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

    /// The domain Sign-In with Ethereum messages must name.
    pub fn siwe_domain(&self) -> String {
        self.auth
            .siwe_domain
            .clone()
            .unwrap_or_else(|| self.listen.to_string())
    }
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
        || key.starts_with("ADMIN_API_KEY")
        || key.starts_with("WEBCORE_SECRET")
        || key.starts_with("TEST_")
        || key == "BIN"
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
        assert!(err.to_string().contains("listen"), "{err}");
        let err = load(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let config = load(&[("WHARF_WEBCORE_SECRET", "hunter2")]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}

//! The Ocean Provider's keys: one per chain where configured (`WHARF_PROVIDER_KEY_<chain>` or
//! `provider_key_file`), else the default key (`WHARF_PROVIDER_KEY` or `provider.key_file`).
//! On a fresh embedded default the default key file does not exist: a key is generated and
//! kept there (readable by its owner only), so `wharf serve` alone answers the Provider routes.
//! Keys are never logged; addresses are.
use std::{collections::HashMap, path::Path, str::FromStr};

use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the provider key {what} is not a valid hex private key")]
    Invalid { what: String },
    #[error("cannot create the provider key file {path}: {source}")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the provider key file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone)]
pub struct ProviderKeys {
    default: PrivateKeySigner,
    per_chain: HashMap<u64, PrivateKeySigner>,
}

fn parse(text: &str, what: impl Into<String>) -> Result<PrivateKeySigner, KeyError> {
    PrivateKeySigner::from_str(text.trim()).map_err(|_| KeyError::Invalid { what: what.into() })
}

impl ProviderKeys {
    pub fn load(config: &Config) -> Result<Self, KeyError> {
        let default = match &config.provider.key {
            Some(secret) => parse(secret.expose(), "in WHARF_PROVIDER_KEY")?,
            None => {
                let path = if config.provider.key_file.is_absolute() {
                    config.provider.key_file.clone()
                } else {
                    config.data_dir.join(&config.provider.key_file)
                };
                load_or_create(&path)?
            }
        };
        let mut per_chain = HashMap::new();
        for chain in &config.chains {
            if let Some(secret) = &chain.provider_key {
                per_chain.insert(
                    chain.chain_id,
                    parse(secret.expose(), format!("of chain {}", chain.chain_id))?,
                );
            }
        }
        Ok(Self { default, per_chain })
    }

    /// The key that speaks for the provider on `chain_id`.
    pub fn signer(&self, chain_id: u64) -> &PrivateKeySigner {
        self.per_chain.get(&chain_id).unwrap_or(&self.default)
    }

    pub fn address(&self, chain_id: u64) -> Address {
        self.signer(chain_id).address()
    }

    /// The secret key of a chain, for ECIES.
    pub fn secret(&self, chain_id: u64) -> k256::SecretKey {
        k256::SecretKey::from(self.signer(chain_id).credential().as_nonzero_scalar())
    }

    /// The default key's address, for start-up logs.
    pub fn default_address(&self) -> Address {
        self.default.address()
    }
}

fn load_or_create(path: &Path) -> Result<PrivateKeySigner, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer = PrivateKeySigner::random();
            let hex_key = format!("0x{}", hex::encode(signer.credential().to_bytes()));
            write_private(path, &hex_key).map_err(|source| KeyError::Create {
                path: path.display().to_string(),
                source,
            })?;
            // Read back: another process sharing the data directory may have written first.
            let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let kept = parse(&text, path.display().to_string())?;
            if kept.address() == signer.address() {
                tracing::info!(path = %path.display(), address = %kept.address(), "generated a provider key");
            }
            Ok(kept)
        }
        Err(source) => Err(KeyError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes a new file only its owner can read; an existing one is left alone (another process
/// sharing the data directory made it first).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => file.write_all(text.as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

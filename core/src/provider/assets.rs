//! Assets (DDOs): wharf's own registry, filled by operators (`publishAsset`), and an optional
//! Aquarius-compatible metadata cache for the rest.
//!
//! Cache policy: DDOs read from the configured Aquarius are kept in memory for
//! `provider.ddo_cache_secs` (60 s by default; at most 10,000 of them), so a burst of
//! initialize/download calls asks Aquarius once; a DID Aquarius does not know is not cached.
//! DDOs of wharf's own registry are read from the database every time (they change only by an
//! operator's publish).
use std::{
    collections::HashMap,
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy_primitives::Address;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{sql, time::now_ms};

/// The parts of a DDO (v4) the Provider reads. The whole document is kept as published.
#[derive(Debug, Clone)]
pub struct Asset {
    pub did: String,
    pub chain_id: u64,
    pub nft_address: Address,
    pub kind: String,
    pub services: Vec<Service>,
    /// Address allow/deny lists (lower-cased), from `credentials`.
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub document: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The service files, encrypted by the provider (`0x…`).
    #[serde(default)]
    pub files: String,
    pub datatoken_address: String,
    #[serde(default)]
    pub service_endpoint: String,
    /// Seconds an order stays valid (0: for ever).
    #[serde(default)]
    pub timeout: u64,
    #[serde(default)]
    pub compute: Option<Value>,
}

impl Service {
    pub fn datatoken(&self) -> Option<Address> {
        Address::from_str(&self.datatoken_address).ok()
    }
}

impl Asset {
    /// The service with `id` and its position in `services` (the `serviceIndex` orders carry).
    pub fn service(&self, id: &str) -> Option<(usize, &Service)> {
        self.services.iter().enumerate().find(|(_, s)| s.id == id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("Cannot resolve DID")]
    NotFound,
    #[error("the DDO is malformed: {0}")]
    Malformed(String),
    #[error("the metadata cache did not answer: {0}")]
    Cache(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The DID of a data NFT: `did:op:` + sha256 hex of its checksummed address and the chain id.
pub fn did_of(nft: &Address, chain_id: u64) -> String {
    let digest = Sha256::digest(format!("{}{chain_id}", nft.to_checksum(None)).as_bytes());
    format!("did:op:{}", hex::encode(digest))
}

/// Reads the Provider's parts of a DDO.
pub fn parse(document: Value) -> Result<Asset, AssetError> {
    let bad = |what: &str| AssetError::Malformed(what.to_string());
    let did = document["id"]
        .as_str()
        .ok_or_else(|| bad("no id"))?
        .to_string();
    let chain_id = document["chainId"]
        .as_u64()
        .ok_or_else(|| bad("no chainId"))?;
    let nft_address = document["nftAddress"]
        .as_str()
        .and_then(|a| Address::from_str(a).ok())
        .ok_or_else(|| bad("no nftAddress"))?;
    let services: Vec<Service> = serde_json::from_value(document["services"].clone())
        .map_err(|e| AssetError::Malformed(format!("services: {e}")))?;
    let list = |kind: &str| -> Vec<String> {
        document["credentials"][kind]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["type"] == "address")
                    .flat_map(|e| e["values"].as_array().cloned().unwrap_or_default())
                    .filter_map(|v| v.as_str().map(str::to_lowercase))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Asset {
        did,
        chain_id,
        nft_address,
        kind: document["metadata"]["type"]
            .as_str()
            .unwrap_or("dataset")
            .to_string(),
        services,
        allow: list("allow"),
        deny: list("deny"),
        document,
    })
}

const CACHE_ENTRIES: usize = 10_000;

#[derive(Clone)]
pub struct AssetRegistry {
    db: DatabaseConnection,
    aquarius: Option<String>,
    http: reqwest::Client,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<String, (Instant, Value)>>>,
}

impl AssetRegistry {
    pub fn new(db: DatabaseConnection, aquarius: Option<String>, ttl: Duration) -> Self {
        Self {
            db,
            aquarius: aquarius.map(|u| u.trim_end_matches('/').to_string()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            ttl,
            cache: Arc::default(),
        }
    }

    /// Stores (or replaces) a DDO in wharf's registry. Its DID must be the one its data NFT
    /// and chain make, and its services must have ids and datatokens.
    pub async fn publish(&self, document: Value) -> Result<Asset, AssetError> {
        let asset = parse(document)?;
        let expected = did_of(&asset.nft_address, asset.chain_id);
        if asset.did != expected {
            return Err(AssetError::Malformed(format!(
                "id {} is not the DID of nft {} on chain {} ({expected})",
                asset.did, asset.nft_address, asset.chain_id
            )));
        }
        if asset.services.is_empty()
            || asset
                .services
                .iter()
                .any(|s| s.id.is_empty() || s.datatoken().is_none())
        {
            return Err(AssetError::Malformed(
                "every service needs an id and a datatokenAddress".into(),
            ));
        }
        let now = now_ms();
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "INSERT INTO provider_assets (did, chain_id, nft_address, ddo, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (did) DO UPDATE SET ddo = excluded.ddo, updated_at = excluded.updated_at",
                [
                    asset.did.clone().into(),
                    (asset.chain_id as i64).into(),
                    asset.nft_address.to_checksum(None).into(),
                    asset.document.to_string().into(),
                    now.into(),
                ],
            ))
            .await?;
        Ok(asset)
    }

    /// A DDO of wharf's own registry.
    pub async fn own(&self, did: &str) -> Result<Option<Value>, AssetError> {
        let row = self
            .db
            .query_one_raw(sql::statement(
                &self.db,
                "SELECT ddo FROM provider_assets WHERE did = $1",
                [did.into()],
            ))
            .await?;
        match row {
            Some(row) => {
                let text: String = row.try_get("", "ddo")?;
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| AssetError::Malformed(e.to_string()))
            }
            None => Ok(None),
        }
    }

    /// Resolves a DID: wharf's registry first, then the metadata cache.
    pub async fn resolve(&self, did: &str) -> Result<Asset, AssetError> {
        if !did.starts_with("did:op:") || did.len() > 80 {
            return Err(AssetError::NotFound);
        }
        if let Some(document) = self.own(did).await? {
            return parse(document);
        }
        let Some(aquarius) = &self.aquarius else {
            return Err(AssetError::NotFound);
        };
        if let Some(document) = self.cached(did) {
            return parse(document);
        }
        let url = format!("{aquarius}/api/aquarius/assets/ddo/{did}");
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| AssetError::Cache(e.without_url().to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(AssetError::NotFound);
        }
        if !response.status().is_success() {
            return Err(AssetError::Cache(format!("HTTP {}", response.status())));
        }
        let document: Value = response
            .json()
            .await
            .map_err(|e| AssetError::Cache(e.without_url().to_string()))?;
        let asset = parse(document.clone())?;
        self.keep(did, document);
        Ok(asset)
    }

    fn cached(&self, did: &str) -> Option<Value> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(did)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, document)| document.clone())
    }

    fn keep(&self, did: &str, document: Value) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            let ttl = self.ttl;
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(did.to_string(), (Instant::now(), document));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_did_is_made_from_the_checksummed_nft_and_the_chain() {
        let nft = Address::from_str("0x5fbdb2315678afecb367f032d93f642f64180aa3").unwrap();
        // EIP-55 of that address, as Ocean's libraries write it before hashing.
        let expected = format!(
            "did:op:{}",
            hex::encode(Sha256::digest(
                b"0x5FbDB2315678afecb367f032d93F642f64180aa38996"
            ))
        );
        assert_eq!(did_of(&nft, 8996), expected);
        assert_ne!(did_of(&nft, 8995), expected, "the chain is part of it");
    }

    #[test]
    fn ddos_are_read_with_their_services_and_credentials() {
        let document = serde_json::json!({
            "id": "did:op:x", "chainId": 8996, "nftAddress": "0x0000000000000000000000000000000000000abc",
            "metadata": {"type": "algorithm"},
            "services": [{"id": "s1", "type": "access", "files": "0x12", "datatokenAddress": "0x0000000000000000000000000000000000000def", "serviceEndpoint": "http://p", "timeout": 60}],
            "credentials": {"allow": [{"type": "address", "values": ["0xAbC"]}], "deny": []}
        });
        let asset = parse(document).unwrap();
        assert_eq!(asset.kind, "algorithm");
        assert_eq!(asset.service("s1").unwrap().0, 0);
        assert_eq!(asset.allow, vec!["0xabc"]);
        assert!(parse(serde_json::json!({"id": "did:op:x"})).is_err());
    }
}

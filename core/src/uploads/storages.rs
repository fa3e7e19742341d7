//! The storages on offer: those configured in wharf.toml and the legacy microservices that
//! registered recently, each with the chains and tokens it accepts.
use std::str::FromStr;

use alloy_primitives::Address;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
use serde::{Deserialize, Serialize};
use wharf_entity::storage_service;

use crate::{config::Config, time::now_ms};

/// A token accepted on a chain (`{"title": "OCEAN", "value": "0x…"}` on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedToken {
    pub title: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentOption {
    /// A string on the wire, as upstream stored it.
    #[serde(rename = "chainId")]
    pub chain_id: String,
    #[serde(rename = "acceptedTokens")]
    pub accepted_tokens: Vec<AcceptedToken>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageOffer {
    pub kind: String,
    pub description: String,
    pub payment: Vec<PaymentOption>,
    /// Served by a registered microservice at this URL (None: built in).
    pub microservice_url: Option<String>,
}

/// Storages configured in wharf.toml, with the tokens they have prices in.
pub fn configured(config: &Config) -> Vec<StorageOffer> {
    config
        .storages
        .iter()
        .map(|s| {
            let payment = config
                .chains
                .iter()
                .filter_map(|chain| {
                    let tokens: Vec<AcceptedToken> = chain
                        .tokens
                        .iter()
                        .filter(|t| {
                            s.price_per_gib_month
                                .contains_key(&format!("{}:{}", chain.chain_id, t.symbol))
                        })
                        .map(|t| AcceptedToken {
                            title: t.symbol.clone(),
                            value: checksummed(&t.address),
                        })
                        .collect();
                    (!tokens.is_empty()).then(|| PaymentOption {
                        chain_id: chain.chain_id.to_string(),
                        accepted_tokens: tokens,
                    })
                })
                .collect();
            // A free storage takes any chain; clients (uploader-ui-lib, uploader.js' example)
            // still need a non-empty list to let the user's network through.
            let payment = if s.price_per_gib_month.is_empty() {
                free_payment_options(config)
            } else {
                payment
            };
            StorageOffer {
                kind: s.kind.clone(),
                description: s.description.clone(),
                payment,
                microservice_url: None,
            }
        })
        .collect()
}

/// What a free storage lists as payment options: every configured chain with its tokens, or,
/// with no chain configured, the list the legacy free IPFS storage service (dbs_ipfs)
/// registered: Ethereum (WETH) and Polygon (WMATIC).
fn free_payment_options(config: &Config) -> Vec<PaymentOption> {
    if config.chains.is_empty() {
        return vec![
            PaymentOption {
                chain_id: "1".into(),
                accepted_tokens: vec![AcceptedToken {
                    title: "WETH".into(),
                    value: "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2".into(),
                }],
            },
            PaymentOption {
                chain_id: "137".into(),
                accepted_tokens: vec![AcceptedToken {
                    title: "WMATIC".into(),
                    value: "0x0d500B1d8E8eF31E21C99d1Db9A6444d3ADf1270".into(),
                }],
            },
        ];
    }
    config
        .chains
        .iter()
        .map(|chain| PaymentOption {
            chain_id: chain.chain_id.to_string(),
            accepted_tokens: chain
                .tokens
                .iter()
                .map(|t| AcceptedToken {
                    title: t.symbol.clone(),
                    value: checksummed(&t.address),
                })
                .collect(),
        })
        .collect()
}

/// The registered microservices, read from the database at most once per `FRESH_FOR` per
/// process: every quote looks at them, and that read was a third of `POST /getQuote`'s time.
/// A registration through this process is seen at once (it bumps `GENERATION`); one through
/// another process within `FRESH_FOR`. Whether a service is still live is decided from its
/// `last_seen_at` at each use, so expiry is exact.
#[derive(Default, Clone)]
pub struct RegistryCache {
    held: std::sync::Arc<std::sync::Mutex<Option<Held>>>,
}

struct Held {
    read_at: std::time::Instant,
    generation: u64,
    services: std::sync::Arc<Vec<storage_service::Model>>,
}

const FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(1);
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Called after this process changed the registry: cached reads are stale.
pub fn registry_changed() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

impl RegistryCache {
    async fn services(
        &self,
        db: &DatabaseConnection,
    ) -> Result<std::sync::Arc<Vec<storage_service::Model>>, DbErr> {
        let generation = GENERATION.load(std::sync::atomic::Ordering::SeqCst);
        if let Ok(held) = self.held.lock()
            && let Some(held) = held.as_ref()
            && held.generation == generation
            && held.read_at.elapsed() < FRESH_FOR
        {
            return Ok(held.services.clone());
        }
        let mut services = storage_service::Entity::find().all(db).await?;
        services.sort_by_key(|s| s.registered_at);
        let services = std::sync::Arc::new(services);
        if let Ok(mut held) = self.held.lock() {
            *held = Some(Held {
                read_at: std::time::Instant::now(),
                generation,
                services: services.clone(),
            });
        }
        Ok(services)
    }
}

/// All storages on offer now: configured ones first, then live microservices of other types.
pub async fn offered(
    config: &Config,
    db: &DatabaseConnection,
    cache: &RegistryCache,
) -> Result<Vec<StorageOffer>, DbErr> {
    let mut offers = configured(config);
    let live_after = now_ms() - (config.dbs.registration_ttl_secs as i64).saturating_mul(1000);
    let services = cache.services(db).await?;
    for service in services.iter().cloned() {
        if service.last_seen_at <= live_after || offers.iter().any(|o| o.kind == service.kind) {
            continue;
        }
        offers.push(StorageOffer {
            kind: service.kind,
            description: service.description,
            payment: serde_json::from_str(&service.payment).unwrap_or_default(),
            microservice_url: Some(service.url),
        });
    }
    Ok(offers)
}

fn checksummed(address: &str) -> String {
    Address::from_str(address)
        .map(|a| a.to_checksum(None))
        .unwrap_or_else(|_| address.to_string())
}

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

/// All storages on offer now: configured ones first, then live microservices of other types.
pub async fn offered(config: &Config, db: &DatabaseConnection) -> Result<Vec<StorageOffer>, DbErr> {
    let mut offers = configured(config);
    let live_after = now_ms() - (config.dbs.registration_ttl_secs as i64).saturating_mul(1000);
    let mut services = storage_service::Entity::find().all(db).await?;
    services.sort_by_key(|s| s.registered_at);
    for service in services {
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

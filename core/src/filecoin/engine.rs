//! The deal engine wharf asks to make Filecoin deals, behind a trait; the shipped one speaks
//! the Delta API (shared/reference/delta-dm.md §9.2). Wallet keys pass through to the engine
//! and are never stored by wharf.
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no deal engine is configured (filecoin.deal_engine_url)")]
    NotConfigured,
    #[error("the deal engine did not answer: {0}")]
    Unreachable(String),
    /// The engine refused the request (a whole batch, or a wallet).
    #[error("the deal engine refused (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the deal engine replied in an unexpected format: {0}")]
    BadReply(String),
}

/// One deal to make: a piece already prepared (import mode), from a wallet, with a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealRequest {
    pub payload_cid: String,
    pub piece_cid: String,
    pub padded_piece_size: i64,
    pub size: i64,
    pub provider: String,
    pub wallet: String,
    pub remove_unsealed_copy: bool,
    pub skip_ipni_announce: bool,
    pub start_epoch: i64,
    pub end_epoch: i64,
    pub delay_days: u64,
    pub duration_days: u64,
}

/// The engine's answer for one accepted deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub content_id: i64,
    pub piece_cid: String,
    pub provider: String,
}

/// Where a deal stands, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DealState {
    pub content_id: i64,
    pub status: String,
    pub message: String,
    pub proposal_cid: String,
    pub deal_uuid: String,
    pub on_chain_deal_id: i64,
}

#[async_trait::async_trait]
pub trait DealEngine: Send + Sync {
    /// Submits deals; the engine may accept some and not others.
    async fn make_deals(&self, deals: &[DealRequest]) -> Result<Vec<Accepted>, EngineError>;
    /// Current state of deals by the engine's content ids.
    async fn deal_states(&self, content_ids: &[i64]) -> Result<Vec<DealState>, EngineError>;
    /// Registers a wallet key with the engine; returns its address.
    async fn register_wallet(
        &self,
        key_type: &str,
        private_key: &str,
    ) -> Result<String, EngineError>;
    /// Registers a wallet given as the hex of a lotus wallet export.
    async fn register_wallet_hex(&self, hex_key: &str) -> Result<String, EngineError>;
    /// The engine's commit, version and instance id, asked now.
    async fn node_info(&self) -> Result<NodeInfo, EngineError>;
}

/// Who the deal engine is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub commit: String,
    pub version: String,
    /// The engine instance's id (Delta's `instance_uuid`).
    pub uuid: String,
}

/// The Delta deal engine over HTTP.
pub struct Delta {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Delta {
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, EngineError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| EngineError::Unreachable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| EngineError::Unreachable(e.without_url().to_string()))?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .or_else(|| v.get("error"))
                        .map(|m| m.as_str().map(str::to_string).unwrap_or(m.to_string()))
                })
                .unwrap_or_else(|| text.chars().take(500).collect());
            return Err(EngineError::Refused { status, message });
        }
        serde_json::from_str(&text).map_err(|e| EngineError::BadReply(e.to_string()))
    }
}

/// The Delta DealRequest of one deal.
pub fn delta_request(deal: &DealRequest) -> Value {
    json!({
        "cid": deal.payload_cid,
        "miner": deal.provider,
        "wallet": {"address": deal.wallet},
        "piece_commitment": {
            "piece_cid": deal.piece_cid,
            "padded_piece_size": deal.padded_piece_size,
            "unpadded_piece_size": deal.padded_piece_size - deal.padded_piece_size / 128,
        },
        "connection_mode": "import",
        "size": deal.size,
        "remove_unsealed_copy": deal.remove_unsealed_copy,
        "skip_ipni_announce": deal.skip_ipni_announce,
        // Epochs computed by wharf; the day counts agree with them for engines that
        // recompute (Delta: end = start + 2880 × (duration_in_days − start_epoch_in_days)).
        "start_epoch": deal.start_epoch,
        "duration": deal.end_epoch - deal.start_epoch,
        "start_epoch_in_days": deal.delay_days,
        "duration_in_days": deal.duration_days + deal.delay_days,
    })
}

#[derive(Deserialize)]
struct ImportReply {
    status: String,
    #[serde(default)]
    content_id: i64,
    #[serde(default)]
    deal_request_meta: Value,
}

#[derive(Deserialize, Serialize, Default)]
struct StatsContent {
    #[serde(default, rename = "ID")]
    id: i64,
    #[serde(default)]
    status: String,
    #[serde(default)]
    last_message: String,
}

#[derive(Deserialize, Default)]
struct StatsDeal {
    #[serde(default, rename = "propCid")]
    prop_cid: String,
    #[serde(default, rename = "dealUuid")]
    deal_uuid: String,
    #[serde(default, rename = "dealId")]
    deal_id: i64,
}

#[derive(Deserialize)]
struct StatsItem {
    content: StatsContent,
    #[serde(default)]
    deals: Option<Vec<StatsDeal>>,
}

#[async_trait::async_trait]
impl DealEngine for Delta {
    async fn make_deals(&self, deals: &[DealRequest]) -> Result<Vec<Accepted>, EngineError> {
        let body = Value::Array(deals.iter().map(delta_request).collect());
        let reply = self.post("/api/v1/deal/imports", &body).await?;
        let items: Vec<ImportReply> =
            serde_json::from_value(reply).map_err(|e| EngineError::BadReply(e.to_string()))?;
        Ok(items
            .into_iter()
            .filter(|i| i.status == "success" && i.content_id > 0)
            .map(|i| Accepted {
                content_id: i.content_id,
                piece_cid: i.deal_request_meta["piece_commitment"]["piece_cid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                provider: i.deal_request_meta["miner"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect())
    }

    async fn deal_states(&self, content_ids: &[i64]) -> Result<Vec<DealState>, EngineError> {
        let reply = self
            .post("/api/v1/stats/contents", &json!(content_ids))
            .await?;
        let items: Vec<StatsItem> =
            serde_json::from_value(reply).map_err(|e| EngineError::BadReply(e.to_string()))?;
        Ok(items
            .into_iter()
            .map(|item| {
                let deal = item
                    .deals
                    .and_then(|d| d.into_iter().next())
                    .unwrap_or_default();
                DealState {
                    content_id: item.content.id,
                    status: item.content.status,
                    message: item.content.last_message,
                    proposal_cid: deal.prop_cid,
                    deal_uuid: deal.deal_uuid,
                    on_chain_deal_id: deal.deal_id,
                }
            })
            .collect())
    }

    async fn register_wallet(
        &self,
        key_type: &str,
        private_key: &str,
    ) -> Result<String, EngineError> {
        let reply = self
            .post(
                "/admin/wallet/register",
                &json!({"key_type": key_type, "private_key": private_key}),
            )
            .await?;
        wallet_address(&reply)
    }

    async fn node_info(&self) -> Result<NodeInfo, EngineError> {
        let (info, uuids) = tokio::join!(self.get("/open/node/info"), self.get("/open/node/uuids"));
        let info = info?;
        let text = |k: &str| info[k].as_str().unwrap_or_default().to_string();
        Ok(NodeInfo {
            commit: text("commit"),
            version: text("version"),
            // Older engines lack the route: the id is then unknown, not an error.
            uuid: uuids
                .ok()
                .and_then(|u| u[0]["instance_uuid"].as_str().map(str::to_string))
                .unwrap_or_default(),
        })
    }

    async fn register_wallet_hex(&self, hex_key: &str) -> Result<String, EngineError> {
        let reply = self
            .post("/admin/wallet/register-hex", &json!({"hex_key": hex_key}))
            .await?;
        wallet_address(&reply)
    }
}

impl Delta {
    async fn get(&self, path: &str) -> Result<Value, EngineError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| EngineError::Unreachable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(EngineError::Refused {
                status,
                message: format!("GET {path}"),
            });
        }
        response
            .json()
            .await
            .map_err(|e| EngineError::BadReply(e.to_string()))
    }
}

fn wallet_address(reply: &Value) -> Result<String, EngineError> {
    reply["wallet_addr"]
        .as_str()
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .ok_or_else(|| EngineError::BadReply("no wallet_addr in the reply".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_requests_carry_our_epochs_and_matching_day_counts() {
        let request = delta_request(&DealRequest {
            payload_cid: "bafy".into(),
            piece_cid: "baga".into(),
            padded_piece_size: 34_359_738_368,
            size: 24_692_724_205,
            provider: "f01000".into(),
            wallet: "f1abc".into(),
            remove_unsealed_copy: true,
            skip_ipni_announce: false,
            start_epoch: 6_575_280,
            end_epoch: 6_575_280 + 540 * 2880,
            delay_days: 3,
            duration_days: 540,
        });
        assert_eq!(request["duration"], 540 * 2880);
        assert_eq!(request["start_epoch"], 6_575_280);
        // Delta's own arithmetic gives the same term: 2880 × (543 − 3).
        assert_eq!(request["duration_in_days"], 543);
        assert_eq!(
            request["piece_commitment"]["unpadded_piece_size"],
            34_091_302_912i64
        );
        assert_eq!(request["connection_mode"], "import");
    }
}

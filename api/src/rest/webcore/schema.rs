//! Wire shapes of the web-core token API, for the OpenAPI document only.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new access token: 16 base-62 characters.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"token": "oiFyR2NcMvaSiNDf"}))]
pub struct NewToken {
    pub token: String,
}

/// What byte credits cost.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"prices": [{"amount": 107374182400u64, "cost": 500}, {"amount": 1073741824000u64, "cost": 5000}]}))]
pub struct Prices {
    pub prices: Vec<Price>,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct Price {
    /// Bytes.
    pub amount: u64,
    pub cost: u64,
}

/// A token's byte credits (0 for a token never seen).
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"balance": 107374182400u64}))]
pub struct Balance {
    pub balance: i64,
}

#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"promocode": "WELCOME"}))]
pub struct Redeem {
    pub promocode: String,
}

/// Bytes to deposit or withdraw: whole, positive and below 2^63, as a JSON number or a string
/// holding one (the legacy service took `int(bytes)`).
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"bytes": 1073741824}))]
pub struct ByteAmount {
    pub bytes: TokenBytes,
}

#[derive(ToSchema, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenBytes {
    Number(i64),
    Digits(String),
}

/// `{"status": …}`: `ok`, or a refusal (`bad-request`, `invalid-authentication`,
/// `token-not-found`, `error`, `payload-too-large`, `internal-error`).
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"status": "ok"}))]
pub struct TokenStatus {
    pub status: String,
}

/// `{"error": "balance-insufficient"}`, as the legacy code (not its README) answered.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"error": "balance-insufficient"}))]
pub struct TokenError {
    pub error: String,
}

/// `POST /api/upload`'s form.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct HostUploadForm {
    /// The file.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// The access token charged `4 × size`.
    pub token: Option<String>,
}

/// A stored file's hash and key.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"filehash": "c508708d7a8a0db90e92f15510ee3ef488bd67a8e6982489e0d27bd0bcaf7741", "key": "0372c3a52ffa439556db30e6a2a6cd7bae4fb498bd58996919a61bdac831fe3f"}))]
pub struct HostedKey {
    /// SHA-256 of the ciphertext, hex.
    pub filehash: String,
    /// The AES-256 key, hex.
    pub key: String,
}

/// `{"error": …}`.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"error": "balance-insufficient"}))]
pub struct HostingError {
    pub error: String,
}

/// A host holding the file.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct HostLink {
    pub host_name: String,
    pub url: String,
}

/// `GET /api/find`'s payload.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct HostedPayload {
    pub version: String,
    pub filename: String,
    pub filesize: i64,
    pub filehash: String,
    /// Unix seconds, as a string.
    pub datetime: String,
    pub uploads: Vec<HostLink>,
    /// The ciphertext's CID in wharf's store.
    pub cid: String,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct InOut {
    pub incoming: i64,
    pub outgoing: i64,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct Bandwidth {
    pub total: InOut,
    /// This month (UTC).
    pub current: InOut,
    /// 0: unlimited.
    pub limits: InOut,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct StorageMeter {
    pub capacity: u64,
    pub used: i64,
    pub max_file_size: u64,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct Queue {
    pub count: i64,
    pub size: i64,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct SyncQueues {
    pub cloud_queue: Queue,
    pub blockchain_queue: Queue,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct Florincoin {
    pub balance: f64,
    pub address: String,
    pub block: i64,
}

/// `GET /api/status`.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct NodeStatus {
    pub bandwidth: Bandwidth,
    pub storage: StorageMeter,
    pub sync: SyncQueues,
    pub florincoin: Florincoin,
}

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

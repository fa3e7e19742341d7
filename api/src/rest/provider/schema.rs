//! Wire shapes of the Provider family, for the OpenAPI document only.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The provider's root info.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"chainIds": [1337], "providerAddresses": {"1337": "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1"},
    "serviceEndpoints": {"nonce": ["GET", "/api/services/nonce"], "download": ["GET", "/api/services/download"]},
    "software": "Provider", "version": "0.1.0"}))]
pub struct Root {
    #[serde(rename = "chainIds")]
    pub chain_ids: Vec<u64>,
    #[serde(rename = "providerAddresses")]
    pub provider_addresses: serde_json::Map<String, serde_json::Value>,
    /// Endpoint name -> [method, path relative to the provider URL].
    #[serde(rename = "serviceEndpoints")]
    pub service_endpoints: serde_json::Map<String, serde_json::Value>,
    pub software: String,
    pub version: String,
}

#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"nonce": "1700000000"}))]
pub struct NonceAnswer {
    pub nonce: String,
}

/// A decrypt request.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptBody {
    pub decrypter_address: String,
    pub chain_id: u64,
    pub data_nft_address: String,
    /// The `setMetaData` transaction; or give the next three.
    pub transaction_id: Option<String>,
    pub encrypted_document: Option<String>,
    pub flags: Option<u8>,
    pub document_hash: Option<String>,
    pub nonce: String,
    /// personal_sign of keccak256(`(transactionId or dataNftAddress) + decrypterAddress + chainId + nonce`).
    pub signature: String,
}

/// A provider fee, as `startOrder` takes it.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderFee {
    pub provider_fee_address: String,
    pub provider_fee_token: String,
    pub provider_fee_amount: String,
    pub provider_data: String,
    pub v: u8,
    pub r: String,
    pub s: String,
    pub valid_until: u64,
}

/// What initialize answers.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Initialized {
    pub datatoken: String,
    pub nonce: Option<String>,
    pub provider_fee: ProviderFee,
}

/// A file check of fileinfo.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"index": 0, "valid": true, "type": "url", "contentLength": "1161", "contentType": "application/json", "filename": "info.0.json", "checksum": "…", "checksumType": "sha256"}))]
pub struct FileInfo {
    pub index: usize,
    pub valid: bool,
    #[serde(rename = "type")]
    pub kind: String,
    pub content_length: Option<String>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub checksum: Option<String>,
    pub checksum_type: Option<String>,
}

/// `{"error": "…"}`.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct Error {
    pub error: String,
}

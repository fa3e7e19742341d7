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

/// A compute environment.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "sandbox", "cpuNumber": 1, "cpuType": "", "gpuNumber": 0, "gpuType": "", "ramGB": 1, "diskGB": 1,
    "priceMin": 0.0, "desc": "Local sandbox", "currentJobs": 0, "maxJobs": 2,
    "consumerAddress": "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1", "storageExpiry": 604800,
    "maxJobDuration": 3600, "lastSeen": 1764547200, "feeToken": "0x0000000000000000000000000000000000000000"}))]
pub struct ComputeEnvironment {
    pub id: String,
    pub cpu_number: u64,
    pub cpu_type: String,
    pub gpu_number: u64,
    pub gpu_type: String,
    #[serde(rename = "ramGB")]
    pub ram_gb: u64,
    #[serde(rename = "diskGB")]
    pub disk_gb: u64,
    /// Price per minute, in whole fee tokens.
    pub price_min: f64,
    pub desc: String,
    pub current_jobs: u64,
    pub max_jobs: u64,
    /// The address orders for this environment are placed for.
    pub consumer_address: String,
    /// Seconds results are kept.
    pub storage_expiry: u64,
    /// Longest job, in seconds.
    pub max_job_duration: u64,
    pub last_seen: u64,
    pub fee_token: String,
}

/// A dataset or algorithm of a compute request.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeItem {
    pub document_id: Option<String>,
    pub service_id: Option<String>,
    pub transfer_tx_id: Option<String>,
    pub userdata: Option<serde_json::Value>,
}

/// The algorithm of a compute request: a published one, or raw `meta` (`rawcode` or `url`,
/// and a `container` with its `entrypoint`).
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeAlgorithm {
    pub document_id: Option<String>,
    pub service_id: Option<String>,
    pub transfer_tx_id: Option<String>,
    pub meta: Option<serde_json::Value>,
    pub algocustomdata: Option<serde_json::Value>,
    pub userdata: Option<serde_json::Value>,
}

/// The environment and how long the job's fees should last.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeWindow {
    pub env: String,
    /// Unix seconds.
    pub valid_until: i64,
}

/// An initializeCompute request.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeComputeBody {
    pub datasets: Vec<ComputeItem>,
    pub algorithm: ComputeAlgorithm,
    pub compute: ComputeWindow,
    pub consumer_address: String,
}

/// A compute start request.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeStartBody {
    pub dataset: ComputeItem,
    pub additional_datasets: Option<Vec<ComputeItem>>,
    pub algorithm: ComputeAlgorithm,
    pub environment: Option<String>,
    pub consumer_address: String,
    pub nonce: String,
    /// personal_sign of keccak256(`consumerAddress + dataset.documentId + nonce`).
    pub signature: String,
    pub output: Option<serde_json::Value>,
}

/// A compute stop or delete request.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeStopBody {
    pub consumer_address: String,
    pub job_id: Option<String>,
    pub document_id: Option<String>,
    pub agreement_id: Option<String>,
    pub nonce: Option<String>,
    /// personal_sign of keccak256(`consumerAddress + jobId + documentId + nonce`).
    pub signature: String,
}

/// A result file of a job.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct ComputeResultFile {
    pub filename: String,
    pub filesize: u64,
    /// `output` or `algorithmLog`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A compute job, as operator-service answers it.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"agreementId": "0x…", "jobId": "3f2a…", "owner": "0x…", "status": 70, "statusText": "Job finished",
    "dateCreated": "1764547200", "dateFinished": "1764547205",
    "results": [{"filename": "sum.txt", "filesize": 6, "type": "output"}, {"filename": "algorithm.log", "filesize": 40, "type": "algorithmLog"}],
    "stopreq": 0, "removed": 0, "algoDID": "did:op:…", "inputDID": ["did:op:…"], "environment": "sandbox"}))]
pub struct ComputeJob {
    pub agreement_id: String,
    pub job_id: String,
    pub owner: String,
    pub status: i32,
    /// "Job finished", or "Job failed: <reason>", "Job stopped".
    pub status_text: String,
    pub date_created: String,
    pub date_finished: Option<String>,
    pub results: Vec<ComputeResultFile>,
    pub stopreq: i32,
    pub removed: i32,
    #[serde(rename = "algoDID")]
    pub algo_did: String,
    #[serde(rename = "inputDID")]
    pub input_did: Vec<String>,
    pub environment: String,
}

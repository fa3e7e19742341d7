//! Wire shapes of the delta-dm family, for the OpenAPI document only: the handlers build their
//! JSON by hand to match delta-dm's gorm models (`ID`, `CreatedAt`, … beside snake_case fields).
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// delta-dm's error envelope, with the HTTP status in `code`.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"error": {"code": 404, "reason": "Not Found", "details": "dataset 7 does not exist"}}))]
pub struct DeltaDmError {
    pub error: DeltaDmErrorBody,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct DeltaDmErrorBody {
    pub code: u16,
    pub reason: String,
    pub details: String,
}

/// A bare JSON string: authentication refusals (401) and some confirmations.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!("missing authorization header"))]
pub struct DeltaDmMessage(pub String);

/// `GET /api/v1/health`: wharf's version and the deal engine's, asked now.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct DeltaDmHealth {
    /// The deal engine's instance uuid; empty when it did not answer.
    pub uuid: String,
    pub ddm_info: VersionInfo,
    pub delta_info: VersionInfo,
    /// Why the deal engine's version is missing.
    pub delta_error: Option<String>,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct VersionInfo {
    pub commit: String,
    pub version: String,
}

/// Raw and padded byte counts.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct ByteCounts {
    pub raw: i64,
    pub padded: i64,
}

/// A dataset as created or updated (`contents` is always `null`, as upstream).
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"ID": 1, "CreatedAt": "2024-05-01T12:00:00.000Z", "UpdatedAt": "2024-05-01T12:00:00.000Z",
    "DeletedAt": null, "name": "my-dataset", "replication_quota": 6, "deal_duration": 540, "contents": null}))]
pub struct Dataset {
    #[serde(rename = "ID")]
    pub id: i32,
    /// RFC 3339.
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "UpdatedAt")]
    pub updated_at: String,
    /// Always `null`.
    #[serde(rename = "DeletedAt")]
    pub deleted_at: Option<String>,
    pub name: String,
    pub replication_quota: u64,
    /// Days.
    pub deal_duration: u64,
    /// Always `null`.
    pub contents: Option<Vec<Content>>,
}

/// A dataset as listed, with its counters, wallets and replication profiles.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct DatasetSummary {
    #[serde(flatten)]
    pub dataset: Dataset,
    pub bytes_replicated: ByteCounts,
    pub bytes_total: ByteCounts,
    pub count_replicated: i64,
    pub count_total: i64,
    /// Left out when the dataset has none.
    pub wallets: Option<Vec<WalletAddress>>,
    pub replication_profiles: Vec<ReplicationProfile>,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct WalletAddress {
    pub address: String,
}

/// `POST /api/v1/datasets`.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"name": "my-dataset", "replication_quota": 6, "deal_duration": 540}))]
pub struct NewDataset {
    /// `^[a-z0-9]+(-[a-z0-9]+)*$`, at most 254 characters.
    pub name: String,
    /// 1 to 1000.
    pub replication_quota: u64,
    /// Days, within `filecoin.min/max_deal_duration_days` (180 to 540 by default).
    pub deal_duration: u64,
}

/// `PUT /api/v1/datasets/{dataset_id}`: the fields to change.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct DatasetChange {
    pub name: Option<String>,
    pub replication_quota: Option<u64>,
    pub deal_duration: Option<u64>,
}

/// A piece of a dataset.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct Content {
    pub commp: String,
    pub payload_cid: String,
    pub size: i64,
    pub padded_size: i64,
    pub dataset_id: i32,
    pub num_replications: i64,
    /// Empty when unknown.
    pub content_location: String,
}

/// A row of a delta-dm JSON import.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"commp": "baga6ea4seaqjtm4sapz4vlxur6m37griffry266er5jwrwvpoodfg7mfl33ukcy",
    "payload_cid": "bafybeien5jzez2bsn3eluylu2mcdubnnz7bqbx6umw7ijxwl7ghauaaxjq",
    "size": 24692724205u64, "padded_size": 34359738368u64}))]
pub struct ContentRow {
    /// A v1 `fil-commitment-unsealed` / `sha2-256-trunc254-padded` piece CID.
    pub commp: String,
    /// A dag-pb, raw or dag-cbor CID.
    pub payload_cid: String,
    pub size: u64,
    /// A power of two ≥ 128 holding `size` after Fr32 padding.
    pub padded_size: u64,
    pub content_location: Option<String>,
}

/// A row of a Singularity (V1) import (`?import_type=singularity`).
#[derive(ToSchema, Serialize, Deserialize)]
pub struct SingularityRow {
    #[serde(rename = "pieceCid")]
    pub piece_cid: String,
    #[serde(rename = "dataCid")]
    pub data_cid: String,
    #[serde(rename = "carSize")]
    pub car_size: u64,
    #[serde(rename = "pieceSize")]
    pub piece_size: u64,
    #[serde(rename = "contentLocation")]
    pub content_location: Option<String>,
}

/// The JSON forms of `POST /api/v1/contents/{dataset}`: delta-dm rows, or Singularity rows with
/// `?import_type=singularity`.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContentImport {
    DeltaDm(Vec<ContentRow>),
    Singularity(Vec<SingularityRow>),
}

/// A row of a collection import: like a delta-dm row, with the dataset by name.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct CollectionRow {
    pub commp: String,
    pub payload_cid: String,
    pub size: u64,
    pub padded_size: u64,
    /// The dataset's name.
    pub collection: String,
    pub content_location: String,
}

/// What an import did, row by row.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"success": ["baga6ea4seaqjtm4sapz4vlxur6m37griffry266er5jwrwvpoodfg7mfl33ukcy"], "fail": ["row 2"]}))]
pub struct ImportOutcome {
    /// Piece CIDs imported.
    pub success: Vec<String>,
    /// Piece CIDs, or `row N` for rows without one, not imported.
    pub fail: Vec<String>,
}

/// A storage provider.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct Provider {
    pub actor_id: String,
    pub actor_name: String,
    pub allow_self_service: bool,
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "UpdatedAt")]
    pub updated_at: String,
}

/// A provider just created, with its self-service key (shown this once, stored hashed).
#[derive(ToSchema, Serialize, Deserialize)]
pub struct NewlyCreatedProvider {
    #[serde(flatten)]
    pub provider: Provider,
    /// For `X-DELTA-AUTH`.
    pub key: String,
}

/// A provider as listed, with its counters and replication profiles.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct ProviderSummary {
    #[serde(flatten)]
    pub provider: Provider,
    pub bytes_replicated: ByteCounts,
    pub count_replicated: i64,
    pub replication_profiles: Vec<ReplicationProfile>,
}

/// `POST /api/v1/providers`.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"actor_id": "f01000", "actor_name": "my provider", "allow_self_service": "on"}))]
pub struct NewProvider {
    pub actor_id: String,
    pub actor_name: Option<String>,
    pub allow_self_service: Option<OnOff>,
}

/// `PUT /api/v1/providers/{provider_id}`: empty strings change nothing (the CLI sends both).
#[derive(ToSchema, Serialize, Deserialize)]
pub struct ProviderChange {
    pub actor_name: Option<String>,
    pub allow_self_service: Option<OnOff>,
}

/// `"on"`/`"off"` as the delta-dm CLI sends it (`""` changes nothing), or a JSON boolean.
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OnOff {
    Switch(String),
    Bool(bool),
}

/// Which datasets a provider may receive deals for, and how.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"provider_actor_id": "f01000", "dataset_id": 1, "unsealed": false, "indexed": true}))]
pub struct ReplicationProfile {
    pub provider_actor_id: String,
    pub dataset_id: i32,
    /// Keep an unsealed copy (false when absent).
    pub unsealed: bool,
    /// Announce to IPNI (false when absent).
    pub indexed: bool,
}

/// Which replication profile to delete.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct ProfileKey {
    pub provider_actor_id: String,
    pub dataset_id: i32,
}

/// `POST /api/v1/replications`.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"provider": "f01000", "dataset_id": 1, "num_deals": 10, "delay_start_days": 3}))]
pub struct NewReplications {
    pub provider: String,
    /// Only this dataset; all the provider's datasets when absent.
    pub dataset_id: Option<i32>,
    pub num_deals: u64,
    /// 1 to 14, default 3.
    pub delay_start_days: Option<u64>,
}

/// One deal of a piece with a provider.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct Replication {
    #[serde(rename = "ID")]
    pub id: i32,
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "UpdatedAt")]
    pub updated_at: String,
    #[serde(rename = "DeletedAt")]
    pub deleted_at: Option<String>,
    pub content: Option<Content>,
    pub deal_time: String,
    /// 0 until the deal engine took the deal.
    pub delta_content_id: i64,
    pub deal_uuid: String,
    /// 0 until known.
    pub on_chain_deal_id: i64,
    pub proposal_cid: String,
    pub provider_actor_id: String,
    pub content_commp: String,
    /// `ddm-pending`, then the deal engine's status.
    pub status: String,
    pub delta_message: String,
    pub start_epoch: i64,
    pub end_epoch: i64,
    pub self_service: ReplicationSelfService,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct ReplicationSelfService {
    pub is_self_service: bool,
    /// RFC 3339; `0001-01-01T00:00:00Z` when never updated.
    pub last_update: String,
    pub status: String,
    pub message: String,
}

/// A page of replications; `totalCount` ignores `limit` and `offset`.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct ReplicationPage {
    pub data: Vec<Replication>,
    #[serde(rename = "totalCount")]
    pub total_count: u64,
}

/// `POST /api/v1/wallets`: a lotus key `{"Type", "PrivateKey"}`, or `{"hex_key"}` with
/// `?hex=true`. The key goes to the deal engine and is not kept.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"Type": "secp256k1", "PrivateKey": "base64…"}))]
pub struct WalletKey {
    /// `secp256k1` or `bls`.
    #[serde(rename = "Type")]
    pub key_type: Option<String>,
    /// Base64.
    #[serde(rename = "PrivateKey")]
    pub private_key: Option<String>,
    /// The hex of a `lotus wallet export`.
    pub hex_key: Option<String>,
}

/// A wallet just registered.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct AddedWallet {
    pub address: String,
    /// Always `null`.
    pub datasets: Option<Vec<DatasetId>>,
    pub balance: WalletBalance,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct WalletBalance {
    pub balance_filecoin: i64,
    pub balance_datacap: i64,
}

/// A wallet as listed, with the datasets it makes deals for.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct Wallet {
    pub address: String,
    #[serde(rename = "type")]
    pub key_type: String,
    pub datasets: Vec<DatasetId>,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct DatasetId {
    #[serde(rename = "ID")]
    pub id: i32,
}

/// `POST /api/v1/wallets/associate`: the wallet's datasets, replacing the previous set.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"address": "f1abc…", "datasets": [1, 2]}))]
pub struct Association {
    pub address: String,
    pub datasets: Vec<i32>,
}

/// The piece a self-service deal was made for.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct SelfServiceDeal {
    /// The payload CID.
    pub cid: String,
    /// Empty when unknown.
    pub content_location: String,
}

/// A piece a provider may ask for.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct AvailableContent {
    pub payload_cid: String,
    pub piece_cid: String,
    pub size: i64,
    pub padded_size: i64,
    pub content_location: Option<String>,
}

/// `PUT /api/v1/self-service/telemetry/{cid}`: how a self-service deal is going.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"deal_uuid": "7a08ecb8-5b0c-4a4e-9f0e-0c1d2e3f4a5b", "state": "sealing", "message": ""}))]
pub struct Telemetry {
    pub deal_uuid: String,
    /// At most 128 bytes.
    pub state: String,
    /// At most 4096 bytes.
    #[serde(default)]
    pub message: String,
}

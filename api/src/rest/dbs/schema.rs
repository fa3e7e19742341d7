//! Wire shapes of the DBS family, for the OpenAPI document only: the handlers read and write
//! `serde_json::Value` to keep upstream's loose typing (numbers or strings, strings as bodies).
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A plain DBS message: a JSON-encoded string, quotes included (`"Quote does not exist."`).
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!("Quote does not exist."))]
pub struct DbsMessage(pub String);

/// A non-negative integer, as a JSON number or a string of digits (uploader.js sends either).
#[derive(ToSchema, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WholeNumber {
    Number(u64),
    Digits(String),
}

/// A storage on offer (`GET /`).
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"type": "ipfs", "description": "Content-addressed storage served by this gateway",
    "payment": [{"chainId": "1337", "acceptedTokens": [{"title": "OCEAN", "value": "0x9c3C9283D3e44854697Cd22D3Faa240Cfb032889"}]}]}))]
pub struct Storage {
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub payment: Vec<StoragePayment>,
}

/// A chain a storage takes payment on, and the tokens it accepts there.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct StoragePayment {
    /// A string, as upstream stored it.
    #[serde(rename = "chainId")]
    pub chain_id: String,
    #[serde(rename = "acceptedTokens")]
    pub accepted_tokens: Vec<StorageToken>,
}

/// A token: its symbol (`title`) and contract address (`value`).
#[derive(ToSchema, Serialize, Deserialize)]
pub struct StorageToken {
    pub title: String,
    pub value: String,
}

/// `POST /getQuote`: files × duration × storage, paid in a token on a chain.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"type": "ipfs", "files": [{"length": 123}, {"length": 456}], "duration": 2592000,
    "payment": {"chainId": "1337", "tokenAddress": "0x9c3C9283D3e44854697Cd22D3Faa240Cfb032889"},
    "userAddress": "0xCC866199C810B216710A3F3714d35920C343a8CD"}))]
pub struct QuoteRequest {
    /// The storage `type`, as listed by `GET /`.
    #[serde(rename = "type")]
    pub kind: String,
    pub files: Vec<QuoteFile>,
    /// Seconds to keep the files.
    pub duration: WholeNumber,
    /// Chain and token: a priced storage refuses ones it does not accept; a free one takes any.
    pub payment: Option<QuotePayment>,
    #[serde(rename = "userAddress")]
    pub user_address: String,
}

/// One file to be uploaded: its exact length in bytes.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct QuoteFile {
    pub length: WholeNumber,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct QuotePayment {
    #[serde(rename = "chainId")]
    pub chain_id: WholeNumber,
    #[serde(rename = "tokenAddress")]
    pub token_address: String,
}

/// A quote: approve `approveAddress` for `tokenAmount` of the token, then upload.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"quoteId": "892241ee5c9d4e4b8d1f0a3c6b7e2d10", "tokenAmount": "16746036207",
    "approveAddress": "0xAFcE3B5dC3C6a1F0a3b2E0C1f6e2C6aD8B1f0E21", "chainId": "1337",
    "tokenAddress": "0x9c3C9283D3e44854697Cd22D3Faa240Cfb032889"}))]
pub struct Quote {
    #[serde(rename = "quoteId")]
    pub quote_id: String,
    /// Token units as a decimal string (amounts exceed 2^53).
    #[serde(rename = "tokenAmount")]
    pub token_amount: String,
    #[serde(rename = "approveAddress")]
    pub approve_address: String,
    /// Echoed with the request's own JSON type.
    #[serde(rename = "chainId")]
    pub chain_id: WholeNumber,
    #[serde(rename = "tokenAddress")]
    pub token_address: String,
}

/// A quote's status: 1 waiting for files, 100-199 paying, 200-299 payment failed, 300-399
/// storing, 400 done, 401-499 storing failed.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"status": 400}))]
pub struct QuoteStatus {
    pub status: i32,
}

/// `POST /register`: a storage microservice announces itself, signed over its `url`.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"type": "arweave", "description": "File storage on Arweave", "url": "http://host:8081/",
    "payment": [{"chainId": 80001, "acceptedTokens": [{"WMATIC": "0x9c3C9283D3e44854697Cd22D3Faa240Cfb032889"}]}],
    "signature": "0x…"}))]
pub struct Registration {
    /// Letters, digits, `-` and `_`, at most 64.
    #[serde(rename = "type")]
    pub kind: String,
    pub description: Option<String>,
    pub url: String,
    pub payment: Option<Vec<RegistrationPayment>>,
    /// EIP-191 `personal_sign` of the `url` string by `dbs.registration_signer`.
    pub signature: String,
}

#[derive(ToSchema, Serialize, Deserialize)]
pub struct RegistrationPayment {
    #[serde(rename = "chainId")]
    pub chain_id: WholeNumber,
    /// `{"SYMBOL": "0x…"}` objects (or the `{"title", "value"}` form of `GET /`).
    #[serde(rename = "acceptedTokens")]
    pub accepted_tokens: Option<Vec<std::collections::HashMap<String, String>>>,
}

/// Where a stored file is: `cid` for IPFS, `transactionHash` for Arweave, `CID` and `dealIDs`
/// for Filecoin microservices.
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"type": "ipfs", "cid": "bafkreidivzimqfqtoqxkrpge6bjyhlvxqs3rhe73owtmdulaxr5do5in7u"}))]
pub struct StorageLink {
    #[serde(rename = "type")]
    pub kind: String,
    pub cid: Option<String>,
    #[serde(rename = "CID")]
    pub filecoin_cid: Option<String>,
    #[serde(rename = "dealIDs")]
    pub deal_ids: Option<Vec<String>>,
    #[serde(rename = "transactionHash")]
    pub transaction_hash: Option<String>,
}

/// A page of a user's uploads for one storage (a microservice's own page is passed through).
#[derive(ToSchema, Serialize, Deserialize)]
pub struct History {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "maxPages")]
    pub max_pages: u64,
    pub data: Vec<HistoryRow>,
}

/// One uploaded file and its quote.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct HistoryRow {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "quoteId")]
    pub quote_id: String,
    /// Unix milliseconds.
    pub created: i64,
    #[serde(rename = "userAddress")]
    pub user_address: String,
    pub status: i32,
    #[serde(rename = "chainId")]
    pub chain_id: u64,
    #[serde(rename = "tokenAddress")]
    pub token_address: String,
    #[serde(rename = "tokenAmount")]
    pub token_amount: String,
    #[serde(rename = "approveAddress")]
    pub approve_address: String,
    pub cid: Option<String>,
}

/// The files of an upload, one per form field; field names are free (uploader.js sends
/// `file1`, `file2`, …) and each file must have exactly its quoted length.
#[derive(ToSchema, Serialize, Deserialize)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    pub file1: Vec<u8>,
}

/// Django REST framework's refusals: a wrong method (405) or content type (415).
#[derive(ToSchema, Serialize, Deserialize)]
#[schema(example = json!({"detail": "Method \"GET\" not allowed."}))]
pub struct DbsDetail {
    pub detail: String,
}

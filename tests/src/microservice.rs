//! A test double of a legacy storage microservice (uploader_arweave / dbs_ipfs, the protocol
//! of shared/reference/dbs-uploader.md §6.3-6.4), for the `microservice` backend. It validates,
//! signs off and answers exactly as those services do on the wire; in place of Arweave it keeps
//! the bytes it fetched by CID from the configured IPFS gateway and names each one by a 43-char
//! id derived from them. It does not pull payment on a chain.
use std::{
    collections::HashMap,
    str::FromStr,
    sync::{Arc, Mutex},
};

use alloy_primitives::Address;
use axum::{
    Json, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::wallet::Wallet;

#[derive(Debug, Clone)]
pub struct DoubleQuote {
    pub user: Address,
    pub status: i64,
    pub created: i64,
    pub chain_id: u64,
    pub token_address: String,
    pub token_amount: String,
    pub lengths: Vec<u64>,
    /// One per file once stored: the id the "chain" gave it.
    pub transaction_hashes: Vec<String>,
}

#[derive(Default)]
pub struct DoubleState {
    pub quotes: HashMap<String, DoubleQuote>,
    nonces: HashMap<Address, f64>,
    /// Upload requests accepted (status 1 -> 300), to check nothing is sent twice.
    pub uploads_accepted: usize,
    /// Upload requests seen at all.
    pub upload_calls: usize,
    /// `{gateway}{cid}` is where files are fetched from.
    pub gateway: String,
}

#[derive(Clone)]
pub struct StorageDouble {
    pub kind: String,
    pub url: String,
    pub approve_address: Address,
    pub token: Address,
    pub state: Arc<Mutex<DoubleState>>,
    http: reqwest::Client,
}

impl StorageDouble {
    /// Serves a double of the `kind` storage service on a free port, accepting `token`.
    pub async fn start(kind: &str, token: Address) -> StorageDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!("http://{}/", listener.local_addr().expect("bound address"));
        let double = StorageDouble {
            kind: kind.to_string(),
            url,
            approve_address: Wallet::new().address(),
            token,
            state: Arc::default(),
            http: reqwest::Client::new(),
        };
        let router = Router::new()
            .route("/getQuote", post(get_quote))
            .route("/upload", post(upload))
            .route("/upload/", post(upload))
            .route("/getStatus", get(get_status))
            .route("/getLink", get(get_link))
            .route("/getHistory", get(get_history))
            .with_state(double.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        double
    }

    pub fn set_gateway(&self, gateway: &str) {
        self.lock().gateway = gateway.to_string();
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, DoubleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers with a DBS backend as the real services do: the url, signed by `signer`.
    pub async fn register(&self, dbs: &str, signer: &Wallet) -> (u16, Value) {
        let body = json!({
            "type": self.kind,
            "description": format!("File storage on {}", self.kind),
            "url": self.url,
            "payment": [{"chainId": 1337, "acceptedTokens": [{"OCEAN": self.token.to_checksum(None)}]}],
            "signature": signer.personal_sign(self.url.as_bytes()),
        });
        let response = self
            .http
            .post(format!("{dbs}/register"))
            .json(&body)
            .send()
            .await
            .expect("register request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "message": text }))).into_response()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn get_quote(State(double): State<StorageDouble>, Json(body): Json<Value>) -> Response {
    let bad = |t: &str| message(StatusCode::BAD_REQUEST, t);
    match body.get("type").and_then(Value::as_str) {
        None => return bad("Missing type."),
        Some(t) if t != double.kind => return bad("Invalid type."),
        Some(_) => {}
    }
    let Some(user) = body
        .get("userAddress")
        .and_then(Value::as_str)
        .and_then(|a| Address::from_str(a).ok())
    else {
        return bad("Invalid userAddress.");
    };
    let Some(files) = body.get("files").and_then(Value::as_array) else {
        return bad("Missing files field.");
    };
    if files.is_empty() {
        return bad("Empty files field.");
    }
    if files.len() > 64 {
        return bad("Too many files. Max 64.");
    }
    let mut lengths = Vec::new();
    for file in files {
        let length = match file.get("length") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        match length {
            Some(0) => return bad("Files length too small."),
            Some(l) => lengths.push(l),
            None => return bad("Invalid files length."),
        }
    }
    let payment = body.get("payment").cloned().unwrap_or(Value::Null);
    let chain_id = match payment.get("chainId") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let Some(chain_id) = chain_id.filter(|c| *c > 0) else {
        return bad("Invalid chainId.");
    };
    let token = payment.get("tokenAddress").and_then(Value::as_str);
    if token.and_then(|t| Address::from_str(t).ok()) != Some(double.token) {
        return bad("Payment token not accepted.");
    }
    let quote_id = uuid::Uuid::new_v4().simple().to_string();
    let total: u64 = lengths.iter().sum();
    let amount = (u128::from(total) * 1_000_000_000_000u128).to_string();
    double.lock().quotes.insert(
        quote_id.clone(),
        DoubleQuote {
            user,
            status: 1,
            created: now_ms(),
            chain_id,
            token_address: format!("{:#x}", double.token),
            token_amount: amount.clone(),
            lengths,
            transaction_hashes: Vec::new(),
        },
    );
    Json(json!({
        "quoteId": quote_id,
        "chainId": chain_id,
        "tokenAddress": format!("{:#x}", double.token),
        "tokenAmount": amount,
        "approveAddress": double.approve_address.to_checksum(None),
    }))
    .into_response()
}

/// The services' check: the quote's user signed `sha256(quoteId + nonce)` with a nonce above
/// the last one it used here.
fn check_signature(
    state: &mut DoubleState,
    user: &Address,
    quote_id: &str,
    nonce: &str,
    signature: &str,
) -> Result<(), &'static str> {
    let text = format!(
        "0x{}",
        hex::encode(Sha256::digest(format!("{quote_id}{nonce}").as_bytes()))
    );
    let recovered = alloy_primitives::Signature::from_str(signature)
        .ok()
        .and_then(|s| s.recover_address_from_msg(text.as_bytes()).ok());
    if recovered != Some(*user) {
        return Err("Invalid signature.");
    }
    let nonce: f64 = nonce.parse().map_err(|_| "Invalid nonce.")?;
    let last = state.nonces.get(user).copied().unwrap_or(0.0);
    if nonce <= last {
        return Err("Invalid nonce.");
    }
    state.nonces.insert(*user, nonce);
    Ok(())
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn upload(State(double): State<StorageDouble>, Json(body): Json<Value>) -> Response {
    let bad = |t: &str| message(StatusCode::BAD_REQUEST, t);
    double.lock().upload_calls += 1;
    let Some(quote_id) = body.get("quoteId").and_then(Value::as_str) else {
        return bad("Missing quoteId.");
    };
    let files = match body.get("files") {
        Some(Value::Array(files)) if !files.is_empty() && files.len() <= 64 => files.clone(),
        _ => return bad("Invalid files field."),
    };
    let mut cids = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let Some(uri) = file.get("ipfs_uri").and_then(Value::as_str) else {
            return bad(&format!("Invalid files field on index {i}."));
        };
        let Some(cid) = uri.strip_prefix("ipfs://") else {
            return bad(&format!(
                "Invalid protocol on index {i}. Must be ipfs://<CID>"
            ));
        };
        if cid::Cid::try_from(cid).is_err() {
            return bad(&format!("Invalid CID on index {i}."));
        }
        cids.push(cid.to_string());
    }
    let (Some(nonce), Some(signature)) = (
        body.get("nonce").and_then(text_of),
        body.get("signature").and_then(Value::as_str),
    ) else {
        return bad("Missing nonce or signature.");
    };
    let gateway = {
        let mut state = double.lock();
        let Some(quote) = state.quotes.get(quote_id).cloned() else {
            return message(StatusCode::NOT_FOUND, "Quote not found.");
        };
        if let Err(refused) = check_signature(&mut state, &quote.user, quote_id, &nonce, signature)
        {
            return message(StatusCode::FORBIDDEN, refused);
        }
        match quote.status {
            1 => {}
            400 => return bad("Quote has been completed."),
            _ => return bad("Quote is being processed."),
        }
        if let Some(q) = state.quotes.get_mut(quote_id) {
            q.status = 300;
        }
        state.uploads_accepted += 1;
        state.gateway.clone()
    };
    // As the real services do: answer at once, store in the background.
    let id = quote_id.to_string();
    tokio::spawn(async move {
        let mut hashes = Vec::new();
        let mut outcome = 400;
        let lengths = double
            .lock()
            .quotes
            .get(&id)
            .map(|q| q.lengths.clone())
            .unwrap_or_default();
        for (i, cid) in cids.iter().enumerate() {
            let fetched = match double.http.get(format!("{gateway}{cid}")).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.ok(),
                _ => None,
            };
            let Some(bytes) = fetched else {
                outcome = 403;
                break;
            };
            if lengths.get(i).is_some_and(|l| bytes.len() as u64 > *l) {
                outcome = 402;
                break;
            }
            hashes.push(
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&bytes)),
            );
        }
        let mut state = double.lock();
        if let Some(q) = state.quotes.get_mut(&id) {
            q.status = outcome;
            q.transaction_hashes = hashes;
        }
    });
    (StatusCode::OK, "").into_response()
}

async fn get_status(
    State(double): State<StorageDouble>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(id) = query.get("quoteId") else {
        return message(StatusCode::BAD_REQUEST, "Error, quoteId required.");
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return message(StatusCode::BAD_REQUEST, "Invalid quoteId format.");
    }
    match double.lock().quotes.get(id) {
        Some(q) => Json(json!({ "status": q.status })).into_response(),
        None => message(StatusCode::NOT_FOUND, "Quote not found."),
    }
}

async fn get_link(
    State(double): State<StorageDouble>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (Some(id), Some(nonce), Some(signature)) = (
        query.get("quoteId"),
        query.get("nonce"),
        query.get("signature"),
    ) else {
        return message(StatusCode::BAD_REQUEST, "Missing query parameters.");
    };
    let mut state = double.lock();
    let Some(quote) = state.quotes.get(id).cloned() else {
        return message(StatusCode::NOT_FOUND, "Quote not found.");
    };
    if quote.status != 400 {
        return message(StatusCode::BAD_REQUEST, "Upload not completed yet.");
    }
    if let Err(refused) = check_signature(&mut state, &quote.user, id, nonce, signature) {
        return message(StatusCode::FORBIDDEN, refused);
    }
    let links: Vec<Value> = quote
        .transaction_hashes
        .iter()
        .map(|h| json!({"type": double.kind, "transactionHash": h}))
        .collect();
    Json(Value::Array(links)).into_response()
}

async fn get_history(
    State(double): State<StorageDouble>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (Some(user), Some(nonce), Some(signature)) = (
        query
            .get("userAddress")
            .and_then(|a| Address::from_str(a).ok()),
        query.get("nonce"),
        query.get("signature"),
    ) else {
        return message(StatusCode::BAD_REQUEST, "Missing query parameters.");
    };
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let page_size: usize = query
        .get("pageSize")
        .and_then(|p| p.parse().ok())
        .unwrap_or(25)
        .max(1);
    let mut state = double.lock();
    if let Err(refused) = check_signature(&mut state, &user, "", nonce, signature) {
        return message(StatusCode::FORBIDDEN, refused);
    }
    let mut rows: Vec<(String, DoubleQuote)> = state
        .quotes
        .iter()
        .filter(|(_, q)| q.user == user && q.status != 1)
        .map(|(id, q)| (id.clone(), q.clone()))
        .collect();
    rows.sort_by_key(|(_, q)| std::cmp::Reverse(q.created));
    let max_pages = rows.len().div_ceil(page_size);
    let data: Vec<Value> = rows
        .into_iter()
        .skip(page.saturating_sub(1) * page_size)
        .take(page_size)
        .map(|(id, q)| {
            json!({"type": double.kind, "quoteId": id, "created": q.created,
                "userAddress": q.user.to_checksum(None), "status": q.status, "chainId": q.chain_id,
                "tokenAddress": q.token_address, "tokenAmount": q.token_amount,
                "approveAddress": double.approve_address.to_checksum(None),
                "transactionHash": q.transaction_hashes.first()})
        })
        .collect();
    Json(json!({"type": double.kind, "maxPages": max_pages, "data": data})).into_response()
}

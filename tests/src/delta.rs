//! A test double of the Delta deal engine (shared/reference/delta-dm.md §9.2): Bearer auth,
//! `POST /api/v1/deal/imports` validated as Delta does (one invalid element fails the whole
//! batch with HTTP 500), `POST /api/v1/stats/contents`, and wallet registration. Tests set
//! the state each content reports.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use sha2::Digest;

pub const TOKEN: &str = "delta-test-token";
/// The instance id the double reports at `/open/node/uuids`.
pub const INSTANCE_UUID: &str = "5c3b2f7e-9d1a-4e0b-8f6c-2a7d9e4b1c30";

#[derive(Debug, Clone, Default)]
pub struct DeltaContent {
    pub request: Value,
    pub status: String,
    pub last_message: String,
    pub prop_cid: String,
    pub deal_uuid: String,
    pub deal_id: i64,
}

#[derive(Default)]
pub struct DeltaState {
    pub contents: HashMap<i64, DeltaContent>,
    next_id: i64,
    /// Batches received by `deal/imports`, accepted or not.
    pub batches: Vec<Value>,
    pub wallets: Vec<String>,
    /// When set, every import batch is refused with this message.
    pub refuse_all: Option<String>,
}

#[derive(Clone)]
pub struct DeltaDouble {
    pub url: String,
    pub state: Arc<Mutex<DeltaState>>,
}

impl DeltaDouble {
    pub async fn start() -> DeltaDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("bound address"));
        let double = DeltaDouble {
            url,
            state: Arc::default(),
        };
        let router = Router::new()
            .route("/api/v1/deal/imports", post(imports))
            .route("/api/v1/stats/contents", post(stats))
            .route("/admin/wallet/register", post(register))
            .route(
                "/open/node/info",
                axum::routing::get(|| async {
                    Json(json!({"name": "delta-double", "description": "", "type": "delta", "commit": "d0ub1e", "version": "v1.0.5"}))
                }),
            )
            .route("/admin/wallet/register-hex", post(register))
            .route(
                "/open/node/uuids",
                axum::routing::get(|| async {
                    Json(json!([{"id": 1, "instance_uuid": INSTANCE_UUID, "created_at": "2023-09-02T00:00:00Z"}]))
                }),
            )
            .with_state(double.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        double
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, DeltaState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets what a content reports from now on.
    pub fn set(&self, content_id: i64, status: &str, message: &str, deal_id: i64) {
        let mut state = self.lock();
        if let Some(c) = state.contents.get_mut(&content_id) {
            c.status = status.into();
            c.last_message = message.into();
            c.deal_id = deal_id;
            if c.prop_cid.is_empty() {
                c.prop_cid = format!("bafyreiprop{content_id}");
                c.deal_uuid = uuid::Uuid::new_v4().to_string();
            }
        }
    }
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"))
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "unauthorized"})),
    )
        .into_response()
}

/// Delta's `ValidateMeta` for import deals (shared/reference/delta-dm.md §9.2), and the
/// piece sizes the market requires.
fn validate(deal: &Value) -> Result<(), String> {
    let days = |k: &str| deal.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (start, duration) = (days("start_epoch_in_days"), days("duration_in_days"));
    if start > 14 {
        return Err("start_epoch_in_days must be at most 14".into());
    }
    if duration > 540 {
        return Err("duration_in_days must be at most 540".into());
    }
    if start > duration {
        return Err("start_epoch_in_days must not exceed duration_in_days".into());
    }
    if (start == 0) != (duration == 0) {
        return Err("start_epoch_in_days and duration_in_days go together".into());
    }
    if deal
        .get("label")
        .and_then(Value::as_str)
        .is_some_and(|l| l.chars().count() > 100)
    {
        return Err("label must be at most 100 characters".into());
    }
    if deal.get("replication").and_then(Value::as_i64).unwrap_or(0) != 0 {
        return Err("replication is not supported for import deals".into());
    }
    match deal.get("connection_mode").and_then(Value::as_str) {
        None | Some("") | Some("e2e") | Some("import") => {}
        Some(other) => return Err(format!("connection_mode {other} is not valid")),
    }
    if deal.get("deal_verify_state").and_then(Value::as_str) == Some("unverified")
        && deal
            .get("unverified_deal_max_price")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err("unverified deals need unverified_deal_max_price".into());
    }
    for key in ["cid", "miner"] {
        if deal
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("{key} is required"));
        }
    }
    let piece = &deal["piece_commitment"];
    if piece["piece_cid"].as_str().is_none_or(str::is_empty) {
        return Err("piece_commitment.piece_cid is required".into());
    }
    let padded = piece["padded_piece_size"].as_u64().unwrap_or(0);
    if padded < 128 || !padded.is_power_of_two() {
        return Err(format!(
            "padded_piece_size {padded} is not a power of two of at least 128"
        ));
    }
    let size = deal.get("size").and_then(Value::as_u64).unwrap_or(0);
    if size == 0 || size > padded - padded / 128 {
        return Err(format!(
            "size {size} does not fit a piece of {padded} padded bytes"
        ));
    }
    if deal["wallet"]["address"].as_str().is_none_or(str::is_empty) {
        return Err("Wallet not found".into());
    }
    Ok(())
}

async fn imports(
    State(double): State<DeltaDouble>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&headers) {
        return unauthorised();
    }
    let mut state = double.lock();
    state.batches.push(body.clone());
    if let Some(message) = state.refuse_all.clone() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"message": message})),
        )
            .into_response();
    }
    let Some(deals) = body.as_array() else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "expected an array"})),
        )
            .into_response();
    };
    // One invalid element fails the whole batch.
    for deal in deals {
        if let Err(message) = validate(deal) {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"message": message})),
            )
                .into_response();
        }
        let wallet = deal["wallet"]["address"].as_str().unwrap_or_default();
        if !state.wallets.iter().any(|w| w == wallet) {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"message": format!("Wallet not found: {wallet}")})),
            )
                .into_response();
        }
    }
    let mut reply = Vec::new();
    for deal in deals {
        state.next_id += 1;
        let id = state.next_id;
        state.contents.insert(
            id,
            DeltaContent {
                request: deal.clone(),
                status: "making-deal-proposal".into(),
                ..Default::default()
            },
        );
        reply.push(json!({
            "status": "success",
            "message": "File import request successful",
            "content_id": id,
            "deal_request_meta": deal,
            "deal_proposal_parameter_request_meta": {},
        }));
    }
    Json(Value::Array(reply)).into_response()
}

async fn stats(
    State(double): State<DeltaDouble>,
    headers: HeaderMap,
    Json(ids): Json<Vec<i64>>,
) -> Response {
    if !authorised(&headers) {
        return unauthorised();
    }
    let state = double.lock();
    let items: Vec<Value> = ids
        .iter()
        .filter_map(|id| state.contents.get(id).map(|c| (id, c)))
        .map(|(id, c)| {
            let deals = if c.prop_cid.is_empty() {
                json!([])
            } else {
                json!([{"ID": id, "propCid": c.prop_cid, "dealUuid": c.deal_uuid, "dealId": c.deal_id,
                        "miner": c.request["miner"]}])
            };
            json!({
                "content": {"ID": id, "status": c.status, "last_message": c.last_message,
                            "cid": c.request["cid"], "connection_mode": "import"},
                "deals": deals,
                "piece_commitments": [{"piece": c.request["piece_commitment"]["piece_cid"]}],
                "deal_proposals": [],
                "deal_proposal_parameters": [],
            })
        })
        .collect();
    Json(Value::Array(items)).into_response()
}

async fn register(
    State(double): State<DeltaDouble>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorised(&headers) {
        return unauthorised();
    }
    let material = body
        .get("private_key")
        .or_else(|| body.get("hex_key"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if material.is_empty() {
        return (StatusCode::BAD_REQUEST, Json(json!({"message": "no key"}))).into_response();
    }
    // A stable address per key, like a real derivation.
    let digest = sha2::Sha256::digest(material.as_bytes());
    let address: String = format!(
        "f1{}",
        digest
            .iter()
            .map(|b| (b'a' + b % 26) as char)
            .take(39)
            .collect::<String>()
    );
    let mut state = double.lock();
    if state.wallets.contains(&address) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": format!("wallet {address} already exists in delta")})),
        )
            .into_response();
    }
    state.wallets.push(address.clone());
    Json(json!({"message": "Successfully imported a wallet address.", "wallet_addr": address, "wallet_uuid": uuid::Uuid::new_v4().to_string()})).into_response()
}

//! `POST|GET /api/v1/wallets`, `DELETE /api/v1/wallets/{wallet}`,
//! `POST /api/v1/wallets/associate`. Keys go to the deal engine and are not kept.
use std::collections::HashMap;

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, Query, State},
    routing::{delete, get, post},
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use wharf_core::filecoin::{engine::EngineError, wallets};

use super::{ApiError, parse};
use crate::{rest::legacy_body::read_json, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/wallets", get(list).post(add))
        .route("/api/v1/wallets/associate", post(associate))
        .route("/api/v1/wallets/{wallet}", delete(remove))
}

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Refused { message, .. } => {
            ApiError::bad(format!("the deal engine refused the wallet: {message}"))
        }
        other => {
            tracing::warn!(error = %other, "deal engine unavailable");
            ApiError(StatusCode::BAD_GATEWAY, other.to_string())
        }
    }
}

#[derive(Deserialize)]
struct LotusKey {
    #[serde(rename = "Type")]
    key_type: Option<String>,
    #[serde(rename = "PrivateKey")]
    private_key: Option<String>,
    hex_key: Option<String>,
}

async fn add(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let engine = app.services.deal_engine.clone().ok_or_else(|| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "no deal engine is configured (filecoin.deal_engine_url)".into(),
        )
    })?;
    let key: LotusKey = parse(read_json(body, 64 * 1024).await?)?;
    let hex = query.get("hex").is_some_and(|v| v == "true");
    let (address, key_type) = if hex {
        let hex_key = key
            .hex_key
            .filter(|h| {
                !h.is_empty() && h.len() <= 4096 && h.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .ok_or_else(|| ApiError::bad("hex_key must be the hex of a lotus wallet export"))?;
        (
            engine
                .register_wallet_hex(&hex_key)
                .await
                .map_err(engine_error)?,
            "hex".to_string(),
        )
    } else {
        let key_type = key
            .key_type
            .filter(|t| t == "secp256k1" || t == "bls")
            .ok_or_else(|| ApiError::bad("Type must be secp256k1 or bls"))?;
        let private_key = key
            .private_key
            .filter(|k| !k.is_empty() && k.len() <= 4096)
            .ok_or_else(|| ApiError::bad("PrivateKey (base64) is required"))?;
        (
            engine
                .register_wallet(&key_type, &private_key)
                .await
                .map_err(engine_error)?,
            key_type,
        )
    };
    let wallet = wallets::add(&app.services.db, &address, &key_type).await?;
    Ok(Json(json!({
        "address": wallet.addr,
        "datasets": null,
        "balance": {"balance_filecoin": 0, "balance_datacap": 0},
    })))
}

async fn list(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let dataset = match query.get("dataset").filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(
            d.parse::<i32>()
                .map_err(|_| ApiError::bad(format!("dataset {d:?} is not a number")))?,
        ),
    };
    let list = wallets::list(&app.services.db, dataset).await?;
    Ok(Json(Value::Array(
        list.iter()
            .map(|(w, ids)| {
                json!({
                    "address": w.addr,
                    "type": w.key_type,
                    "datasets": ids.iter().map(|id| json!({"ID": id})).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )))
}

async fn remove(
    State(app): State<AppState>,
    Path(address): Path<String>,
) -> Result<Json<Value>, ApiError> {
    wallets::delete(&app.services.db, &address).await?;
    Ok(Json(Value::from("wallet successfully deleted")))
}

#[derive(Deserialize)]
struct Association {
    address: String,
    datasets: Vec<i32>,
}

async fn associate(State(app): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    let a: Association = parse(read_json(body, 64 * 1024).await?)?;
    wallets::associate(&app.services.db, &a.address, &a.datasets).await?;
    Ok(Json(Value::from(
        "successfully associated wallet with datasets",
    )))
}

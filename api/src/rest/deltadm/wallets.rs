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
use wharf_core::filecoin::{
    engine::EngineError,
    wallets::{self, RegisterError, WalletKey},
};

use super::{ApiError, parse};
use crate::{rest::legacy_body::read_json, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/wallets", get(list).post(add))
        .route("/api/v1/wallets/associate", post(associate))
        .route("/api/v1/wallets/{wallet}", delete(remove))
}

fn register_error(e: RegisterError) -> ApiError {
    match e {
        RegisterError::Invalid(t) => ApiError::bad(t),
        RegisterError::Engine(EngineError::Refused { message, .. }) => {
            ApiError::bad(format!("the deal engine refused the wallet: {message}"))
        }
        RegisterError::Engine(other) => {
            tracing::warn!(error = %other, "deal engine unavailable");
            ApiError(StatusCode::BAD_GATEWAY, other.to_string())
        }
        RegisterError::Dataset(d) => d.into(),
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
    let key = if query.get("hex").is_some_and(|v| v == "true") {
        WalletKey::Hex(key.hex_key.unwrap_or_default())
    } else {
        WalletKey::Typed {
            key_type: key.key_type.unwrap_or_default(),
            private_key: key.private_key.unwrap_or_default(),
        }
    };
    let wallet = wallets::register(engine.as_ref(), &app.services.db, key)
        .await
        .map_err(register_error)?;
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

//! `POST|GET /api/v1/wallets`, `DELETE /api/v1/wallets/{wallet}`,
//! `POST /api/v1/wallets/associate`. Keys go to the deal engine and are not kept.
use std::collections::HashMap;

use axum::{
    Json,
    body::Body,
    extract::{Path, Query, State},
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_core::filecoin::{
    engine::EngineError,
    wallets::{self, RegisterError, WalletKey},
};

use super::{ApiError, parse, schema};
use crate::{rest::legacy_body::read_json, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(associate))
        .routes(routes!(remove))
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

/// Registers a wallet with the deal engine
///
/// A lotus key `{"Type", "PrivateKey"}`, or with `?hex=true` `{"hex_key"}`. The key is handed to
/// the deal engine and not kept.
#[utoipa::path(
    post,
    path = "/api/v1/wallets",
    operation_id = "addWallet",
    tag = "delta-dm",
    security(("operator" = [])),
    params(("hex" = Option<bool>, Query, description = "`true`: the body is `{\"hex_key\"}`")),
    request_body = schema::WalletKey,
    responses(
        (status = 200, description = "The wallet", body = schema::AddedWallet),
        (status = 400, description = "A key that cannot be read, or one the deal engine refused", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 409, description = "The wallet exists already", body = schema::DeltaDmError),
        (status = 502, description = "The deal engine did not answer", body = schema::DeltaDmError),
        (status = 503, description = "No deal engine is configured", body = schema::DeltaDmError),
    )
)]
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

/// The wallets
#[utoipa::path(
    get,
    path = "/api/v1/wallets",
    operation_id = "listWallets",
    tag = "delta-dm",
    security(("operator" = [])),
    params(("dataset" = Option<i32>, Query, description = "Only the wallets of this dataset `ID`")),
    responses(
        (status = 200, description = "The wallets and their datasets", body = Vec<schema::Wallet>),
        (status = 400, description = "`dataset` is not a number", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
    )
)]
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

/// Deletes a wallet
#[utoipa::path(
    delete,
    path = "/api/v1/wallets/{wallet}",
    operation_id = "deleteWallet",
    tag = "delta-dm",
    security(("operator" = [])),
    params(("wallet" = String, Path, description = "The wallet's address")),
    responses(
        (status = 200, description = "A bare string", body = schema::DeltaDmMessage,
            example = json!("wallet successfully deleted")),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 404, description = "No such wallet", body = schema::DeltaDmError),
    )
)]
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

/// Sets the datasets a wallet makes deals for
///
/// Replaces the wallet's previous set.
#[utoipa::path(
    post,
    path = "/api/v1/wallets/associate",
    operation_id = "associateWallet",
    tag = "delta-dm",
    security(("operator" = [])),
    request_body = schema::Association,
    responses(
        (status = 200, description = "A bare string", body = schema::DeltaDmMessage,
            example = json!("successfully associated wallet with datasets")),
        (status = 400, description = "A field is missing", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 404, description = "No such wallet or dataset", body = schema::DeltaDmError),
    )
)]
async fn associate(State(app): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    let a: Association = parse(read_json(body, 64 * 1024).await?)?;
    wallets::associate(&app.services.db, &a.address, &a.datasets).await?;
    Ok(Json(Value::from(
        "successfully associated wallet with datasets",
    )))
}

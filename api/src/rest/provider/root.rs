//! `GET /provider` (root info: chains, addresses, the endpoints ocean.js reads) and
//! `GET /provider/api/services/nonce`.
use std::{collections::HashMap, str::FromStr};

use axum::extract::{Query, State};
use http::StatusCode;
use serde_json::{Map, Value, json};
use wharf_core::auth::Address;

use super::{Reply, error, params, provider_error, require, schema, text};
use crate::state::AppState;

/// The endpoints this provider serves, by the names ocean.js looks up, relative to the
/// provider URL.
const ENDPOINTS: [(&str, &str, &str); 14] = [
    ("computeDelete", "DELETE", "/api/services/compute"),
    (
        "computeEnvironments",
        "GET",
        "/api/services/computeEnvironments",
    ),
    ("computeResult", "GET", "/api/services/computeResult"),
    ("computeStart", "POST", "/api/services/compute"),
    ("computeStatus", "GET", "/api/services/compute"),
    ("computeStop", "PUT", "/api/services/compute"),
    ("decrypt", "POST", "/api/services/decrypt"),
    ("download", "GET", "/api/services/download"),
    ("encrypt", "POST", "/api/services/encrypt"),
    ("fileinfo", "POST", "/api/services/fileinfo"),
    ("initialize", "GET", "/api/services/initialize"),
    (
        "initializeCompute",
        "POST",
        "/api/services/initializeCompute",
    ),
    ("nonce", "GET", "/api/services/nonce"),
    (
        "validateContainer",
        "POST",
        "/api/services/validateContainer",
    ),
];

fn info(app: &AppState) -> Value {
    let chains = app.services.provider.chains();
    let addresses: Map<String, Value> = chains
        .iter()
        .map(|(id, address)| (id.to_string(), json!(address.to_checksum(None))))
        .collect();
    let endpoints: Map<String, Value> = ENDPOINTS
        .iter()
        .map(|(name, method, path)| ((*name).to_string(), json!([method, path])))
        .collect();
    json!({
        "chainIds": chains.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        "providerAddresses": addresses,
        "serviceEndpoints": endpoints,
        "software": "Provider",
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// The provider's chains, addresses and endpoints
#[utoipa::path(
    get,
    path = "/provider",
    operation_id = "providerRoot",
    tag = "provider",
    responses((status = 200, description = "Chains, provider addresses and service endpoints", body = schema::Root))
)]
pub async fn root(State(app): State<AppState>) -> Reply {
    Reply(StatusCode::OK, info(&app))
}

/// The same root info, with the trailing slash clients also use
#[utoipa::path(
    get,
    path = "/provider/",
    operation_id = "providerRootSlash",
    tag = "provider",
    responses((status = 200, description = "Chains, provider addresses and service endpoints", body = schema::Root))
)]
pub async fn root_slash(State(app): State<AppState>) -> Reply {
    Reply(StatusCode::OK, info(&app))
}

/// The last nonce an address used
///
/// `{"nonce": "<decimal>"}` as a string ("0" before any); the next signed request must use a
/// greater one (ocean.js sends this + 1).
#[utoipa::path(
    get,
    path = "/provider/api/services/nonce",
    operation_id = "providerNonce",
    tag = "provider",
    params(("userAddress" = String, Query, description = "The consumer's address")),
    responses(
        (status = 200, description = "The nonce", body = schema::NonceAnswer),
        (status = 400, description = "Validation error or an address that is not one"),
    )
)]
pub async fn nonce(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Reply, Reply> {
    let params = params(query, None);
    require(&params, &["userAddress"])?;
    let text = text(&params, "userAddress").unwrap_or_default();
    let address = Address::from_str(&text)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "userAddress is not an address."))?;
    let nonce = app
        .services
        .provider
        .nonce(&address)
        .await
        .map_err(provider_error)?;
    Ok(Reply(StatusCode::OK, json!({ "nonce": nonce })))
}

//! `GET /api/aquarius/assets/ddo/{did}`: the DDOs of wharf's own registry, where an Aquarius
//! serves them, so a marketplace can point its metadata cache at wharf alone.
use axum::extract::{Path, State};
use http::StatusCode;

use super::{Reply, error, provider_error, schema};
use crate::state::AppState;

/// A DDO of wharf's asset registry
#[utoipa::path(
    get,
    path = "/api/aquarius/assets/ddo/{did}",
    operation_id = "aquariusDdo",
    tag = "provider",
    params(("did" = String, Path, description = "did:op:…")),
    responses(
        (status = 200, description = "The DDO as published", body = serde_json::Value),
        (status = 404, description = "Not in the registry", body = schema::Error),
    )
)]
pub async fn ddo(State(app): State<AppState>, Path(did): Path<String>) -> Result<Reply, Reply> {
    match app
        .services
        .provider
        .assets
        .own(&did)
        .await
        .map_err(|e| provider_error(e.into()))?
    {
        Some(document) => Ok(Reply(StatusCode::OK, document)),
        None => Err(error(
            StatusCode::NOT_FOUND,
            "Asset not found in this registry.",
        )),
    }
}

//! `GET /compute/jobs/{id}/results/{index}`: a compute job's result for its owner, with the
//! bearer token of a GraphQL session (the result links of `computeJob`). The Provider route
//! `computeResult` serves the same files to signed requests.
use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use wharf_core::{auth::Principal, compute::ComputeError};

use crate::state::AppState;

fn refused(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// A result of one of the signed-in wallet's compute jobs
#[utoipa::path(
    get,
    path = "/compute/jobs/{id}/results/{index}",
    operation_id = "computeJobResult",
    tag = "compute",
    params(
        ("id" = String, Path, description = "The job id"),
        ("index" = usize, Path, description = "Outputs first, then the log"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 401, description = "No session, or an expired one"),
        (status = 404, description = "No such job of this wallet, or no such result"),
    )
)]
pub async fn result(
    State(app): State<AppState>,
    Path((id, index)): Path<(String, usize)>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let owner = match crate::graphql::http::resolve_caller(&app.services, authorization).await {
        Ok(Some(Principal::Wallet(address))) => address,
        Ok(_) => {
            return refused(
                StatusCode::UNAUTHORIZED,
                "send a wallet session's token as a bearer token",
            );
        }
        Err(response) => return response,
    };
    match app.services.compute.open_result(&owner, &id, index).await {
        Ok((file, stream)) => crate::rest::provider::compute::file_response(&file, stream),
        Err(ComputeError::JobNotFound | ComputeError::NoSuchResult(_)) => {
            refused(StatusCode::NOT_FOUND, "no such result")
        }
        Err(e) => {
            tracing::error!(error = %e, "compute result failed");
            refused(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

//! `/healthz` (the process answers) and `/readyz` (database, queue and blob store answer).
use axum::{Json, extract::State, response::IntoResponse};
use http::StatusCode;
use serde_json::json;

use crate::state::AppState;

/// The process answers
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "Always", body = serde_json::Value, example = json!({"status": "ok"})))
)]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// The database, queue and blob store answer
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "All answer", body = serde_json::Value,
            example = json!({"status": "ok", "checks": {"database": "ok", "queue": "ok", "blobs": "ok"}})),
        (status = 503, description = "One does not", body = serde_json::Value,
            example = json!({"status": "unavailable", "checks": {"database": "ok", "queue": "unavailable", "blobs": "ok"}})),
    )
)]
pub async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    let services = &app.services;
    let database = services.db.ping().await.map_err(|e| e.to_string());
    let queue = services.queue.check().await.map_err(|e| e.to_string());
    let blobs = services.blobs.check().await.map_err(|e| e.to_string());
    let ready = database.is_ok() && queue.is_ok() && blobs.is_ok();
    let report = |name: &str, r: &Result<(), String>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            tracing::warn!(check = name, error = %e, "readiness check failed");
            "unavailable".to_string()
        }
    };
    let body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "checks": {
            "database": report("database", &database),
            "queue": report("queue", &queue),
            "blobs": report("blobs", &blobs),
        }
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

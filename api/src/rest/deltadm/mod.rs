//! The delta-dm API at `/api/v1` (shared/reference/delta-dm.md): datasets, contents,
//! providers, replication profiles. Operator routes take `Authorization: Bearer
//! <WHARF_ADMIN_API_KEY>`; errors use delta-dm's envelope with real HTTP codes.
pub mod contents;
pub mod datasets;
pub mod providers;
pub mod replications;
pub mod schema;
pub mod self_service;
pub mod wallets;

use axum::{
    Json,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use http::StatusCode;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_core::{auth::secret_matches, filecoin::DatasetError};

use crate::{rest::legacy_body::BodyError, state::AppState};

/// Most bytes of a content import (a 100,000-row CSV is about 20 MB).
pub const MAX_IMPORT_BYTES: usize = 256 << 20;

pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    let operator = OpenApiRouter::new()
        .routes(routes!(health))
        .merge(datasets::router())
        .merge(contents::router())
        .merge(providers::router())
        .merge(replications::router())
        .merge(wallets::router())
        .route_layer(middleware::from_fn_with_state(state, require_operator));
    // Self-service routes authenticate the provider's own key instead.
    OpenApiRouter::new()
        .merge(operator)
        .merge(self_service::router())
}

/// delta-dm's error envelope: `{"error":{"code","reason","details"}}`.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.0.as_u16(),
            "reason": self.0.canonical_reason().unwrap_or(""),
            "details": self.1,
        }});
        (self.0, Json(body)).into_response()
    }
}

impl ApiError {
    pub fn bad(text: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, text.into())
    }
}

impl From<DatasetError> for ApiError {
    fn from(e: DatasetError) -> Self {
        match e {
            DatasetError::Invalid(t) => ApiError(StatusCode::BAD_REQUEST, t),
            DatasetError::NotFound(t) => ApiError(StatusCode::NOT_FOUND, t),
            DatasetError::Conflict(t) => ApiError(StatusCode::CONFLICT, t),
            DatasetError::Db(db) => {
                tracing::error!(error = %db, "delta-dm route failed");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        ApiError(e.status(), e.to_string())
    }
}

/// A JSON value of the request body, or a 400 naming what is wrong.
pub fn parse<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::bad(format!("invalid request body: {e}")))
}

/// Bearer operator key, compared in constant time; failures are a bare JSON string (401).
async fn require_operator(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let refuse = |text: &str| (StatusCode::UNAUTHORIZED, Json(Value::from(text))).into_response();
    let Some(header) = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return refuse("missing authorization header");
    };
    let Some(token) = header.strip_prefix("Bearer ") else {
        return refuse("malformed auth header - must be Bearer <key>");
    };
    match &app.services.config.admin_api_key {
        Some(key) if secret_matches(key.expose(), token.trim()) => next.run(request).await,
        _ => refuse("this auth key is not permitted to access this instance of DDM"),
    }
}

/// wharf's version and the deal engine's
///
/// Asked now (upstream captured them once at start and refused to start without the engine).
/// Always 200: the delta-dm CLI calls this before every command, and listing datasets must not
/// need the engine. An engine that does not answer within 5 s leaves `delta_info` and `uuid`
/// empty and is named in `delta_error`.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    operation_id = "deltaDmHealth",
    tag = "delta-dm",
    security(("operator" = [])),
    responses(
        (status = 200, description = "Versions and the engine's instance uuid", body = schema::DeltaDmHealth),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
    )
)]
async fn health(State(app): State<AppState>) -> Response {
    let ddm = json!({"commit": option_env!("WHARF_COMMIT").unwrap_or("unknown"), "version": env!("CARGO_PKG_VERSION")});
    let engine = match &app.services.deal_engine {
        None => Err("no deal engine is configured".to_string()),
        Some(engine) => {
            match tokio::time::timeout(std::time::Duration::from_secs(5), engine.node_info()).await
            {
                Ok(Ok(info)) => Ok(info),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("the deal engine did not answer within 5 s".to_string()),
            }
        }
    };
    let body = match engine {
        Ok(info) => json!({
            "uuid": info.uuid,
            "ddm_info": ddm,
            "delta_info": {"commit": info.commit, "version": info.version},
        }),
        Err(error) => json!({
            "uuid": "",
            "ddm_info": ddm,
            "delta_info": {"commit": "", "version": ""},
            "delta_error": error,
        }),
    };
    Json(body).into_response()
}

/// RFC 3339 of a Unix-milliseconds time, as gorm models serialise their timestamps.
pub fn time(ms: i64) -> Value {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

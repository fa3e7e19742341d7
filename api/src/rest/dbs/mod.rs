//! The Ocean Uploader (DBS) family at `/`: storages, quotes and their status, wire-compatible
//! with uploader.js (shared/reference/dbs-uploader.md). Plain messages are JSON strings.
pub mod quotes;
pub mod register;
pub mod storages;
pub mod upload;

use axum::{
    Json, Router,
    response::{IntoResponse, Response},
    routing::get,
};
use http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(storages::list))
        .route("/getQuote", axum::routing::post(quotes::create))
        .route("/register", axum::routing::post(register::register))
        .route("/getStatus", get(quotes::status).post(quotes::status))
        .route("/getLink", get(upload::link).post(upload::link))
        .route("/getHistory", get(upload::history).post(upload::history))
        .route(
            "/upload",
            axum::routing::post(upload::upload)
                // Files are bounded by their quoted lengths while they stream.
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
}

/// A DBS answer: a status and a JSON body (often a bare JSON string).
pub struct Reply(pub StatusCode, pub Value);

impl Reply {
    pub fn message(status: StatusCode, text: &str) -> Self {
        Reply(status, Value::String(text.to_string()))
    }
    pub fn error(status: StatusCode, text: &str) -> Self {
        Reply(status, json!({ "error": text }))
    }
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "DBS route failed");
        Reply::message(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.")
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

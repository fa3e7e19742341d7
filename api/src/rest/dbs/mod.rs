//! The Ocean Uploader (DBS) family at `/`: storages, quotes and their status, wire-compatible
//! with uploader.js (shared/reference/dbs-uploader.md). Plain messages are JSON strings.
pub mod quotes;
pub mod register;
pub mod storages;
pub mod upload;

use axum::{
    Json, Router,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(storages::list).fallback(not_allowed("GET, HEAD")))
        .route(
            "/getQuote",
            post(quotes::create).fallback(not_allowed("POST")),
        )
        .route(
            "/register",
            post(register::register).fallback(not_allowed("POST")),
        )
        .route(
            "/getStatus",
            get(quotes::status)
                .post(quotes::status)
                .fallback(not_allowed("GET, POST, HEAD")),
        )
        .route(
            "/getLink",
            get(upload::link)
                .post(upload::link)
                .fallback(not_allowed("GET, POST, HEAD")),
        )
        .route(
            "/getHistory",
            get(upload::history)
                .post(upload::history)
                .fallback(not_allowed("GET, POST, HEAD")),
        )
        .route(
            "/upload",
            post(upload::upload)
                .fallback(not_allowed("POST"))
                // Files are bounded by their quoted lengths while they stream.
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
}

/// A method the route does not take: 405 with Django REST framework's body, as upstream.
fn not_allowed(
    allow: &'static str,
) -> impl Fn(http::Method) -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    move |method: http::Method| {
        let mut response = Reply(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "detail": format!("Method \"{method}\" not allowed.") }),
        )
        .into_response();
        response
            .headers_mut()
            .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
        std::future::ready(response)
    }
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

//! The Ocean Uploader (DBS) family at `/`: storages, quotes and their status, wire-compatible
//! with uploader.js (shared/reference/dbs-uploader.md). Plain messages are JSON strings.
pub mod quotes;
pub mod register;
pub mod schema;
pub mod storages;
pub mod upload;

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use serde_json::{Value, json};
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouterExt},
    routes,
};

use crate::state::AppState;

/// Each `routes!` both mounts and documents its handlers; the 405 fallbacks and the body limit
/// decorate the route's method router.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(storages::list).map(|m| m.fallback(not_allowed("GET, HEAD"))))
        .routes(routes!(quotes::create).map(|m| m.fallback(not_allowed("POST"))))
        .routes(routes!(register::register).map(|m| m.fallback(not_allowed("POST"))))
        .routes(routes!(quotes::status).map(|m| m.fallback(not_allowed("GET, POST, HEAD"))))
        .routes(routes!(upload::link).map(|m| m.fallback(not_allowed("GET, POST, HEAD"))))
        .routes(routes!(upload::history).map(|m| m.fallback(not_allowed("GET, POST, HEAD"))))
        .routes(routes!(upload::upload).map(|m| {
            m.fallback(not_allowed("POST"))
                // Files are bounded by their quoted lengths while they stream.
                .layer(axum::extract::DefaultBodyLimit::disable())
        }))
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

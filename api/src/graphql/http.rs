//! HTTP and WebSocket transport of the GraphQL API: caller resolution, batch limit, GraphiQL.
use async_graphql::{BatchRequest, Data};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::{
    Json,
    extract::{State, WebSocketUpgrade},
    response::{IntoResponse, Response},
};
use http::StatusCode;
use serde_json::json;
use wharf_core::{
    auth::{Principal, secret_matches, siwe},
    services::Services,
};

use super::{Caller, error::Code};
use crate::state::AppState;

/// GraphiQL is built with the web app (ui/graphiql.html), so that it needs no CDN.
pub async fn graphiql() -> impl IntoResponse {
    axum::response::Redirect::to("/ui/graphiql.html")
}

/// Headers any one of which makes a multipart request a non-simple CORS request, so a
/// browser cannot send it cross-site without a preflight (CSRF protection for uploads).
const PREFLIGHT_HEADERS: [&str; 3] = [
    "apollo-require-preflight",
    "graphql-require-preflight",
    "x-graphql-preflight",
];

pub async fn execute(State(app): State<AppState>, request: axum::extract::Request) -> Response {
    // The request's own headers, not the `HeaderMap` extractor's copy of them.
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let caller = match resolve_caller(&app.services, bearer.as_deref()).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let multipart = content_type.as_deref().is_some_and(|c| {
        c.as_bytes()
            .get(..b"multipart/".len())
            .is_some_and(|start| start.eq_ignore_ascii_case(b"multipart/"))
    });
    let config = &app.services.config;
    if multipart
        && !PREFLIGHT_HEADERS
            .iter()
            .any(|h| headers.get(*h).is_some_and(|v| !v.is_empty()))
    {
        return error_response(
            StatusCode::BAD_REQUEST,
            Code::BadUserInput,
            "multipart requests need an apollo-require-preflight (or graphql-require-preflight) header",
        );
    }
    // JSON requests are small; multipart ones carry files up to a quote's size.
    let limit = if multipart {
        usize::try_from(config.dbs.max_total_bytes.saturating_add(1 << 20)).unwrap_or(usize::MAX)
    } else {
        config.http.max_body_bytes
    };
    let received = if multipart {
        use futures::TryStreamExt;
        let options = async_graphql::http::MultipartOptions::default()
            .max_file_size(usize::try_from(config.dbs.max_total_bytes).unwrap_or(usize::MAX))
            .max_num_files(config.dbs.max_files);
        let limited = http_body_util::Limited::new(body, limit);
        let reader = http_body_util::BodyDataStream::new(limited)
            .map_err(body_error)
            .into_async_read();
        async_graphql::http::receive_batch_body(content_type.as_deref(), reader, options).await
    } else {
        // A JSON request is read whole (it is small), then parsed from memory: cheaper than
        // feeding it through a stream adapter.
        match axum::body::to_bytes(body, limit).await {
            Ok(bytes) => parse_json(&bytes),
            Err(e) => Err(async_graphql::ParseRequestError::Io(body_error(e.into()))),
        }
    };
    let batch = match received {
        Ok(batch) => batch,
        Err(e) => {
            let text = e.to_string();
            let status = if text.contains("length limit") || text.contains("too large") {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return error_response(
                status,
                Code::BadUserInput,
                &format!("invalid GraphQL request: {text}"),
            );
        }
    };
    if let BatchRequest::Batch(items) = &batch {
        let max = app.services.config.graphql.max_batch;
        if items.len() > max {
            return error_response(
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                &format!("a batch may hold at most {max} operations"),
            );
        }
    }
    let batch = batch.data(Caller(caller));
    let mut response = app.schemas.execute(batch).await;
    match &mut response {
        async_graphql::BatchResponse::Single(one) => with_codes(one),
        async_graphql::BatchResponse::Batch(all) => all.iter_mut().for_each(with_codes),
    }
    GraphQLResponse::from(response).into_response()
}

/// A JSON body: one request (an object) or a non-empty batch (an array). The first byte
/// says which, so serde parses the body once into its type, instead of into an untagged
/// enum's buffer first and then into each variant in turn (async-graphql's way, which also
/// answers any mistake with "did not match any variant").
fn parse_json(body: &[u8]) -> Result<BatchRequest, async_graphql::ParseRequestError> {
    let invalid = |e: serde_json::Error| async_graphql::ParseRequestError::InvalidRequest(e.into());
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            let items: Vec<async_graphql::Request> =
                serde_json::from_slice(body).map_err(invalid)?;
            if items.is_empty() {
                return Err(async_graphql::ParseRequestError::InvalidRequest(
                    "a batch holds at least one operation".into(),
                ));
            }
            Ok(BatchRequest::Batch(items))
        }
        _ => serde_json::from_slice(body)
            .map(BatchRequest::Single)
            .map_err(invalid),
    }
}

/// Every error carries `extensions.code`: resolvers set theirs; what async-graphql raises
/// itself (syntax, validation, depth and complexity limits) is the request's mistake.
fn with_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let coded = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if !coded {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", Code::BadUserInput.as_str());
        }
    }
}

fn body_error(e: Box<dyn std::error::Error + Send + Sync + 'static>) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

pub async fn subscriptions(
    State(app): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let schema = app.schemas.full.clone();
    let services = app.services.clone();
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    // Browsers cannot set headers on a WebSocket: the token comes in the
                    // connection_init payload as {"authorization": "Bearer <token>"}.
                    let bearer = payload
                        .get("authorization")
                        .or_else(|| payload.get("Authorization"))
                        .and_then(|v| v.as_str())
                        .map(str::to_string);
                    let caller = resolve_caller(&services, bearer.as_deref())
                        .await
                        .map_err(|_| async_graphql::Error::new("invalid or expired token"))?;
                    let mut data = Data::default();
                    data.insert(Caller(caller));
                    data.insert(super::subscriptions::ConnectionSlots::default());
                    Ok(data)
                })
                .serve()
                .await
        })
}

/// Maps a bearer token to the operator or a wallet session. No token: anonymous. A token that
/// is neither: 401, so a client with an expired session learns it at once.
pub(crate) async fn resolve_caller(
    services: &Services,
    authorization: Option<&str>,
) -> Result<Option<Principal>, Response> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .unwrap_or(value)
        .trim();
    if let Some(key) = &services.config.admin_api_key
        && secret_matches(key.expose(), token)
    {
        return Ok(Some(Principal::Operator));
    }
    match siwe::session_address(&services.db, token).await {
        Ok(Some(address)) => Ok(Some(Principal::Wallet(address))),
        Ok(None) => Err(error_response(
            StatusCode::UNAUTHORIZED,
            Code::Unauthenticated,
            "invalid or expired token",
        )),
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            Err(error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Internal,
                "internal error",
            ))
        }
    }
}

fn error_response(status: StatusCode, code: Code, message: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"message": message, "extensions": {"code": code.as_str()}}]})),
    )
        .into_response()
}

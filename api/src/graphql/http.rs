//! HTTP and WebSocket transport of the GraphQL API: caller resolution, batch limit, GraphiQL.
use async_graphql::{BatchRequest, Data, http::GraphiQLSource};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::{
    Json,
    extract::{State, WebSocketUpgrade},
    response::{Html, IntoResponse, Response},
};
use http::{HeaderMap, StatusCode};
use serde_json::json;
use wharf_core::{
    auth::{Principal, secret_matches, siwe},
    services::Services,
};

use super::{Caller, error::Code};
use crate::state::AppState;

pub async fn graphiql() -> impl IntoResponse {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
}

pub async fn execute(
    State(app): State<AppState>,
    headers: HeaderMap,
    request: GraphQLBatchRequest,
) -> Response {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let caller = match resolve_caller(&app.services, bearer.as_deref()).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let batch = request.into_inner();
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
    GraphQLResponse::from(app.schema.execute_batch(batch).await).into_response()
}

pub async fn subscriptions(
    State(app): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let schema = app.schema.clone();
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
                    Ok(data)
                })
                .serve()
                .await
        })
}

/// Maps a bearer token to the operator or a wallet session. No token: anonymous. A token that
/// is neither: 401, so a client with an expired session learns it at once.
async fn resolve_caller(
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

//! `POST /getQuote` and `GET|POST /getStatus`.
use std::str::FromStr;

use axum::{
    body::Body,
    extract::{Query, State},
};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use wharf_core::{
    auth::Address,
    uploads::{QuoteError, QuoteRequest, microservice::RemoteError},
};

use super::{Reply, schema};
use crate::{
    rest::legacy_body::{BodyError, read_json},
    state::AppState,
};

const INVALID_INPUT: &str = "Invalid input data.";

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// A non-negative integer given as a JSON number or a string of digits.
fn whole_number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        _ => None,
    }
}

/// Prices files × duration × storage in a token
///
/// `amount = ceil(price × 10^decimals × bytes × seconds / (GiB × 30 days))`, returned as a decimal
/// string with the treasury (or the storage microservice's address) as `approveAddress`. The
/// client approves that address for `tokenAmount`, then uploads with `POST /upload`. Only
/// `application/json` is taken. A storage microservice's quote is passed through unchanged.
#[utoipa::path(
    post,
    path = "/getQuote",
    operation_id = "getQuote",
    tag = "dbs",
    request_body = schema::QuoteRequest,
    responses(
        (status = 201, description = "The quote", body = schema::Quote),
        (status = 400, description = "`\"Invalid input data.\"`, `\"Too many files. Max N.\"`, \
            `\"Invalid files length.\"`, `\"Invalid duration.\"`, `\"Invalid userAddress.\"`, \
            `{\"duration\": [\"This field is required.\"]}`, \
            `{\"error\": \"Chosen storage type does not exist.\"}`, a pricing refusal such as \
            `\"Payment chain not accepted.\"`, or a storage microservice's own JSON",
            body = serde_json::Value, example = json!("Invalid input data.")),
        (status = 413, description = "`\"Request body too large.\"`", body = schema::DbsMessage),
        (status = 415, description = "Not `application/json`", body = schema::DbsDetail,
            example = json!({"detail": "Unsupported media type \"text/plain\" in request."})),
        (status = 500, description = "`\"Internal server error.\"`", body = schema::DbsMessage),
        (status = 502, description = "The storage microservice did not answer \
            (`{\"error\": \"No response received\"}`) or answered nonsense \
            (`{\"error\": \"Invalid response format\"}`)", body = serde_json::Value,
            example = json!({"error": "No response received"})),
    )
)]
pub async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, Reply> {
    if !is_json(&headers) {
        let given = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return Err(Reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({ "detail": format!("Unsupported media type \"{given}\" in request.") }),
        ));
    }
    let body = read_json(body, app.services.config.http.max_body_bytes)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => {
                Reply::message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large.")
            }
            _ => Reply::message(StatusCode::BAD_REQUEST, INVALID_INPUT),
        })?;
    let (Some(kind), Some(files)) = (
        body.get("type").and_then(Value::as_str),
        body.get("files").and_then(Value::as_array),
    ) else {
        return Err(Reply::message(StatusCode::BAD_REQUEST, INVALID_INPUT));
    };
    // Refuse absurd file lists before looking at each entry.
    let max_files = app.services.config.dbs.max_files;
    if files.len() > max_files {
        return Err(Reply::message(
            StatusCode::BAD_REQUEST,
            &format!("Too many files. Max {max_files}."),
        ));
    }
    let mut lengths = Vec::with_capacity(files.len());
    for file in files {
        let length = file
            .get("length")
            .and_then(whole_number)
            .ok_or_else(|| Reply::message(StatusCode::BAD_REQUEST, "Invalid files length."))?;
        lengths.push(length);
    }
    let Some(duration) = body.get("duration") else {
        return Err(Reply(
            StatusCode::BAD_REQUEST,
            json!({"duration": ["This field is required."]}),
        ));
    };
    let duration = whole_number(duration)
        .ok_or_else(|| Reply::message(StatusCode::BAD_REQUEST, "Invalid duration."))?;
    // Chain and token matter only to a priced storage, which refuses ones it does not accept
    // ("Payment chain not accepted."); a free storage takes whatever the client's wallet is on.
    let payment = body.get("payment").cloned().unwrap_or(Value::Null);
    let chain_value = payment.get("chainId").cloned().unwrap_or(Value::Null);
    let chain_id = whole_number(&chain_value).unwrap_or(0);
    let token_text = payment
        .get("tokenAddress")
        .and_then(Value::as_str)
        .unwrap_or("");
    let token = Address::from_str(token_text).unwrap_or(Address::ZERO);
    let owner = body
        .get("userAddress")
        .and_then(Value::as_str)
        .and_then(|a| Address::from_str(a).ok())
        .ok_or_else(|| Reply::message(StatusCode::BAD_REQUEST, "Invalid userAddress."))?;
    let request = QuoteRequest {
        storage: kind.to_string(),
        file_lengths: lengths,
        duration_secs: duration,
        chain_id,
        token_address: token,
        owner,
    };
    let quote = app
        .services
        .quotes
        .create(request)
        .await
        .map_err(quote_error)?;
    Ok(Reply(
        StatusCode::CREATED,
        json!({
            "quoteId": quote.id,
            "tokenAmount": quote.token_amount.to_string(),
            "approveAddress": quote.approve_address.to_checksum(None),
            // Echoed with the client's own JSON type, as upstream did.
            "chainId": chain_value,
            "tokenAddress": token_text,
        }),
    ))
}

pub fn quote_error(e: QuoteError) -> Reply {
    match e {
        QuoteError::UnknownStorage => Reply::error(
            StatusCode::BAD_REQUEST,
            "Chosen storage type does not exist.",
        ),
        QuoteError::Invalid(text) => Reply::message(StatusCode::BAD_REQUEST, &text),
        QuoteError::NotFound => Reply::message(StatusCode::NOT_FOUND, "Quote does not exist."),
        QuoteError::Remote(remote) => remote_error(remote),
        QuoteError::Db(db) => Reply::internal(db),
    }
}

/// A storage microservice's refusal is passed on as upstream did (400 with its JSON); a
/// service that is down or talks nonsense is the gateway's problem (502), not the client's.
pub fn remote_error(e: RemoteError) -> Reply {
    match e {
        RemoteError::Refused { body, .. } => Reply(StatusCode::BAD_REQUEST, body),
        RemoteError::Unreachable(detail) => {
            tracing::warn!(%detail, "storage service unreachable");
            Reply::error(StatusCode::BAD_GATEWAY, "No response received")
        }
        RemoteError::BadReply(detail) => {
            tracing::warn!(%detail, "storage service reply unusable");
            Reply::error(StatusCode::BAD_GATEWAY, "Invalid response format")
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    #[serde(rename = "quoteId")]
    quote_id: Option<String>,
}

/// A quote's status
///
/// 1 waiting for files, 100/101 paying, 201 no allowance, 202 no balance, 203 reverted, 300
/// storing, 400 done, 401-499 storing failed. For a storage microservice's quote, once handed
/// over, the service's own status. Taken as GET or POST, with `quoteId` in the query.
#[utoipa::path(
    method(get, post),
    path = "/getStatus",
    operation_id = "getStatus",
    tag = "dbs",
    params(("quoteId" = String, Query, description = "The quote's id")),
    responses(
        (status = 200, description = "The status", body = schema::QuoteStatus),
        (status = 400, description = "`\"Missing query parameters.\"`, or a storage \
            microservice's own JSON", body = serde_json::Value,
            example = json!("Missing query parameters.")),
        (status = 404, description = "`\"Quote does not exist.\"`", body = schema::DbsMessage),
        (status = 500, description = "`\"Internal server error.\"`", body = schema::DbsMessage),
        (status = 502, description = "The storage microservice did not answer", body = serde_json::Value,
            example = json!({"error": "No response received"})),
    )
)]
pub async fn status(
    State(app): State<AppState>,
    Query(query): Query<StatusQuery>,
) -> Result<Reply, Reply> {
    let id = query
        .quote_id
        .filter(|q| !q.is_empty() && q.len() <= 64)
        .ok_or_else(|| Reply::message(StatusCode::BAD_REQUEST, "Missing query parameters."))?;
    let quote = app
        .services
        .quotes
        .get_current(&id)
        .await
        .map_err(quote_error)?;
    Ok(Reply(StatusCode::OK, json!({ "status": quote.status })))
}

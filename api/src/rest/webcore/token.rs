//! `/accounts/token/*`: the legacy accounts API of web-core, byte for byte (see
//! shared/reference/webcore.md §4), over the ledger in `wharf_core::ledger`.
use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_core::{
    auth::secret_matches,
    ledger::{EntryKind, LedgerError, positive_amount, token::is_acceptable},
};

use super::schema;
use crate::{
    rest::legacy_body::{BodyError, read_json},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(new_token))
        .routes(routes!(prices))
        .routes(routes!(balance))
        .routes(routes!(redeem))
        .routes(routes!(deposit))
        .routes(routes!(withdraw))
}

/// Every failure of this family, with the status and body legacy clients expect.
#[derive(Debug, thiserror::Error)]
pub enum TokenApiError {
    #[error("bad request")]
    BadRequest,
    #[error("invalid authentication")]
    InvalidAuthentication,
    #[error("unknown token")]
    UnknownToken,
    #[error("balance insufficient")]
    InsufficientBalance,
    #[error("promocode refused")]
    RedeemRefused,
    #[error("body too large")]
    TooLarge,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<BodyError> for TokenApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => TokenApiError::TooLarge,
            BodyError::NotJson | BodyError::Unreadable => TokenApiError::BadRequest,
        }
    }
}

impl From<LedgerError> for TokenApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::UnknownToken => TokenApiError::UnknownToken,
            LedgerError::InvalidAmount | LedgerError::Overflow => TokenApiError::BadRequest,
            LedgerError::InsufficientBalance => TokenApiError::InsufficientBalance,
            LedgerError::UnknownPromocode
            | LedgerError::AlreadyRedeemed
            | LedgerError::PromocodeExhausted => TokenApiError::RedeemRefused,
            other => TokenApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for TokenApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            TokenApiError::BadRequest => {
                (StatusCode::BAD_REQUEST, json!({"status": "bad-request"}))
            }
            TokenApiError::InvalidAuthentication => (
                StatusCode::UNAUTHORIZED,
                json!({"status": "invalid-authentication"}),
            ),
            TokenApiError::UnknownToken => {
                (StatusCode::NOT_FOUND, json!({"status": "token-not-found"}))
            }
            TokenApiError::InsufficientBalance => (
                StatusCode::PAYMENT_REQUIRED,
                json!({"error": "balance-insufficient"}),
            ),
            TokenApiError::RedeemRefused => (StatusCode::FORBIDDEN, json!({"status": "error"})),
            TokenApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"status": "payload-too-large"}),
            ),
            TokenApiError::Internal(detail) => {
                tracing::error!(error = %detail, "token API failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"status": "internal-error"}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

type ApiResult = Result<(StatusCode, Json<Value>), TokenApiError>;

fn ok_status(status: StatusCode) -> ApiResult {
    Ok((status, Json(json!({"status": "ok"}))))
}

/// Issues an access token
#[utoipa::path(
    post,
    path = "/accounts/token/new",
    operation_id = "newToken",
    tag = "web-core",
    responses(
        (status = 200, description = "The token", body = schema::NewToken),
        (status = 500, description = "`{\"status\": \"internal-error\"}`", body = schema::TokenStatus),
    )
)]
async fn new_token(State(app): State<AppState>) -> ApiResult {
    let token = app.services.ledger.new_token().await?;
    Ok((StatusCode::OK, Json(json!({ "token": token }))))
}

/// What byte credits cost
#[utoipa::path(
    get,
    path = "/accounts/token/prices",
    operation_id = "tokenPrices",
    tag = "web-core",
    responses((status = 200, description = "The price list (`webcore.prices`)", body = schema::Prices))
)]
async fn prices(State(app): State<AppState>) -> Json<Value> {
    let prices: Vec<Value> = app
        .services
        .config
        .webcore
        .prices
        .iter()
        .map(|p| json!({"amount": p.amount, "cost": p.cost}))
        .collect();
    Json(json!({ "prices": prices }))
}

/// A token's balance in bytes
///
/// Unknown tokens have a zero balance, as in the legacy service.
#[utoipa::path(
    get,
    path = "/accounts/token/balance/{token}",
    operation_id = "tokenBalance",
    tag = "web-core",
    params(("token" = String, Path, description = "An access token")),
    responses(
        (status = 200, description = "The balance", body = schema::Balance),
        (status = 500, description = "`{\"status\": \"internal-error\"}`", body = schema::TokenStatus),
    )
)]
async fn balance(State(app): State<AppState>, Path(token): Path<String>) -> ApiResult {
    let balance = if is_acceptable(&token) {
        app.services.ledger.balance(&token).await?.unwrap_or(0)
    } else {
        0
    };
    Ok((StatusCode::OK, Json(json!({ "balance": balance }))))
}

/// Redeems a promocode for byte credits
///
/// Once per token and promocode. A token wharf did not issue is taken on with a zero balance.
#[utoipa::path(
    post,
    path = "/accounts/token/redeem/{token}",
    operation_id = "redeemPromocode",
    tag = "web-core",
    params(("token" = String, Path, description = "An access token")),
    request_body = schema::Redeem,
    responses(
        (status = 201, description = "`{\"status\": \"ok\"}`", body = schema::TokenStatus),
        (status = 400, description = "`{\"status\": \"bad-request\"}`: no `promocode`", body = schema::TokenStatus,
            example = json!({"status": "bad-request"})),
        (status = 403, description = "`{\"status\": \"error\"}`: an unknown, used up or already redeemed promocode, or a string that cannot be a token",
            body = schema::TokenStatus, example = json!({"status": "error"})),
        (status = 413, description = "`{\"status\": \"payload-too-large\"}`", body = schema::TokenStatus,
            example = json!({"status": "payload-too-large"})),
        (status = 500, description = "`{\"status\": \"internal-error\"}`", body = schema::TokenStatus),
    )
)]
async fn redeem(State(app): State<AppState>, Path(token): Path<String>, body: Body) -> ApiResult {
    let body = read_json(body, app.services.config.http.max_body_bytes).await?;
    let Some(code) = body.get("promocode").and_then(Value::as_str) else {
        return Err(TokenApiError::BadRequest);
    };
    // Any token is taken on, as the legacy ledger upserted (tokens of a migrated database).
    match app.services.ledger.adopt(&token).await {
        Ok(()) => {}
        Err(LedgerError::UnknownToken) => return Err(TokenApiError::RedeemRefused),
        Err(e) => return Err(e.into()),
    }
    match app.services.ledger.redeem(&token, code).await {
        Ok(_) => ok_status(StatusCode::CREATED),
        Err(LedgerError::UnknownToken) => Err(TokenApiError::RedeemRefused),
        Err(e) => Err(e.into()),
    }
}

/// Adds byte credits to a token
///
/// For the operator, with the `Authentication` secret (`WHARF_WEBCORE_SECRET`). A token wharf
/// did not issue is taken on with a zero balance.
#[utoipa::path(
    post,
    path = "/accounts/token/deposit/{token}",
    operation_id = "depositBytes",
    tag = "web-core",
    security(("webcore_secret" = [])),
    params(("token" = String, Path, description = "An access token")),
    request_body = schema::ByteAmount,
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`", body = schema::TokenStatus),
        (status = 400, description = "`{\"status\": \"bad-request\"}`: no whole, positive `bytes` below 2^63, or a balance that would overflow",
            body = schema::TokenStatus, example = json!({"status": "bad-request"})),
        (status = 401, description = "`{\"status\": \"invalid-authentication\"}`: no or a wrong `Authentication` secret (or none configured)",
            body = schema::TokenStatus, example = json!({"status": "invalid-authentication"})),
        (status = 404, description = "`{\"status\": \"token-not-found\"}`: a string that cannot be a token (over 128 characters, or not visible ASCII)",
            body = schema::TokenStatus, example = json!({"status": "token-not-found"})),
        (status = 413, description = "`{\"status\": \"payload-too-large\"}`", body = schema::TokenStatus,
            example = json!({"status": "payload-too-large"})),
        (status = 500, description = "`{\"status\": \"internal-error\"}`", body = schema::TokenStatus),
    )
)]
async fn deposit(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let bytes = authorised_amount(&app, &headers, body).await?;
    app.services.ledger.adopt(&token).await?;
    app.services
        .ledger
        .credit(&token, bytes, EntryKind::Deposit, None)
        .await?;
    ok_status(StatusCode::OK)
}

/// Takes byte credits from a token
///
/// For the operator, with the `Authentication` secret. The balance never goes negative.
#[utoipa::path(
    post,
    path = "/accounts/token/withdraw/{token}",
    operation_id = "withdrawBytes",
    tag = "web-core",
    security(("webcore_secret" = [])),
    params(("token" = String, Path, description = "An access token")),
    request_body = schema::ByteAmount,
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`", body = schema::TokenStatus),
        (status = 400, description = "`{\"status\": \"bad-request\"}`: no whole, positive `bytes` below 2^63, or a balance that would overflow",
            body = schema::TokenStatus, example = json!({"status": "bad-request"})),
        (status = 401, description = "`{\"status\": \"invalid-authentication\"}`: no or a wrong `Authentication` secret (or none configured)",
            body = schema::TokenStatus, example = json!({"status": "invalid-authentication"})),
        (status = 402, description = "`{\"error\": \"balance-insufficient\"}`", body = schema::TokenError),
        (status = 404, description = "`{\"status\": \"token-not-found\"}`: a string that cannot be a token (over 128 characters, or not visible ASCII)",
            body = schema::TokenStatus, example = json!({"status": "token-not-found"})),
        (status = 413, description = "`{\"status\": \"payload-too-large\"}`", body = schema::TokenStatus,
            example = json!({"status": "payload-too-large"})),
        (status = 500, description = "`{\"status\": \"internal-error\"}`", body = schema::TokenStatus),
    )
)]
async fn withdraw(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let bytes = authorised_amount(&app, &headers, body).await?;
    app.services.ledger.adopt(&token).await?;
    app.services
        .ledger
        .debit(&token, bytes, EntryKind::Withdraw, None)
        .await?;
    ok_status(StatusCode::OK)
}

/// Checks the `Authentication` header, then reads `{"bytes": N}`.
async fn authorised_amount(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<i64, TokenApiError> {
    let configured = app
        .services
        .config
        .webcore_secret
        .as_ref()
        .ok_or(TokenApiError::InvalidAuthentication)?;
    let presented = headers
        .get("authentication")
        .and_then(|v| v.to_str().ok())
        .ok_or(TokenApiError::InvalidAuthentication)?;
    if !secret_matches(configured.expose(), presented) {
        return Err(TokenApiError::InvalidAuthentication);
    }
    let body = read_json(body, app.services.config.http.max_body_bytes).await?;
    let amount = body
        .get("bytes")
        .and_then(parse_bytes)
        .ok_or(TokenApiError::BadRequest)?;
    Ok(positive_amount(amount)?)
}

/// The legacy service took `int(bytes)`: integers, or strings holding one.
fn parse_bytes(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Value::String(s) => {
            let s = s.trim();
            let digits = s.strip_prefix('+').unwrap_or(s);
            let negative = digits.starts_with('-');
            let digits = digits.strip_prefix('-').unwrap_or(digits);
            if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let v: i128 = digits.parse().ok()?;
            Some(if negative { -v } else { v })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_accept_what_int_accepted() {
        assert_eq!(parse_bytes(&json!(30)), Some(30));
        assert_eq!(parse_bytes(&json!("30")), Some(30));
        assert_eq!(parse_bytes(&json!(" 30 ")), Some(30));
        assert_eq!(parse_bytes(&json!(-5)), Some(-5));
        assert_eq!(parse_bytes(&json!(1.5)), None);
        assert_eq!(parse_bytes(&json!("1.5")), None);
        assert_eq!(parse_bytes(&json!("abc")), None);
        assert_eq!(parse_bytes(&json!(null)), None);
        assert_eq!(
            parse_bytes(&json!(18446744073709551615u64)),
            Some(18446744073709551615)
        );
    }
}

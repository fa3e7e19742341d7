//! `POST /register`: a legacy storage microservice announces itself (signed over its URL by
//! the configured signer) and must do so again within the registration TTL to stay listed.
use axum::{body::Body, extract::State};
use http::StatusCode;
use serde_json::{Value, json};
use wharf_core::uploads::{
    registry::{self, Registered, Registration, RegistrationError},
    storages::{AcceptedToken, PaymentOption},
};

use super::{Reply, schema};
use crate::{rest::legacy_body::read_json, state::AppState};

const INVALID_INPUT: &str = "Invalid input data.";
/// Bounds on what a registration may carry.
const MAX_TEXT: usize = 1000;
const MAX_PAYMENT_ENTRIES: usize = 32;
const MAX_TOKENS: usize = 64;

/// Registers a storage microservice
///
/// A legacy storage service (uploader_arweave, uploader_filecoin, dbs_ipfs) joins, signed over
/// its `url` by `dbs.registration_signer`, and must register again within
/// `registration_ttl_secs` to stay listed. Its URL, description and tokens are refreshed on
/// each registration.
#[utoipa::path(
    post,
    path = "/register",
    operation_id = "registerStorage",
    tag = "dbs",
    request_body = schema::Registration,
    responses(
        (status = 200, description = "`\"Chosen storage type is already active and registered.\"`",
            body = schema::DbsMessage, example = json!("Chosen storage type is already active and registered.")),
        (status = 201, description = "`\"Desired storage created.\"` or, after it had expired, \
            `\"Chosen storage type reactivated.\"`", body = schema::DbsMessage,
            example = json!("Desired storage created.")),
        (status = 400, description = "`\"Invalid input data.\"`, `\"Invalid signature.\"` or \
            `{\"url\": [\"Enter a valid URL.\"]}`", body = serde_json::Value,
            example = json!("Invalid input data.")),
        (status = 403, description = "`\"Registration request received from non-approved address.\"`",
            body = schema::DbsMessage,
            example = json!("Registration request received from non-approved address.")),
        (status = 409, description = "`\"Chosen storage type is served by this gateway itself.\"`",
            body = schema::DbsMessage, example = json!("Chosen storage type is served by this gateway itself.")),
        (status = 413, description = "`\"Request body too large.\"`", body = schema::DbsMessage),
        (status = 500, description = "`\"Internal server error.\"`", body = schema::DbsMessage),
    )
)]
pub async fn register(State(app): State<AppState>, body: Body) -> Result<Reply, Reply> {
    let invalid = || Reply::message(StatusCode::BAD_REQUEST, INVALID_INPUT);
    let body = read_json(body, 256 * 1024).await.map_err(|e| {
        Reply::message(
            e.status(),
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "Request body too large."
            } else {
                INVALID_INPUT
            },
        )
    })?;
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
    let (Some(signature), Some(url)) = (text("signature"), text("url")) else {
        return Err(invalid());
    };
    let Some(kind) = text("type").filter(|k| {
        !k.is_empty()
            && k.len() <= 64
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) else {
        return Err(invalid());
    };
    let description = text("description").unwrap_or_default();
    if description.len() > MAX_TEXT || url.len() > 2048 {
        return Err(invalid());
    }
    let payment = parse_payment(body.get("payment")).ok_or_else(invalid)?;
    let outcome = registry::register(
        &app.services.config,
        &app.services.db,
        Registration {
            kind,
            description,
            url,
            payment,
            signature,
        },
    )
    .await;
    match outcome {
        Ok(Registered::AlreadyActive) => Ok(Reply::message(
            StatusCode::OK,
            "Chosen storage type is already active and registered.",
        )),
        Ok(Registered::Reactivated) => Ok(Reply::message(
            StatusCode::CREATED,
            "Chosen storage type reactivated.",
        )),
        Ok(Registered::Created) => Ok(Reply::message(
            StatusCode::CREATED,
            "Desired storage created.",
        )),
        Err(RegistrationError::BadSignature) => Err(Reply::message(
            StatusCode::BAD_REQUEST,
            "Invalid signature.",
        )),
        Err(RegistrationError::NotApproved) => Err(Reply::message(
            StatusCode::FORBIDDEN,
            "Registration request received from non-approved address.",
        )),
        Err(RegistrationError::BadUrl) => Err(Reply(
            StatusCode::BAD_REQUEST,
            json!({"url": ["Enter a valid URL."]}),
        )),
        Err(e @ RegistrationError::ServedHere) => {
            Err(Reply::message(StatusCode::CONFLICT, &e.to_string()))
        }
        Err(RegistrationError::Db(db)) => Err(Reply::internal(db)),
    }
}

/// `[{"chainId": 80001 | "80001", "acceptedTokens": [{"SYMBOL": "0x…"}]}]`; the
/// `{"title", "value"}` token form of `GET /` is accepted as well. Absent means none.
fn parse_payment(value: Option<&Value>) -> Option<Vec<PaymentOption>> {
    let Some(value) = value else {
        return Some(Vec::new());
    };
    let entries = value.as_array()?;
    if entries.len() > MAX_PAYMENT_ENTRIES {
        return None;
    }
    entries
        .iter()
        .map(|entry| {
            let chain_id = match entry.get("chainId")? {
                Value::String(s) if s.len() <= 64 => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            let tokens = match entry.get("acceptedTokens") {
                None | Some(Value::Null) => Vec::new(),
                Some(list) => {
                    let list = list.as_array()?;
                    if list.len() > MAX_TOKENS {
                        return None;
                    }
                    list.iter().map(parse_token).collect::<Option<Vec<_>>>()?
                }
            };
            Some(PaymentOption {
                chain_id,
                accepted_tokens: tokens,
            })
        })
        .collect()
}

fn parse_token(token: &Value) -> Option<AcceptedToken> {
    let object = token.as_object()?;
    let (title, value) = match (object.get("title"), object.get("value")) {
        (Some(Value::String(t)), Some(Value::String(v))) => (t.clone(), v.clone()),
        _ if object.len() == 1 => {
            let (symbol, address) = object.iter().next()?;
            (symbol.clone(), address.as_str()?.to_string())
        }
        _ => return None,
    };
    (title.len() <= 64 && value.len() <= 128).then_some(AcceptedToken { title, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_token_forms_and_refuses_odd_ones() {
        let parsed = parse_payment(Some(&json!([
            {"chainId": 80001, "acceptedTokens": [{"WMATIC": "0x9c3C"}]},
            {"chainId": "137", "acceptedTokens": [{"title": "USDC", "value": "0x1"}]}
        ])))
        .unwrap();
        assert_eq!(parsed[0].chain_id, "80001");
        assert_eq!(parsed[0].accepted_tokens[0].title, "WMATIC");
        assert_eq!(parsed[1].accepted_tokens[0].value, "0x1");
        assert!(
            parse_payment(Some(&json!([{"chainId": 1, "acceptedTokens": [{"A": 1}]}]))).is_none()
        );
        assert!(parse_payment(Some(&json!({"chainId": 1}))).is_none());
        assert_eq!(parse_payment(None).unwrap().len(), 0);
    }
}

//! `POST /provider/api/services/encrypt` and `POST /provider/api/services/decrypt`: documents
//! sealed to the provider's key (ECIES, eciespy's layout) and opened for an authorised
//! decrypter after the on-chain checks.
use std::collections::HashMap;

use axum::{
    body::Body,
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use wharf_core::provider::DecryptRequest;

use super::{Reply, error, number, params, provider_error, require, schema, text};
use crate::{
    rest::legacy_body::{BodyError, read_bytes, read_json},
    state::AppState,
};

/// Largest document encrypt takes (a DDO or a files object).
const MAX_DOCUMENT: usize = 16 << 20;

fn plain(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn body_error(e: BodyError) -> Reply {
    match e {
        BodyError::TooLarge => error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large."),
        _ => error(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON.",
        ),
    }
}

/// Encrypts a document to the provider's key on a chain
///
/// The body is the raw document; the answer (201, text/plain) is `0x` + hex of the ECIES
/// ciphertext. No authentication, as upstream.
#[utoipa::path(
    post,
    path = "/provider/api/services/encrypt",
    operation_id = "providerEncrypt",
    tag = "provider",
    params(("chainId" = u64, Query, description = "The chain whose provider key seals it")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The document"),
    responses(
        (status = 201, description = "`0x…` ciphertext", content_type = "text/plain", body = String),
        (status = 400, description = "Wrong content type, no chainId, or an empty document", body = schema::Error),
        (status = 413, description = "Over 16 MiB", body = schema::Error),
    )
)]
pub async fn encrypt(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Reply> {
    let octets = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/octet-stream"));
    if !octets {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Invalid request content type: should be application/octet-stream",
        ));
    }
    let chain_id = query
        .get("chainId")
        .and_then(|c| c.trim().parse::<u64>().ok())
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "Missing chainId query parameter."))?;
    let document = read_bytes(body, MAX_DOCUMENT).await.map_err(body_error)?;
    if document.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "Failed to encrypt."));
    }
    let sealed = app
        .services
        .provider
        .encrypt(chain_id, &document)
        .map_err(provider_error)?;
    Ok(plain(
        StatusCode::CREATED,
        format!("0x{}", hex::encode(sealed)).into_bytes(),
    ))
}

/// Decrypts a document an NFT's metadata holds
///
/// For an authorised decrypter (an Aquarius), signed over `(transactionId or dataNftAddress)
/// + decrypterAddress + chainId + nonce`. The NFT must come from Ocean's factory (when
/// configured) and be in a consumable state; the plaintext must match `documentHash`.
#[utoipa::path(
    post,
    path = "/provider/api/services/decrypt",
    operation_id = "providerDecrypt",
    tag = "provider",
    request_body(content = schema::DecryptBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The document", content_type = "text/plain", body = String),
        (status = 400, description = "Validation error, bad signature or nonce, or a document that does not open", body = schema::Error),
        (status = 403, description = "Decrypter not authorized, or the asset is not active", body = schema::Error),
    )
)]
pub async fn decrypt(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Result<Response, Reply> {
    let body = read_json(body, app.services.config.http.max_body_bytes)
        .await
        .map_err(body_error)?;
    let params = params(query, Some(body));
    require(
        &params,
        &[
            "decrypterAddress",
            "chainId",
            "dataNftAddress",
            "nonce",
            "signature",
        ],
    )?;
    let transaction = text(&params, "transactionId");
    if transaction.is_none() {
        require(&params, &["encryptedDocument", "flags", "documentHash"])?;
    }
    let chain_id = number(&params, "chainId")?.unwrap_or_default();
    let flags = number(&params, "flags")?.unwrap_or_default();
    let chain_text = text(&params, "chainId").unwrap_or_default();
    let decrypter = text(&params, "decrypterAddress").unwrap_or_default();
    let nft = text(&params, "dataNftAddress").unwrap_or_default();
    let nonce = text(&params, "nonce").unwrap_or_default();
    let signature = text(&params, "signature").unwrap_or_default();
    let encrypted = text(&params, "encryptedDocument").unwrap_or_default();
    let hash = text(&params, "documentHash").unwrap_or_default();
    let document = match transaction {
        Some(_) => None,
        None => Some((encrypted.as_ref(), flags.clamp(0, 255) as u8, hash.as_ref())),
    };
    let opened = app
        .services
        .provider
        .decrypt(DecryptRequest {
            decrypter: &decrypter,
            chain_id: u64::try_from(chain_id).unwrap_or_default(),
            chain_id_text: &chain_text,
            data_nft: &nft,
            transaction_id: transaction.as_deref(),
            document,
            nonce: &nonce,
            signature: &signature,
        })
        .await
        .map_err(provider_error)?;
    Ok(plain(StatusCode::CREATED, opened))
}

//! Consuming an asset: `initialize` (the provider fee to order with), `download` (the file,
//! once the order is checked on chain) and `fileinfo`.
use std::collections::HashMap;

use axum::{
    body::Body,
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;
use wharf_core::provider::{DownloadRequest, files::FileObject};

use super::{Reply, error, number, params, provider_error, require, schema, text};
use crate::{rest::legacy_body::read_json, state::AppState};

/// `userdata` as clients send it: a JSON string in a query, or an object in a body.
fn userdata(value: Option<&Value>) -> Result<Option<Value>, Reply> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s)
            .map(Some)
            .map_err(|_| error(StatusCode::BAD_REQUEST, "userdata is not valid JSON.")),
        Some(other) => Ok(Some(other.clone())),
    }
}

/// The provider fee to order a download service with
///
/// With `transferTxId` naming an order still valid: `{"validOrder": tx}`. With `fileIndex`,
/// the file is checked reachable first.
#[utoipa::path(
    get,
    path = "/provider/api/services/initialize",
    operation_id = "providerInitialize",
    tag = "provider",
    params(
        ("documentId" = String, Query, description = "The asset's DID"),
        ("serviceId" = String, Query),
        ("consumerAddress" = String, Query),
        ("fileIndex" = Option<i64>, Query),
        ("transferTxId" = Option<String>, Query),
        ("userdata" = Option<String>, Query, description = "JSON"),
    ),
    responses(
        (status = 200, description = "The fee to order with, or `{\"validOrder\"}`", body = schema::Initialized),
        (status = 400, description = "Validation error, unknown DID or service, an asset not consumable", body = schema::Error),
    )
)]
pub async fn initialize(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Reply, Reply> {
    let params = params(query, None);
    require(&params, &["documentId", "serviceId", "consumerAddress"])?;
    let file_index = number(&params, "fileIndex")?;
    let data = userdata(params.get("userdata"))?;
    let answer = app
        .services
        .provider
        .initialize(
            &text(&params, "documentId").unwrap_or_default(),
            &text(&params, "serviceId").unwrap_or_default(),
            &text(&params, "consumerAddress").unwrap_or_default(),
            file_index,
            text(&params, "transferTxId").as_deref(),
            data.as_ref(),
        )
        .await
        .map_err(provider_error)?;
    Ok(Reply(StatusCode::OK, answer))
}

/// Downloads a file of an ordered asset
///
/// Signed by the consumer over `documentId + nonce`; the order (`transferTxId`) is checked on
/// chain. The file streams through, with `Content-Disposition: attachment;filename=…` and
/// `Content-Range` when a `Range` was asked.
#[utoipa::path(
    get,
    path = "/provider/api/services/download",
    operation_id = "providerDownload",
    tag = "provider",
    params(
        ("documentId" = String, Query), ("serviceId" = String, Query),
        ("consumerAddress" = String, Query), ("transferTxId" = String, Query),
        ("fileIndex" = i64, Query), ("nonce" = String, Query), ("signature" = String, Query),
        ("userdata" = Option<String>, Query, description = "JSON"),
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "Part of the file (Range)"),
        (status = 400, description = "Validation error, bad signature or nonce, an order that does not check out, no such file", body = schema::Error),
    )
)]
pub async fn download(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Reply> {
    let params = params(query, None);
    require(
        &params,
        &[
            "documentId",
            "serviceId",
            "consumerAddress",
            "transferTxId",
            "fileIndex",
            "nonce",
            "signature",
        ],
    )?;
    let file_index = number(&params, "fileIndex")?.unwrap_or_default();
    let data = userdata(params.get("userdata"))?;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let download = app
        .services
        .provider
        .download(DownloadRequest {
            document_id: &text(&params, "documentId").unwrap_or_default(),
            service_id: &text(&params, "serviceId").unwrap_or_default(),
            consumer: &text(&params, "consumerAddress").unwrap_or_default(),
            transfer_tx: &text(&params, "transferTxId").unwrap_or_default(),
            file_index,
            nonce: &text(&params, "nonce").unwrap_or_default(),
            signature: &text(&params, "signature").unwrap_or_default(),
            userdata: data,
            range,
        })
        .await
        .map_err(provider_error)?;
    let status = StatusCode::from_u16(download.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, Body::from_stream(download.body)).into_response();
    let out = response.headers_mut();
    let put = |out: &mut HeaderMap, name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(name, value);
        }
    };
    // No space after ';': ocean.js reads /attachment;filename=(.+)/.
    let filename: String = download
        .filename
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != ';')
        .collect();
    put(
        out,
        header::CONTENT_DISPOSITION,
        &format!("attachment;filename={filename}"),
    );
    put(
        out,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        "Content-Disposition",
    );
    put(out, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    put(out, header::CONTENT_TYPE, &download.content_type);
    if let Some(length) = download.content_length
        && download.content_range.is_none()
    {
        put(out, header::CONTENT_LENGTH, &length.to_string());
    }
    if let Some(range) = &download.content_range {
        put(out, header::CONTENT_RANGE, range);
        put(out, header::ACCEPT_RANGES, "bytes");
    }
    Ok(response)
}

/// Checks the files of an asset's service, or one file object
///
/// `{"did", "serviceId", "checksum"?}`, or a file object (`{"type": "url", "url", …}`) itself.
/// A file that cannot be reached, or only at an address that is not public, is `valid:
/// false`; `checksum` is given for files up to `provider.max_checksum_bytes`.
#[utoipa::path(
    post,
    path = "/provider/api/services/fileinfo",
    operation_id = "providerFileinfo",
    tag = "provider",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 200, description = "One entry per file", body = Vec<schema::FileInfo>),
        (status = 400, description = "Validation error, unknown DID or service", body = schema::Error),
    )
)]
pub async fn fileinfo(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Result<Reply, Reply> {
    let body = read_json(body, app.services.config.http.max_body_bytes)
        .await
        .map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "The request body is not valid JSON.",
            )
        })?;
    let params = params(query, Some(body.clone()));
    // "checksum": "false" is false (upstream took any non-empty string for true).
    let with_checksum = match params.get("checksum") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true") || s == "1",
        _ => false,
    };
    let provider = &app.services.provider;
    let infos = match text(&params, "type") {
        None => {
            require(&params, &["did", "serviceId"])?;
            let did = text(&params, "did").unwrap_or_default();
            if !did.starts_with("did:op") {
                return Err(error(StatusCode::BAD_REQUEST, "Cannot resolve DID"));
            }
            provider
                .asset_fileinfo(
                    &did,
                    &text(&params, "serviceId").unwrap_or_default(),
                    with_checksum,
                )
                .await
                .map_err(provider_error)?
        }
        Some(_) => {
            let file = FileObject::parse(&body)
                .map_err(|e| error(StatusCode::BAD_REQUEST, &e.to_string()))?;
            let data = userdata(body.get("userdata"))?;
            vec![
                provider
                    .check_file(0, &file, data.as_ref(), with_checksum)
                    .await
                    .map_err(provider_error)?,
            ]
        }
    };
    Ok(Reply(
        StatusCode::OK,
        Value::Array(infos.iter().map(|i| i.to_json()).collect()),
    ))
}

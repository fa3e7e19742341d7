//! `POST /upload?quoteId&nonce&signature` (multipart) and `GET|POST /getLink`: the quote's
//! owner sends the files; each streams through the content-addressing engine into the blob
//! store, checked against the quoted length, and the worker takes over.
use axum::{
    extract::{Query, Request, State},
    response::{IntoResponse, Response},
};
use futures::TryStreamExt;
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::io::StreamReader;
use wharf_core::uploads::{
    backend::{BackendError, OwnerSignature},
    upload::{AcceptError, FileError, FileSource, IncomingFile, UploadError, verify_owner},
};

use super::{
    Reply,
    quotes::{quote_error, remote_error},
    schema,
};
use crate::{state::AppState, streaming};

#[derive(Debug, Deserialize)]
pub struct SignedQuery {
    #[serde(rename = "quoteId")]
    quote_id: Option<String>,
    nonce: Option<String>,
    signature: Option<String>,
}

pub fn upload_error(e: UploadError) -> Reply {
    let message = |s: StatusCode, t: &str| Reply::message(s, t);
    match e {
        UploadError::NotFound => message(StatusCode::NOT_FOUND, "Quote does not exist."),
        UploadError::BadSignature => message(StatusCode::BAD_REQUEST, "Invalid signature."),
        UploadError::WrongSigner => message(StatusCode::FORBIDDEN, "Invalid signature."),
        UploadError::BadNonce => message(StatusCode::BAD_REQUEST, "Nonce value invalid."),
        UploadError::Expired => message(
            StatusCode::BAD_REQUEST,
            "Quote already expired, please create a new one.",
        ),
        UploadError::AlreadyUploaded => message(StatusCode::BAD_REQUEST, "Files already uploaded."),
        UploadError::NotDone => message(StatusCode::BAD_REQUEST, "Upload not completed yet."),
        UploadError::SignatureRequired => message(StatusCode::BAD_REQUEST, &e.to_string()),
        UploadError::Db(db) => Reply::internal(db),
    }
}

/// The quote id of a signed request: none, or one that cannot be a quote's, is an unknown
/// quote (404), which upstream answered before looking at the other parameters.
fn quote_param(query: &SignedQuery) -> Result<String, Reply> {
    query
        .quote_id
        .clone()
        .filter(|q| !q.is_empty() && q.len() <= 64)
        .ok_or_else(|| Reply::message(StatusCode::NOT_FOUND, "Quote does not exist."))
}

/// The nonce and signature of a signed request, checked after the quote was found.
fn signature_params(query: SignedQuery) -> Result<(String, String), Reply> {
    match (query.nonce, query.signature) {
        (Some(n), Some(s)) if !n.is_empty() && !s.is_empty() => Ok((n, s)),
        _ => Err(Reply::message(
            StatusCode::BAD_REQUEST,
            "Missing query parameters.",
        )),
    }
}

/// Largest `pageSize` of getHistory (uploader-ui-lib asks for 1000).
const MAX_HISTORY_PAGE: u64 = 1000;

/// Form overhead allowed on top of a quote's bytes when draining a refused upload.
const FORM_OVERHEAD: u64 = 1 << 20;

/// Uploads a quote's files
///
/// Signed by the quote's owner: `signature` is `personal_sign` of
/// `"0x" + hex(sha256(quoteId + nonce))`, and `nonce` must exceed the owner's last one. Each
/// file streams into the blob store (sha256, CID and CommP in one pass) and must have exactly
/// its quoted length; a worker then collects the payment and stores. An unknown quote is 404
/// before the other parameters are checked. A refused or cut-off upload leaves nothing behind,
/// and a refusal is answered after the rest of the body was read (up to a bound).
#[utoipa::path(
    post,
    path = "/upload",
    operation_id = "upload",
    tag = "dbs",
    params(
        ("quoteId" = String, Query, description = "The quote's id"),
        ("nonce" = String, Query, description = "Greater than the owner's last nonce"),
        ("signature" = String, Query, description = "`personal_sign` of `\"0x\" + hex(sha256(quoteId + nonce))`"),
    ),
    request_body(content = schema::UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "`\"File upload succeeded.\"`", body = schema::DbsMessage,
            example = json!("File upload succeeded.")),
        (status = 400, description = "`\"Missing query parameters.\"`, `\"Invalid signature.\"`, \
            `\"Nonce value invalid.\"`, `\"Quote already expired, please create a new one.\"`, \
            `\"Files already uploaded.\"`, `\"No file sent alongside the request.\"`, or what is \
            wrong with the files (count, lengths, form)", body = schema::DbsMessage,
            example = json!("Nonce value invalid.")),
        (status = 403, description = "`\"Invalid signature.\"`: not signed by the quote's owner",
            body = schema::DbsMessage, example = json!("Invalid signature.")),
        (status = 404, description = "`\"Quote does not exist.\"`", body = schema::DbsMessage),
        (status = 408, description = "`\"The upload stalled: nothing arrived for too long.\"`",
            body = schema::DbsMessage, example = json!("The upload stalled: nothing arrived for too long.")),
        (status = 409, description = "The upload was abandoned while it ran", body = schema::DbsMessage),
        (status = 413, description = "`\"Request body too large.\"`", body = schema::DbsMessage,
            example = json!("Request body too large.")),
        (status = 500, description = "`\"Internal server error.\"`", body = schema::DbsMessage),
    )
)]
pub async fn upload(
    State(app): State<AppState>,
    Query(query): Query<SignedQuery>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut body = http_body_util::BodyDataStream::new(body);
    match accept(&app, query, &parts.headers, &mut body).await {
        Ok(reply) => reply.into_response(),
        // The client may still be sending: let it finish (up to a bound) so it reads this.
        Err(Refused { reply, drain }) => {
            streaming::answer_after_draining(&mut body, drain, reply.into_response()).await
        }
    }
}

/// An upload refused, and how much of its remaining body may be read before answering.
struct Refused {
    reply: Reply,
    drain: u64,
}

async fn accept(
    app: &AppState,
    query: SignedQuery,
    headers: &http::HeaderMap,
    body: &mut streaming::BodyStream,
) -> Result<Reply, Refused> {
    let services = &app.services;
    let max_drain = services.config.http.max_refused_body_drain_bytes;
    let refuse = |drain: u64| move |reply: Reply| Refused { reply, drain };
    let quote_id = quote_param(&query).map_err(refuse(max_drain))?;
    let limit = services.config.dbs.max_total_bytes.saturating_add(16 << 20);
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(Refused {
            reply: Reply::message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large."),
            drain: 0,
        });
    }
    // Unknown quotes are 404 before anything else.
    let quote = services
        .quotes
        .get(&quote_id)
        .await
        .map_err(|e| refuse(max_drain)(quote_error(e)))?;
    let drain = quote
        .total_bytes
        .saturating_add(FORM_OVERHEAD)
        .min(max_drain);
    let (nonce, signature) = signature_params(query).map_err(refuse(drain))?;
    let claim = services
        .quotes
        .begin_upload(&quote_id, &nonce, &signature)
        .await
        .map_err(|e| refuse(drain)(upload_error(e)))?;
    let boundary = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| multer::parse_boundary(c).ok())
        .ok_or_else(|| {
            refuse(drain)(Reply::message(
                StatusCode::BAD_REQUEST,
                "No file sent alongside the request.",
            ))
        })?;
    // A storage microservice checks the owner's signature itself: the worker passes it on.
    let signed = claim.quote.remote_url.is_some().then(|| OwnerSignature {
        nonce: nonce.clone(),
        signature: signature.clone(),
    });
    let mut files = MultipartFiles {
        multipart: multer::Multipart::new(&mut *body, boundary),
        other_fields: 0,
    };
    services
        .quotes
        .accept_upload(claim, &mut files, &services.queue, signed)
        .await
        .map_err(|e| refuse(drain)(accept_error(e)))?;
    Ok(Reply::message(StatusCode::OK, "File upload succeeded."))
}

fn accept_error(e: AcceptError<FormError>) -> Reply {
    let bad = |t: &str| Reply::message(StatusCode::BAD_REQUEST, t);
    match e {
        AcceptError::File(FileError::Store(store)) => Reply::internal(store),
        AcceptError::Db(db) => Reply::internal(db),
        AcceptError::Abandoned => Reply::message(StatusCode::CONFLICT, &e.to_string()),
        AcceptError::File(FileError::Stalled) => Reply::message(
            StatusCode::REQUEST_TIMEOUT,
            "The upload stalled: nothing arrived for too long.",
        ),
        other => bad(&other.to_string()),
    }
}

/// Refusals of the multipart form itself.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("The upload was cut off or is not valid multipart.")]
    Malformed,
    #[error("The upload stalled: nothing arrived for too long.")]
    Stalled,
    #[error("Too many form fields other than files.")]
    TooManyFields,
    #[error("Form fields other than files must be small.")]
    FieldTooLarge,
}

/// The files of a multipart upload body, as they stream in. Plain form fields are skipped,
/// but they may be neither large nor many.
struct MultipartFiles<'r> {
    multipart: multer::Multipart<'r>,
    other_fields: usize,
}

fn form_error(e: multer::Error) -> FormError {
    if streaming::is_stall(&e) {
        FormError::Stalled
    } else {
        FormError::Malformed
    }
}

#[async_trait::async_trait]
impl FileSource for MultipartFiles<'_> {
    type Error = FormError;

    async fn next_file(&mut self) -> Result<Option<IncomingFile<'_>>, FormError> {
        loop {
            let Some(mut field) = self.multipart.next_field().await.map_err(form_error)? else {
                return Ok(None);
            };
            let Some(name) = field.file_name().map(str::to_string) else {
                self.other_fields += 1;
                if self.other_fields > 64 {
                    return Err(FormError::TooManyFields);
                }
                let mut seen = 0usize;
                while let Some(chunk) = field.chunk().await.map_err(form_error)? {
                    seen += chunk.len();
                    if seen > 64 * 1024 {
                        return Err(FormError::FieldTooLarge);
                    }
                }
                continue;
            };
            let reader = StreamReader::new(field.map_err(streaming::io_error));
            return Ok(Some(IncomingFile {
                name: Some(name),
                reader: Box::new(reader),
            }));
        }
    }
}

/// Where a quote's files are stored
///
/// Signed as for `POST /upload`. Built-in storages answer one `{"type": "ipfs", "cid": …}` per
/// file, each served by `/ipfs/{cid}`; a storage microservice's answer is passed through.
/// Taken as GET or POST.
#[utoipa::path(
    method(get, post),
    path = "/getLink",
    operation_id = "getLink",
    tag = "dbs",
    params(
        ("quoteId" = String, Query, description = "The quote's id"),
        ("nonce" = String, Query, description = "Greater than the owner's last nonce"),
        ("signature" = String, Query, description = "`personal_sign` of `\"0x\" + hex(sha256(quoteId + nonce))`"),
    ),
    responses(
        (status = 200, description = "One link per file", body = Vec<schema::StorageLink>),
        (status = 400, description = "`\"Missing query parameters.\"`, `\"Invalid signature.\"`, \
            `\"Nonce value invalid.\"`, `\"Upload not completed yet.\"`, or a storage \
            microservice's own JSON", body = serde_json::Value,
            example = json!("Upload not completed yet.")),
        (status = 403, description = "`\"Invalid signature.\"`: not signed by the quote's owner",
            body = schema::DbsMessage, example = json!("Invalid signature.")),
        (status = 404, description = "`\"Quote does not exist.\"`", body = schema::DbsMessage),
        (status = 500, description = "`\"Internal server error.\"`", body = schema::DbsMessage),
        (status = 502, description = "The storage microservice did not answer", body = serde_json::Value,
            example = json!({"error": "No response received"})),
    )
)]
pub async fn link(
    State(app): State<AppState>,
    Query(query): Query<SignedQuery>,
) -> Result<Reply, Reply> {
    let quote_id = quote_param(&query)?;
    let quote = app
        .services
        .quotes
        .get(&quote_id)
        .await
        .map_err(quote_error)?;
    let (nonce, signature) = signature_params(query)?;
    verify_owner(&app.services.db, &quote, &nonce, &signature)
        .await
        .map_err(upload_error)?;
    let backend = app
        .services
        .quotes
        .backend(&quote)
        .await
        .map_err(Reply::internal)?;
    let link = backend
        .link(&quote, &OwnerSignature { nonce, signature })
        .await
        .map_err(|e| match e {
            BackendError::NotDone => upload_error(UploadError::NotDone),
            BackendError::Invalid(text) => Reply::message(StatusCode::BAD_REQUEST, &text),
            BackendError::Remote(remote) => remote_error(remote),
        })?;
    Ok(Reply(StatusCode::OK, link))
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    #[serde(rename = "userAddress")]
    user_address: Option<String>,
    nonce: Option<String>,
    signature: Option<String>,
    storage: Option<String>,
    page: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
}

/// A user's uploads for one storage type
///
/// Signed by the user over `sha256("" + nonce)`: `signature` is `personal_sign` of
/// `"0x" + hex(sha256(nonce))`. Upstream forwarded this unverified; here the signature and nonce
/// are checked. A row per uploaded file, quotes still waiting for files left out. For a storage
/// microservice the service's own page is passed through. Taken as GET or POST.
#[utoipa::path(
    method(get, post),
    path = "/getHistory",
    operation_id = "getHistory",
    tag = "dbs",
    params(
        ("userAddress" = String, Query, description = "The signer"),
        ("nonce" = String, Query, description = "Greater than the user's last nonce"),
        ("signature" = String, Query, description = "`personal_sign` of `\"0x\" + hex(sha256(nonce))`"),
        ("storage" = String, Query, description = "A storage `type`"),
        ("page" = Option<u64>, Query, description = "From 1 (default 1)"),
        ("pageSize" = Option<u64>, Query, description = "1 to 1000 (default 25)"),
    ),
    responses(
        (status = 200, description = "A page of the user's uploads", body = schema::History),
        (status = 400, description = "`\"Missing query parameters. It must include userAddress, nonce, \
            signature and storage.\"`, `\"Invalid userAddress.\"`, `\"page and pageSize must be \
            positive integers.\"`, `\"pageSize must be at most 1000.\"`, `\"Invalid signature.\"`, \
            `\"Nonce value invalid.\"`, or a storage microservice's own JSON",
            body = serde_json::Value, example = json!("Invalid userAddress.")),
        (status = 403, description = "`\"Invalid signature.\"`: signed by another address",
            body = schema::DbsMessage, example = json!("Invalid signature.")),
        (status = 404, description = "`\"No matching storage type found\"`", body = schema::DbsMessage,
            example = json!("No matching storage type found")),
        (status = 500, description = "`\"Internal server error.\"`", body = schema::DbsMessage),
        (status = 502, description = "The storage microservice did not answer", body = serde_json::Value,
            example = json!({"error": "No response received"})),
    )
)]
pub async fn history(
    State(app): State<AppState>,
    Query(q): Query<HistoryQuery>,
) -> Result<Reply, Reply> {
    use std::str::FromStr;
    let missing = || {
        Reply::message(
            StatusCode::BAD_REQUEST,
            "Missing query parameters. It must include userAddress, nonce, signature and storage.",
        )
    };
    let (Some(user), Some(nonce), Some(signature), Some(storage)) =
        (q.user_address, q.nonce, q.signature, q.storage)
    else {
        return Err(missing());
    };
    let user = wharf_core::auth::Address::from_str(&user)
        .map_err(|_| Reply::message(StatusCode::BAD_REQUEST, "Invalid userAddress."))?;
    let number = |v: Option<String>, default: u64| -> Result<u64, Reply> {
        match v {
            None => Ok(default),
            Some(s) => s.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                Reply::message(
                    StatusCode::BAD_REQUEST,
                    "page and pageSize must be positive integers.",
                )
            }),
        }
    };
    let page = number(q.page, 1)?;
    let page_size = number(q.page_size, 25)?;
    if page_size > MAX_HISTORY_PAGE {
        return Err(Reply::message(
            StatusCode::BAD_REQUEST,
            &format!("pageSize must be at most {MAX_HISTORY_PAGE}."),
        ));
    }
    let offered = app
        .services
        .quotes
        .offered()
        .await
        .map_err(Reply::internal)?;
    let Some(offer) = offered.into_iter().find(|o| o.kind == storage) else {
        return Err(Reply::message(
            StatusCode::NOT_FOUND,
            "No matching storage type found",
        ));
    };
    let text = wharf_core::uploads::upload::signed_text("", &nonce);
    wharf_core::uploads::upload::verify_signer(&app.services.db, &user, &text, &nonce, &signature)
        .await
        .map_err(upload_error)?;
    if let Some(url) = offer.microservice_url {
        // The service keeps the history of what it stored: passed through as upstream did.
        let query = [
            ("page", page.to_string()),
            ("pageSize", page_size.to_string()),
            ("userAddress", user.to_checksum(None)),
            ("nonce", nonce),
            ("signature", signature),
        ];
        return match app.services.quotes.microservice(&url).history(&query).await {
            Ok((200, body)) => Ok(Reply(StatusCode::OK, body)),
            Ok((status, body)) => Err(remote_error(
                wharf_core::uploads::microservice::RemoteError::Refused { status, body },
            )),
            Err(e) => Err(remote_error(e)),
        };
    }
    let (max_pages, files) = app
        .services
        .quotes
        .history(&user, &storage, page, page_size)
        .await
        .map_err(quote_error)?;
    // A row per file, as the legacy storage services listed them; the UI shows its `cid`.
    let data: Vec<Value> = files
        .into_iter()
        .map(|f| {
            let q = f.quote;
            serde_json::json!({
                "type": q.storage,
                "quoteId": q.id,
                "created": q.created_at,
                "userAddress": q.owner.to_checksum(None),
                "status": q.status,
                "chainId": q.chain_id,
                "tokenAddress": q.token_address.to_checksum(None),
                "tokenAmount": q.token_amount.to_string(),
                "approveAddress": q.approve_address.to_checksum(None),
                "cid": f.cid,
            })
        })
        .collect();
    Ok(Reply(
        StatusCode::OK,
        serde_json::json!({"type": storage, "maxPages": max_pages, "data": data}),
    ))
}

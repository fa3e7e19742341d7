//! `POST /upload?quoteId&nonce&signature` (multipart) and `GET|POST /getLink`: the quote's
//! owner sends the files; each streams through the content-addressing engine into the blob
//! store, checked against the quoted length, and the worker takes over.
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use futures::TryStreamExt;
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::io::StreamReader;
use wharf_core::uploads::{
    backend::{BackendError, OwnerSignature},
    upload::{FileError, ReceivedFile, UploadError, receive_file, verify_owner},
};

use super::{
    Reply,
    quotes::{quote_error, remote_error},
};
use crate::state::AppState;

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

/// The quote id, then nonce and signature, in the order upstream checked them.
fn signed_params(query: SignedQuery) -> Result<(String, String, String), Reply> {
    let quote_id = query
        .quote_id
        .filter(|q| !q.is_empty() && q.len() <= 64)
        .ok_or_else(|| Reply::message(StatusCode::NOT_FOUND, "Quote does not exist."))?;
    match (query.nonce, query.signature) {
        (Some(n), Some(s)) if !n.is_empty() && !s.is_empty() => Ok((quote_id, n, s)),
        _ => Err(Reply::message(
            StatusCode::BAD_REQUEST,
            "Missing query parameters.",
        )),
    }
}

pub async fn upload(
    State(app): State<AppState>,
    Query(query): Query<SignedQuery>,
    request: Request,
) -> Result<Reply, Reply> {
    let services = app.services.clone();
    let (quote_id, nonce, signature) = signed_params(query)?;
    let limit = services.config.dbs.max_total_bytes.saturating_add(16 << 20);
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(Reply::message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large.",
        ));
    }
    // Unknown quotes are 404 before anything else.
    services.quotes.get(&quote_id).await.map_err(quote_error)?;
    let quote = services
        .quotes
        .begin_upload(&quote_id, &nonce, &signature)
        .await
        .map_err(upload_error)?;
    let files = services
        .quotes
        .files(&quote.id)
        .await
        .map_err(quote_error)?;
    let mut received: Vec<ReceivedFile> = Vec::new();
    let result = receive(&app, request, &files, &mut received).await;
    if let Err(reply) = result {
        // Nothing is kept of a refused upload, and the quote can be uploaded again.
        services
            .quotes
            .discard_upload(&services.content, &quote.id, &received)
            .await;
        return Err(reply);
    }
    services
        .quotes
        .finish_upload(&quote, &received)
        .await
        .map_err(Reply::internal)?;
    // A storage microservice checks the owner's signature itself: the worker passes it on.
    let signed = quote.remote_url.is_some().then(|| OwnerSignature {
        nonce: nonce.clone(),
        signature: signature.clone(),
    });
    services
        .queue
        .push_upload(&quote.id, signed)
        .await
        .map_err(Reply::internal)?;
    Ok(Reply::message(StatusCode::OK, "File upload succeeded."))
}

async fn receive(
    app: &AppState,
    request: Request,
    quoted: &[wharf_entity::quote_file::Model],
    received: &mut Vec<ReceivedFile>,
) -> Result<(), Reply> {
    let bad = |t: &str| Reply::message(StatusCode::BAD_REQUEST, t);
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|_| bad("No file sent alongside the request."))?;
    let mut other_fields = 0usize;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return Err(bad("The upload was cut off or is not valid multipart.")),
        };
        let name = field.file_name().map(str::to_string);
        if name.is_none() {
            // A plain form field: not a file. Skip it, but do not let it be large or many.
            other_fields += 1;
            if other_fields > 64 {
                return Err(bad("Too many form fields other than files."));
            }
            let mut seen = 0usize;
            let mut field = field;
            while let Ok(Some(chunk)) = field.chunk().await {
                seen += chunk.len();
                if seen > 64 * 1024 {
                    return Err(bad("Form fields other than files must be small."));
                }
            }
            continue;
        }
        let Some(expected) = quoted.get(received.len()) else {
            return Err(bad("More files than the quote was made for."));
        };
        let reader = StreamReader::new(field.map_err(std::io::Error::other));
        receive_file(
            &app.services.content,
            reader,
            name,
            expected.length as u64,
            received,
        )
        .await
        .map_err(|e| match e {
            FileError::Store(store) => Reply::internal(store),
            refused => bad(&refused.to_string()),
        })?;
    }
    if received.is_empty() {
        return Err(bad("No file sent alongside the request."));
    }
    if received.len() != quoted.len() {
        return Err(bad("Fewer files than the quote was made for."));
    }
    Ok(())
}

pub async fn link(
    State(app): State<AppState>,
    Query(query): Query<SignedQuery>,
) -> Result<Reply, Reply> {
    let (quote_id, nonce, signature) = signed_params(query)?;
    let quote = app
        .services
        .quotes
        .get(&quote_id)
        .await
        .map_err(quote_error)?;
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

/// `GET /getHistory`: a user's quotes for one storage type, signed over `sha256("" + nonce)`.
/// Upstream forwarded this unverified; here the signature and nonce are checked.
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
    let page_size = number(q.page_size, 25)?.min(1000);
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
    let (max_pages, quotes) = app
        .services
        .quotes
        .history(&user, &storage, page, page_size)
        .await
        .map_err(quote_error)?;
    let data: Vec<Value> = quotes
        .into_iter()
        .map(|q| {
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
                "link": q.link.as_deref().and_then(|l| serde_json::from_str::<Value>(l).ok()),
            })
        })
        .collect();
    Ok(Reply(
        StatusCode::OK,
        serde_json::json!({"type": storage, "maxPages": max_pages, "data": data}),
    ))
}

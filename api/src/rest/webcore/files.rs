//! `/api/*`: web-core's file hosting (MetaDisk), byte for byte as shared/reference/webcore.md
//! §3 describes it, over `wharf_core::hosting`. Legacy strings live here; the flow is in core.
use axum::{
    Json,
    body::Body,
    extract::{Path, Query, Request, State},
    response::{IntoResponse, Response},
};
use futures::TryStreamExt;
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use tokio_util::io::StreamReader;
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_core::hosting::{HostingError, StagedFile};

use super::schema;
use crate::{state::AppState, streaming};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(download))
        .routes(routes!(find))
        .routes(routes!(status))
}

/// A refusal of this family: its status and `{"error": …}` body.
struct Refusal {
    status: StatusCode,
    error: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, error: &'static str) -> Self {
        Self { status, error }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.error}))).into_response()
    }
}

/// The legacy answer to each failure; internal details are logged here, once.
fn refusal(e: HostingError, failing: &'static str) -> Refusal {
    match e {
        HostingError::TooLarge { .. } => {
            Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "file-too-large")
        }
        HostingError::TokenRequired => Refusal::new(StatusCode::UNAUTHORIZED, "token-required"),
        // Upstream's accounts service refused a charge to a token it did not know the same
        // way as one without credit.
        HostingError::UnknownToken | HostingError::InsufficientBalance => {
            Refusal::new(StatusCode::PAYMENT_REQUIRED, "balance-insufficient")
        }
        HostingError::NotFound => Refusal::new(StatusCode::NOT_FOUND, "file-not-found"),
        HostingError::WrongKey => Refusal::new(StatusCode::BAD_REQUEST, "error-downloading-file"),
        HostingError::CutOff => Refusal::new(StatusCode::BAD_REQUEST, "upload-cut-off"),
        HostingError::Stalled => Refusal::new(StatusCode::REQUEST_TIMEOUT, "upload-stalled"),
        HostingError::Unavailable
        | HostingError::Staging(_)
        | HostingError::Content(_)
        | HostingError::Db(_) => {
            tracing::error!(error = %e, "file hosting failed");
            Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, failing)
        }
    }
}

/// Form overhead allowed around the file.
const FORM_OVERHEAD: u64 = 1 << 20;
/// Form fields other than files: how many, and how large each.
const MAX_OTHER_FIELDS: usize = 16;
const MAX_FIELD_BYTES: usize = 4096;

/// Uploads a file
///
/// Multipart with the field `file` and, optionally, `token` (MetaDisk sends `token` first).
/// The file is encrypted with web-core's convergent key (AES-256-CTR, key = HMAC-SHA256 of
/// its SHA-256), stored as ciphertext, and `4 × size` bytes of credit are charged to the
/// token in the transaction that records it. `filehash` is the SHA-256 of the ciphertext; the
/// same file uploaded again gets the same answer and is charged the same, but not stored twice.
#[utoipa::path(
    post,
    path = "/api/upload",
    operation_id = "hostUpload",
    tag = "web-core",
    request_body(content = schema::HostUploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = schema::HostedKey),
        (status = 400, description = "`file-missing`, `upload-cut-off`", body = schema::HostingError),
        (status = 401, description = "`token-required`", body = schema::HostingError),
        (status = 402, description = "`balance-insufficient` (also for a token never issued)", body = schema::HostingError),
        (status = 408, description = "`upload-stalled`", body = schema::HostingError),
        (status = 413, description = "`file-too-large` (`webcore.max_file_bytes`)", body = schema::HostingError),
        (status = 500, description = "`upload-error`", body = schema::HostingError),
    )
)]
pub async fn upload(State(app): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut body = http_body_util::BodyDataStream::new(body);
    match accept(&app, &parts.headers, &mut body).await {
        Ok(stored) => (
            StatusCode::CREATED,
            Json(json!({"filehash": stored.filehash, "key": stored.key})),
        )
            .into_response(),
        // The client may still be sending: let it finish (up to a bound) so it reads this.
        Err((refused, drain)) => {
            streaming::answer_after_draining(&mut body, drain, refused.into_response()).await
        }
    }
}

async fn accept(
    app: &AppState,
    headers: &http::HeaderMap,
    body: &mut streaming::BodyStream,
) -> Result<wharf_core::hosting::Stored, (Refusal, u64)> {
    let hosting = &app.services.hosting;
    let max_drain = app.services.config.http.max_refused_body_drain_bytes;
    let limit = hosting.max_file_bytes().saturating_add(FORM_OVERHEAD);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err((
            Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "file-too-large"),
            0,
        ));
    }
    let missing_file = || {
        (
            Refusal::new(StatusCode::BAD_REQUEST, "file-missing"),
            max_drain,
        )
    };
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| multer::parse_boundary(c).ok())
        .ok_or_else(missing_file)?;
    let mut form = multer::Multipart::new(&mut *body, boundary);
    let mut token: Option<String> = None;
    let mut staged: Option<StagedFile> = None;
    let mut other_fields = 0;
    let malformed = |e: multer::Error| {
        if streaming::is_stall(&e) {
            (
                Refusal::new(StatusCode::REQUEST_TIMEOUT, "upload-stalled"),
                0,
            )
        } else {
            (
                Refusal::new(StatusCode::BAD_REQUEST, "upload-cut-off"),
                max_drain,
            )
        }
    };
    while let Some(mut field) = form.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" && field.file_name().is_some() && staged.is_none() {
            let file_name = field.file_name().map(str::to_string);
            let reader = StreamReader::new((&mut field).map_err(streaming::io_error));
            let result = hosting.stage(file_name.as_deref(), reader).await;
            staged = Some(result.map_err(|e| {
                let drain = if matches!(e, HostingError::TooLarge { .. }) {
                    0
                } else {
                    max_drain
                };
                (refusal(e, "upload-error"), drain)
            })?);
            continue;
        }
        other_fields += 1;
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            value.extend_from_slice(&chunk);
            if value.len() > MAX_FIELD_BYTES || other_fields > MAX_OTHER_FIELDS {
                return Err((
                    Refusal::new(StatusCode::BAD_REQUEST, "upload-error"),
                    max_drain,
                ));
            }
        }
        if name == "token" {
            let text = String::from_utf8_lossy(&value).trim().to_string();
            // A token that cannot pay is refused before the file is read (MetaDisk sends the
            // token first).
            if !text.is_empty() && !token_known(app, &text).await {
                return Err((
                    refusal(HostingError::UnknownToken, "upload-error"),
                    max_drain,
                ));
            }
            token = Some(text);
        }
    }
    let staged = staged.ok_or_else(missing_file)?;
    hosting
        .store(token.as_deref(), staged)
        .await
        .map_err(|e| (refusal(e, "upload-error"), 0))
}

async fn token_known(app: &AppState, token: &str) -> bool {
    // A database error here is not the client's: let the charge decide.
    app.services
        .ledger
        .token_exists(token)
        .await
        .unwrap_or(true)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// The key `POST /api/upload` answered: the plaintext is streamed. Without it, the
    /// ciphertext.
    key: Option<String>,
    /// The access token charged `size` bytes.
    token: Option<String>,
}

/// Downloads a file
///
/// Charges the token the file's size (every hosted file is in wharf's own store: upstream's
/// "cached" price), then streams the plaintext when `key` is given, else the ciphertext. A
/// download that fails or is cut off is refunded. A wrong key is refused before any charge.
#[utoipa::path(
    get,
    path = "/api/download/{filehash}",
    operation_id = "hostDownload",
    tag = "web-core",
    params(("filehash" = String, Path, description = "SHA-256 of the ciphertext"), DownloadQuery),
    responses(
        (status = 200, description = "The file, as an attachment named `<filehash[:7]>_<name>`",
            content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "`error-downloading-file`: the key does not open this file", body = schema::HostingError),
        (status = 401, description = "`token-required`", body = schema::HostingError),
        (status = 402, description = "`balance-insufficient`", body = schema::HostingError),
        (status = 404, description = "`file-not-found`", body = schema::HostingError),
        (status = 500, description = "`error-downloading-file` (refunded)", body = schema::HostingError),
    )
)]
pub async fn download(
    State(app): State<AppState>,
    Path(filehash): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> Response {
    let opened = app
        .services
        .hosting
        .download(&filehash, query.key.as_deref(), query.token.as_deref())
        .await;
    let download = match opened {
        Ok(d) => d,
        Err(e) => return refusal(e, "error-downloading-file").into_response(),
    };
    let disposition = format!("attachment;filename={}", download.name);
    let mut response = Response::new(Body::from_stream(download.body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(download.size));
    // The stored name is sanitised to ASCII letters, digits, `_`, `.` and `-`.
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// Describes a file
///
/// The legacy payload (version 0.2), plus where wharf holds the ciphertext: its CID, served
/// by `/ipfs/{cid}`.
#[utoipa::path(
    get,
    path = "/api/find/{filehash}",
    operation_id = "hostFind",
    tag = "web-core",
    params(("filehash" = String, Path, description = "SHA-256 of the ciphertext")),
    responses(
        (status = 200, description = "The payload", body = schema::HostedPayload),
        (status = 404, description = "`{\"error\": \"File not found\"}`", body = schema::HostingError),
        (status = 500, description = "`{\"error\": \"internal-error\"}`", body = schema::HostingError),
    )
)]
pub async fn find(State(app): State<AppState>, Path(filehash): Path<String>) -> Response {
    match app.services.hosting.find(&filehash).await {
        Ok(Some(file)) => Json(payload(&file)).into_response(),
        Ok(None) => Refusal::new(StatusCode::NOT_FOUND, "File not found").into_response(),
        Err(e) => refusal(e, "internal-error").into_response(),
    }
}

/// The `find` payload of a file.
pub fn payload(file: &wharf_core::hosting::HostedFile) -> serde_json::Value {
    json!({
        "version": "0.2",
        "filename": file.name,
        "filesize": file.size,
        "filehash": file.filehash,
        "datetime": (file.created_at / 1000).to_string(),
        "uploads": [{"host_name": "ipfs", "url": format!("/ipfs/{}", file.cid)}],
        "cid": file.cid,
    })
}

/// Node status
///
/// The legacy shape with wharf's own meters: bytes in (uploads) and out (downloads), all
/// months and this one (UTC); no transfer limits (0 = unlimited, as upstream); storage
/// capacity is the blob store's filesystem. wharf syncs no blockchain: `sync` queues and the
/// `florincoin` section are present with zeros so that MetaDisk renders.
#[utoipa::path(
    get,
    path = "/api/status",
    operation_id = "hostStatus",
    tag = "web-core",
    responses(
        (status = 200, description = "Meters", body = schema::NodeStatus),
        (status = 500, description = "`{\"error\": \"internal-error\"}`", body = schema::HostingError),
    )
)]
pub async fn status(State(app): State<AppState>) -> Response {
    let s = match app.services.hosting.status().await {
        Ok(s) => s,
        Err(e) => return refusal(e, "internal-error").into_response(),
    };
    Json(json!({
        "bandwidth": {
            "total": {"incoming": s.total_incoming, "outgoing": s.total_outgoing},
            "current": {"incoming": s.month_incoming, "outgoing": s.month_outgoing},
            "limits": {"incoming": 0, "outgoing": 0},
        },
        "storage": {"capacity": s.capacity, "used": s.used, "max_file_size": s.max_file_size},
        "sync": {
            "cloud_queue": {"count": 0, "size": 0},
            "blockchain_queue": {"count": 0, "size": 0},
        },
        "florincoin": {"balance": 0.0, "address": "", "block": 0},
    }))
    .into_response()
}

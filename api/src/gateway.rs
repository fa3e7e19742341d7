//! The trustless IPFS gateway: `GET`/`HEAD /ipfs/{cid}` serving raw blocks, CARs in DFS
//! order (`dag-scope=block|entity|all`, no duplicates) and the bytes of UnixFS files
//! (shared/reference/content-addressing.md §8); and `GET`/`HEAD /piece/{pieceCid}`, the CAR
//! of a piece computed from a stored CAR, byte for byte, for providers fetching deal data.
use std::{collections::HashSet, sync::Arc};

use axum::{
    body::Body,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_content::{Cid, car, dagpb};
use wharf_core::{
    content::{BlockKind, ContentError, ContentStore, WalkError, classify},
    services::Services,
};

use crate::state::AppState;

/// What is served by CID (or piece CID) never changes.
const IMMUTABLE: &str = "public, max-age=29030400, immutable";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(serve))
        .routes(routes!(serve_path))
        .routes(routes!(serve_piece))
}

#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GatewayQuery {
    /// `raw` (the block) or `car` (a CAR v1); wins over `Accept`
    /// (`application/vnd.ipld.raw`, `application/vnd.ipld.car`). Neither: the file's bytes.
    format: Option<String>,
    /// What a CAR holds: `block`, `entity` or `all` (default).
    #[serde(rename = "dag-scope")]
    dag_scope: Option<String>,
    /// Names the download (`Content-Disposition`).
    filename: Option<String>,
}

/// Bytes of any kind, for the document.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Raw,
    Car,
    Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Block,
    Entity,
    All,
}

#[derive(Debug, thiserror::Error)]
enum GatewayError {
    #[error("{0}")]
    BadRequest(String),
    #[error("block {0} is not stored here")]
    NotFound(String),
    #[error("no CAR with piece CID {0} is stored here")]
    PieceNotFound(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("internal error")]
    Internal(String),
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = match &self {
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::NotFound(_) | GatewayError::PieceNotFound(_) => StatusCode::NOT_FOUND,
            GatewayError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            GatewayError::Internal(detail) => {
                tracing::error!(error = %detail, "gateway failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response()
    }
}

impl From<ContentError> for GatewayError {
    fn from(e: ContentError) -> Self {
        GatewayError::Internal(e.to_string())
    }
}

impl From<WalkError> for GatewayError {
    fn from(e: WalkError) -> Self {
        match e {
            WalkError::UnsupportedCodec(_) => GatewayError::NotImplemented(e.to_string()),
            WalkError::Malformed(_) => GatewayError::Internal(e.to_string()),
        }
    }
}

/// Content by CID, trustless
///
/// A raw block (`?format=raw`), a CAR v1 in depth-first order without duplicates
/// (`?format=car`, `dag-scope`), or the bytes of a UnixFS file. `HEAD` gives the same headers.
#[utoipa::path(
    method(get, head),
    path = "/ipfs/{cid}",
    operation_id = "ipfs",
    tag = "gateway",
    params(("cid" = String, Path, description = "A CID of a stored block"), GatewayQuery),
    responses(
        (status = 200, description = "The block, the CAR or the file's bytes (`HEAD`: the headers only)",
            content(
                (Binary = "application/vnd.ipld.raw"),
                (Binary = "application/vnd.ipld.car"),
                (Binary = "application/octet-stream"),
            ),
            headers(
                ("Etag" = String),
                ("X-Ipfs-Path" = String),
                ("X-Ipfs-Roots" = String),
                ("Cache-Control" = String, description = "`public, max-age=29030400, immutable`"),
                ("X-Content-Type-Options" = String, description = "`nosniff`"),
                ("Content-Disposition" = String, description = "For raw blocks, CARs and `?filename=`"),
                ("Accept-Ranges" = String, description = "`none` on CARs"),
            )),
        (status = 400, description = "A malformed CID, `format` or `dag-scope`", body = String),
        (status = 404, description = "The block is not stored here", body = String),
        (status = 500, description = "Internal error", body = String),
        (status = 501, description = "A directory or non-UnixFS node asked for as bytes, or a codec other than raw or dag-pb asked to be walked", body = String),
    )
)]
async fn serve(
    State(app): State<AppState>,
    Path(cid): Path<String>,
    Query(query): Query<GatewayQuery>,
    headers: HeaderMap,
) -> Response {
    respond(app.services.clone(), &cid, None, &query, &headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Content by CID and path
///
/// As `/ipfs/{cid}`, for what `path` names inside a UnixFS directory (it may hold slashes).
#[utoipa::path(
    method(get, head),
    // axum's catch-all; the document names it `{path}` (see `openapi::finish`).
    path = "/ipfs/{cid}/{*path}",
    operation_id = "ipfsPath",
    tag = "gateway",
    params(
        ("cid" = String, Path, description = "The CID of a UnixFS directory"),
        ("path" = String, Path, description = "Names inside the directory, `/`-separated"),
        GatewayQuery,
    ),
    responses(
        (status = 200, description = "The block, the CAR or the file's bytes (`HEAD`: the headers only)",
            content(
                (Binary = "application/vnd.ipld.raw"),
                (Binary = "application/vnd.ipld.car"),
                (Binary = "application/octet-stream"),
            ),
            headers(
                ("Etag" = String),
                ("X-Ipfs-Path" = String),
                ("X-Ipfs-Roots" = String),
                ("Cache-Control" = String, description = "`public, max-age=29030400, immutable`"),
                ("X-Content-Type-Options" = String, description = "`nosniff`"),
                ("Content-Disposition" = String, description = "For raw blocks, CARs and `?filename=`"),
                ("Accept-Ranges" = String, description = "`none` on CARs"),
            )),
        (status = 400, description = "A malformed CID, `format` or `dag-scope`, or `format=raw` with a path", body = String),
        (status = 404, description = "The block, or a name on the path, is not stored here", body = String),
        (status = 500, description = "Internal error", body = String),
        (status = 501, description = "A directory or non-UnixFS node asked for as bytes, or a codec other than raw or dag-pb asked to be walked", body = String),
    )
)]
async fn serve_path(
    State(app): State<AppState>,
    Path((cid, path)): Path<(String, String)>,
    Query(query): Query<GatewayQuery>,
    headers: HeaderMap,
) -> Response {
    respond(app.services.clone(), &cid, Some(&path), &query, &headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// A piece's data by piece CID
///
/// The CAR file whose piece CID (CommP of the whole file) is `pieceCid`, as a storage provider
/// fetches it for a deal: pieces this server computed from the CARs it stores (GraphQL
/// `addStoredCar`). `HEAD` gives the same headers. No ranges.
#[utoipa::path(
    method(get, head),
    path = "/piece/{pieceCid}",
    operation_id = "piece",
    tag = "gateway",
    params(("pieceCid" = String, Path, description = "A v1 piece CID (`baga6ea4seaq…`)")),
    responses(
        (status = 200, description = "The CAR (`HEAD`: the headers only)",
            content((Binary = "application/vnd.ipld.car")),
            headers(
                ("Content-Length" = u64),
                ("Etag" = String, description = "The piece CID, quoted"),
                ("Cache-Control" = String, description = "`public, max-age=29030400, immutable`"),
                ("X-Content-Type-Options" = String, description = "`nosniff`"),
            )),
        (status = 400, description = "Not a v1 piece CID", body = String),
        (status = 404, description = "No CAR with this piece CID is stored here", body = String),
        (status = 500, description = "Internal error", body = String),
    )
)]
async fn serve_piece(State(app): State<AppState>, Path(piece_cid): Path<String>) -> Response {
    piece_response(&app.services.content, &piece_cid)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn piece_response(content: &ContentStore, piece_cid: &str) -> Result<Response, GatewayError> {
    wharf_core::filecoin::pieces::check_piece_cid(piece_cid).map_err(GatewayError::BadRequest)?;
    let Some(car) = content
        .car_by_piece(piece_cid)
        .await
        .map_err(ContentError::from)?
    else {
        return Err(GatewayError::PieceNotFound(piece_cid.to_string()));
    };
    let stream = content.read_car(&car).await?;
    let mut out = HeaderMap::new();
    put(
        &mut out,
        header::CONTENT_TYPE.as_str(),
        "application/vnd.ipld.car",
    );
    put(
        &mut out,
        header::CONTENT_LENGTH.as_str(),
        &car.car_bytes.max(0).to_string(),
    );
    put(&mut out, header::CACHE_CONTROL.as_str(), IMMUTABLE);
    put(&mut out, header::X_CONTENT_TYPE_OPTIONS.as_str(), "nosniff");
    put(&mut out, header::ETAG.as_str(), &format!("\"{piece_cid}\""));
    Ok((StatusCode::OK, out, Body::from_stream(stream)).into_response())
}

fn requested_format(query: &GatewayQuery, headers: &HeaderMap) -> Result<Format, GatewayError> {
    // The format parameter wins over Accept.
    if let Some(format) = &query.format {
        return match format.as_str() {
            "raw" => Ok(Format::Raw),
            "car" => Ok(Format::Car),
            other => Err(GatewayError::BadRequest(format!(
                "format={other} is not supported; use raw or car"
            ))),
        };
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for item in accept.split(',') {
        let media = item.split(';').next().unwrap_or("").trim();
        match media {
            "application/vnd.ipld.raw" => return Ok(Format::Raw),
            "application/vnd.ipld.car" => return Ok(Format::Car),
            _ => {}
        }
    }
    Ok(Format::Bytes)
}

fn requested_scope(query: &GatewayQuery) -> Result<Scope, GatewayError> {
    match query.dag_scope.as_deref() {
        None | Some("all") => Ok(Scope::All),
        Some("entity") => Ok(Scope::Entity),
        Some("block") => Ok(Scope::Block),
        Some(other) => Err(GatewayError::BadRequest(format!(
            "dag-scope={other} is not one of block, entity, all"
        ))),
    }
}

async fn respond(
    services: Arc<Services>,
    cid_text: &str,
    path: Option<&str>,
    query: &GatewayQuery,
    headers: &HeaderMap,
) -> Result<Response, GatewayError> {
    let root = Cid::try_from(cid_text)
        .map_err(|e| GatewayError::BadRequest(format!("{cid_text:?} is not a valid CID: {e}")))?;
    let format = requested_format(query, headers)?;
    let scope = requested_scope(query)?;
    let store = services.content.clone();
    let path = path.filter(|p| !p.is_empty());
    if path.is_some() && format == Format::Raw {
        return Err(GatewayError::BadRequest(
            "raw blocks are served without a path".into(),
        ));
    }
    let target = match path {
        Some(path) => resolve_path(&store, root, path).await?,
        None => root,
    };
    let root_block = store
        .block(&target)
        .await?
        .ok_or_else(|| GatewayError::NotFound(target.to_string()))?;
    let ipfs_path = match path {
        Some(p) => format!("/ipfs/{root}/{p}"),
        None => format!("/ipfs/{root}"),
    };
    let mut out = HeaderMap::new();
    put(&mut out, "x-ipfs-path", &ipfs_path);
    put(&mut out, "x-ipfs-roots", &root.to_string());
    put(&mut out, header::CACHE_CONTROL.as_str(), IMMUTABLE);
    put(&mut out, header::X_CONTENT_TYPE_OPTIONS.as_str(), "nosniff");
    match format {
        Format::Raw => {
            let filename = query
                .filename
                .clone()
                .unwrap_or_else(|| format!("{target}.bin"));
            put(
                &mut out,
                header::CONTENT_TYPE.as_str(),
                "application/vnd.ipld.raw",
            );
            put(
                &mut out,
                header::ETAG.as_str(),
                &format!("\"{target}.raw\""),
            );
            put(
                &mut out,
                header::CONTENT_DISPOSITION.as_str(),
                &attachment(&filename),
            );
            put(
                &mut out,
                header::CONTENT_LENGTH.as_str(),
                &root_block.len().to_string(),
            );
            Ok((StatusCode::OK, out, Body::from(root_block)).into_response())
        }
        Format::Car => {
            let kind = classify(&target, &root_block)?;
            let filename = query
                .filename
                .clone()
                .unwrap_or_else(|| format!("{target}.car"));
            let scope_name = match scope {
                Scope::Block => "block",
                Scope::Entity => "entity",
                Scope::All => "all",
            };
            put(
                &mut out,
                header::CONTENT_TYPE.as_str(),
                "application/vnd.ipld.car; version=1; order=dfs; dups=n",
            );
            put(
                &mut out,
                header::ETAG.as_str(),
                &format!("\"{target}.car.{scope_name}\""),
            );
            put(
                &mut out,
                header::CONTENT_DISPOSITION.as_str(),
                &attachment(&filename),
            );
            put(&mut out, header::ACCEPT_RANGES.as_str(), "none");
            let body = stream_car(store, target, root_block, kind, scope);
            Ok((StatusCode::OK, out, body).into_response())
        }
        Format::Bytes => {
            match classify(&target, &root_block)? {
                BlockKind::Raw | BlockKind::File { .. } => {}
                BlockKind::Directory { .. } => {
                    return Err(GatewayError::NotImplemented(
                        "directory listings are not served; ask for ?format=car or a path inside"
                            .into(),
                    ));
                }
                BlockKind::OtherPb { .. } => {
                    return Err(GatewayError::NotImplemented(
                        "only UnixFS files and directories are served as bytes".into(),
                    ));
                }
            }
            let (size, bytes) = store
                .open_file(&target)
                .await?
                .ok_or_else(|| GatewayError::NotFound(target.to_string()))?;
            put(
                &mut out,
                header::CONTENT_TYPE.as_str(),
                "application/octet-stream",
            );
            put(&mut out, header::ETAG.as_str(), &format!("\"{target}\""));
            put(&mut out, header::CONTENT_LENGTH.as_str(), &size.to_string());
            if let Some(name) = &query.filename {
                put(
                    &mut out,
                    header::CONTENT_DISPOSITION.as_str(),
                    &attachment(name),
                );
            }
            Ok((StatusCode::OK, out, Body::from_stream(bytes)).into_response())
        }
    }
}

fn put(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(name, value);
    }
}

fn attachment(filename: &str) -> String {
    let safe: String = filename
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    format!("attachment; filename=\"{safe}\"")
}

/// Follows `a/b/c` through UnixFS directories.
async fn resolve_path(store: &ContentStore, root: Cid, path: &str) -> Result<Cid, GatewayError> {
    let mut current = root;
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let block = store
            .block(&current)
            .await?
            .ok_or_else(|| GatewayError::NotFound(current.to_string()))?;
        if current.codec() != wharf_content::cids::DAG_PB {
            return Err(GatewayError::NotFound(format!("{current}/{segment}")));
        }
        let node = dagpb::decode_node(&block)
            .map_err(|_| GatewayError::Internal(format!("{current} is not dag-pb")))?;
        current = node
            .links
            .iter()
            .find(|l| l.name == segment)
            .map(|l| l.cid)
            .ok_or_else(|| GatewayError::NotFound(format!("{current}/{segment}")))?;
    }
    Ok(current)
}

type Chunk = Result<Bytes, std::io::Error>;

/// Streams header + blocks in DFS pre-order without duplicates. A missing block ends the
/// stream with an error: the client sees a truncated CAR, as the spec asks.
fn stream_car(
    store: ContentStore,
    root: Cid,
    root_block: Bytes,
    kind: BlockKind,
    scope: Scope,
) -> Body {
    let (tx, rx) = mpsc::channel::<Chunk>(8);
    tokio::spawn(async move {
        let send = |bytes: Vec<u8>| tx.send(Ok(Bytes::from(bytes)));
        if send(car::header(&[root])).await.is_err() {
            return;
        }
        let mut section = Vec::new();
        car::append_section(&root, &root_block, &mut section);
        if send(section).await.is_err() {
            return;
        }
        // A directory's entity is the directory node itself, not the files in it.
        let root_only = matches!(
            (scope, &kind),
            (Scope::Block, _) | (Scope::Entity, BlockKind::Directory { .. })
        );
        if root_only {
            return;
        }
        let mut seen: HashSet<Cid> = HashSet::from([root]);
        let mut stack: Vec<Cid> = children_of(&kind).into_iter().rev().collect();
        while let Some(cid) = stack.pop() {
            if !seen.insert(cid) {
                continue;
            }
            let block = match store.block(&cid).await {
                Ok(Some(b)) => b,
                Ok(None) => {
                    let _ = tx
                        .send(Err(std::io::Error::other(format!("block {cid} missing"))))
                        .await;
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, %cid, "reading a block for a CAR failed");
                    let _ = tx
                        .send(Err(std::io::Error::other("block read failed")))
                        .await;
                    return;
                }
            };
            if let Ok(kind) = classify(&cid, &block) {
                stack.extend(children_of(&kind).into_iter().rev());
            }
            let mut section = Vec::with_capacity(block.len() + 48);
            car::append_section(&cid, &block, &mut section);
            if send(section).await.is_err() {
                return;
            }
        }
    });
    Body::from_stream(tokio_stream(rx))
}

fn children_of(kind: &BlockKind) -> Vec<Cid> {
    match kind {
        BlockKind::Raw => Vec::new(),
        BlockKind::File { children, .. }
        | BlockKind::Directory { children }
        | BlockKind::OtherPb { children } => children.clone(),
    }
}

fn tokio_stream(mut rx: mpsc::Receiver<Chunk>) -> impl futures::Stream<Item = Chunk> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

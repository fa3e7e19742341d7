//! `GET|POST /api/v1/contents/{dataset}` (delta-dm JSON, `?import_type=singularity|csv`) and
//! `POST /api/v1/contents` (collection JSON). Imports answer per row: `{success, fail}`.
use axum::{
    Json,
    body::Body,
    extract::{DefaultBodyLimit, Path, Query, State},
};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_core::filecoin::{
    DatasetError,
    contents::{self, ImportOutcome, MAX_ROWS},
    datasets,
};
use wharf_entity::dataset_content;

use super::{ApiError, MAX_IMPORT_BYTES, schema};
use crate::{rest::legacy_body::read_json, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, import))
        .routes(routes!(import_collections))
        .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES))
}

pub fn content_json(c: &dataset_content::Model) -> Value {
    json!({
        "commp": c.comm_p,
        "payload_cid": c.payload_cid,
        "size": c.size,
        "padded_size": c.padded_size,
        "dataset_id": c.dataset_id,
        "num_replications": c.num_replications,
        "content_location": c.content_location.clone().unwrap_or_default(),
    })
}

fn dataset_id(text: &str) -> Result<i32, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad(format!("dataset id {text:?} is not a number")))
}

/// A dataset's pieces
#[utoipa::path(
    get,
    path = "/api/v1/contents/{dataset}",
    operation_id = "listContents",
    tag = "delta-dm",
    security(("operator" = [])),
    params(("dataset" = i32, Path, description = "The dataset's `ID`")),
    responses(
        (status = 200, description = "The dataset's pieces", body = Vec<schema::Content>),
        (status = 400, description = "Not a numeric id", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
    )
)]
async fn list(
    State(app): State<AppState>,
    Path(dataset): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rows = contents::list(&app.services.db, dataset_id(&dataset)?).await?;
    Ok(Json(Value::Array(rows.iter().map(content_json).collect())))
}

#[derive(Deserialize)]
struct ImportQuery {
    import_type: Option<String>,
}

fn json_array(body: Value) -> Result<Vec<Value>, ApiError> {
    match body {
        Value::Array(items) if items.len() <= MAX_ROWS => Ok(items),
        Value::Array(_) => Err(ApiError::bad(format!(
            "an import may hold at most {MAX_ROWS} rows"
        ))),
        _ => Err(ApiError::bad("the body must be a JSON array of contents")),
    }
}

/// Imports pieces into a dataset
///
/// delta-dm JSON rows, Singularity V1 rows (`?import_type=singularity`), or CSV
/// (`?import_type=csv`, header `commP,payloadCid,size,paddedSize`, optional `ContentLocation`).
/// Each row stands alone: the answer lists the pieces imported and the rows refused. Piece CIDs
/// must be v1 `fil-commitment-unsealed`/`sha2-256-trunc254-padded`, payload CIDs dag-pb, raw or
/// dag-cbor, the padded size a power of two ≥ 128 holding `size` after Fr32 padding. At most
/// 256 MiB and 1,000,000 rows.
#[utoipa::path(
    post,
    path = "/api/v1/contents/{dataset}",
    operation_id = "importContents",
    tag = "delta-dm",
    security(("operator" = [])),
    params(
        ("dataset" = i32, Path, description = "The dataset's `ID`"),
        ("import_type" = Option<String>, Query, description = "`singularity`, `csv`, or none (or `json`) for delta-dm JSON"),
    ),
    request_body(description = "The rows", content(
        (schema::ContentImport = "application/json"),
        (String = "text/csv", example = json!("commP,payloadCid,size,paddedSize\nbaga6ea4seaqjtm4sapz4vlxur6m37griffry266er5jwrwvpoodfg7mfl33ukcy,bafybeien5jzez2bsn3eluylu2mcdubnnz7bqbx6umw7ijxwl7ghauaaxjq,24692724205,34359738368\n")),
    )),
    responses(
        (status = 200, description = "Row by row", body = schema::ImportOutcome),
        (status = 400, description = "Not a numeric id, an unknown `import_type`, not a JSON array, too many rows, or CSV without its header", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 404, description = "No such dataset", body = schema::DeltaDmError),
        (status = 413, description = "Over 256 MiB", body = schema::DeltaDmError),
    )
)]
async fn import(
    State(app): State<AppState>,
    Path(dataset): Path<String>,
    Query(query): Query<ImportQuery>,
    body: Body,
) -> Result<Json<ImportOutcome>, ApiError> {
    let db = &app.services.db;
    let id = datasets::get(db, dataset_id(&dataset)?).await?.id;
    let rows = match query.import_type.as_deref() {
        None | Some("") | Some("json") => {
            contents::read_delta_json(&json_array(read_json(body, MAX_IMPORT_BYTES).await?)?)
        }
        Some("singularity") => {
            contents::read_singularity_json(&json_array(read_json(body, MAX_IMPORT_BYTES).await?)?)
        }
        Some("csv") => {
            let bytes = http_body_util::Limited::new(body, MAX_IMPORT_BYTES)
                .collect()
                .await
                .map_err(|_| {
                    ApiError(
                        http::StatusCode::PAYLOAD_TOO_LARGE,
                        format!("an import may be at most {MAX_IMPORT_BYTES} bytes"),
                    )
                })?
                .to_bytes();
            contents::read_csv(&bytes)?
        }
        Some(other) => {
            return Err(DatasetError::Invalid(format!(
                "unknown import_type {other:?}: use singularity or csv, or none for delta-dm JSON"
            ))
            .into());
        }
    };
    let outcome = contents::import(db, rows.into_iter().map(|r| (id, r)).collect()).await?;
    Ok(Json(outcome))
}

/// Imports pieces into datasets named per row
///
/// Collection JSON: each row names its dataset in `collection` and needs a `content_location`.
#[utoipa::path(
    post,
    path = "/api/v1/contents",
    operation_id = "importCollections",
    tag = "delta-dm",
    security(("operator" = [])),
    request_body = Vec<schema::CollectionRow>,
    responses(
        (status = 200, description = "Row by row", body = schema::ImportOutcome),
        (status = 400, description = "Not a JSON array, or too many rows", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 413, description = "Over 256 MiB", body = schema::DeltaDmError),
    )
)]
async fn import_collections(
    State(app): State<AppState>,
    body: Body,
) -> Result<Json<ImportOutcome>, ApiError> {
    let db = &app.services.db;
    let items = json_array(read_json(body, MAX_IMPORT_BYTES).await?)?;
    let rows = contents::read_collections(db, &items).await?;
    Ok(Json(contents::import(db, rows).await?))
}

//! `GET|POST /api/v1/contents/{dataset}` (delta-dm JSON, `?import_type=singularity|csv`) and
//! `POST /api/v1/contents` (collection JSON). Imports answer per row: `{success, fail}`.
use axum::{
    Json, Router,
    body::Body,
    extract::{DefaultBodyLimit, Path, Query, State},
    routing::{get, post},
};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use wharf_core::filecoin::{
    DatasetError,
    contents::{self, ImportOutcome, MAX_ROWS},
    datasets,
};
use wharf_entity::dataset_content;

use super::{ApiError, MAX_IMPORT_BYTES};
use crate::{rest::legacy_body::read_json, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/contents/{dataset}", get(list).post(import))
        .route("/api/v1/contents", post(import_collections))
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

async fn import_collections(
    State(app): State<AppState>,
    body: Body,
) -> Result<Json<ImportOutcome>, ApiError> {
    let db = &app.services.db;
    let items = json_array(read_json(body, MAX_IMPORT_BYTES).await?)?;
    let rows = contents::read_collections(db, &items).await?;
    Ok(Json(contents::import(db, rows).await?))
}

//! `GET|POST /api/v1/datasets`, `PUT /api/v1/datasets/{id}`.
use axum::{
    Json,
    body::Body,
    extract::{Path, State},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_core::filecoin::datasets::{self, DatasetChange, DatasetSummary};
use wharf_entity::{dataset, replication_profile};

use super::{ApiError, parse, providers::profile_json, schema, time};
use crate::{rest::legacy_body::read_json, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update))
}

pub fn dataset_json(d: &dataset::Model) -> Value {
    json!({
        "ID": d.id,
        "CreatedAt": time(d.created_at),
        "UpdatedAt": time(d.updated_at),
        "DeletedAt": null,
        "name": d.name,
        "replication_quota": d.replication_quota,
        "deal_duration": d.deal_duration,
        "contents": null,
    })
}

fn summary_json(s: &DatasetSummary, profiles: &[replication_profile::Model]) -> Value {
    let mut value = dataset_json(&s.dataset);
    if let Some(object) = value.as_object_mut() {
        object.insert("bytes_replicated".into(), json!(s.bytes_replicated));
        object.insert("bytes_total".into(), json!(s.bytes_total));
        object.insert("count_replicated".into(), json!(s.count_replicated));
        object.insert("count_total".into(), json!(s.count_total));
        if !s.wallets.is_empty() {
            let wallets: Vec<Value> = s.wallets.iter().map(|a| json!({"address": a})).collect();
            object.insert("wallets".into(), Value::Array(wallets));
        }
        let mine: Vec<Value> = profiles
            .iter()
            .filter(|p| p.dataset_id == s.dataset.id)
            .map(profile_json)
            .collect();
        object.insert("replication_profiles".into(), Value::Array(mine));
    }
    value
}

/// The datasets
///
/// Each with its byte and piece counters (replicated counts each live replica), wallets and
/// replication profiles.
#[utoipa::path(
    get,
    path = "/api/v1/datasets",
    operation_id = "listDatasets",
    tag = "delta-dm",
    security(("operator" = [])),
    responses(
        (status = 200, description = "Every dataset", body = Vec<schema::DatasetSummary>),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 500, description = "Internal error", body = schema::DeltaDmError),
    )
)]
async fn list(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let db = &app.services.db;
    let summaries = datasets::list(db).await?;
    let profiles = wharf_core::filecoin::providers::list_profiles(db)
        .await
        .map_err(wharf_core::filecoin::DatasetError::from)?;
    Ok(Json(Value::Array(
        summaries
            .iter()
            .map(|s| summary_json(s, &profiles))
            .collect(),
    )))
}

#[derive(Deserialize)]
struct NewDataset {
    name: String,
    replication_quota: u64,
    deal_duration: u64,
}

/// Creates a dataset
///
/// Names match `^[a-z0-9]+(-[a-z0-9]+)*$` (at most 254 characters), the quota is 1 to 1000, the
/// deal duration within `filecoin.min/max_deal_duration_days` (180 to 540 days by default).
#[utoipa::path(
    post,
    path = "/api/v1/datasets",
    operation_id = "createDataset",
    tag = "delta-dm",
    security(("operator" = [])),
    request_body = schema::NewDataset,
    responses(
        (status = 200, description = "The dataset", body = schema::Dataset),
        (status = 400, description = "A field is missing or out of bounds", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 409, description = "A dataset has this name already", body = schema::DeltaDmError),
        (status = 413, description = "The body is over 64 KiB", body = schema::DeltaDmError),
    )
)]
async fn create(State(app): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    let body: NewDataset = parse(read_json(body, 64 * 1024).await?)?;
    let bounds = app.services.config.filecoin.deal_bounds();
    let created = datasets::create(
        &app.services.db,
        &bounds,
        &body.name,
        body.replication_quota,
        body.deal_duration,
    )
    .await?;
    Ok(Json(dataset_json(&created)))
}

#[derive(Deserialize)]
struct Change {
    name: Option<String>,
    replication_quota: Option<u64>,
    deal_duration: Option<u64>,
}

/// Changes a dataset
///
/// Only the fields given; the same bounds as on creation.
#[utoipa::path(
    put,
    path = "/api/v1/datasets/{dataset_id}",
    operation_id = "updateDataset",
    tag = "delta-dm",
    security(("operator" = [])),
    params(("dataset_id" = i32, Path, description = "The dataset's `ID`")),
    request_body = schema::DatasetChange,
    responses(
        (status = 200, description = "The dataset as changed", body = schema::Dataset),
        (status = 400, description = "Not a numeric id, or a field out of bounds", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 404, description = "No such dataset", body = schema::DeltaDmError),
        (status = 409, description = "Another dataset has this name", body = schema::DeltaDmError),
    )
)]
async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let id: i32 = id
        .parse()
        .map_err(|_| ApiError::bad(format!("dataset id {id:?} is not a number")))?;
    let change: Change = parse(read_json(body, 64 * 1024).await?)?;
    let bounds = app.services.config.filecoin.deal_bounds();
    let updated = datasets::update(
        &app.services.db,
        &bounds,
        id,
        DatasetChange {
            name: change.name,
            replication_quota: change.replication_quota,
            deal_duration: change.deal_duration,
        },
    )
    .await?;
    Ok(Json(dataset_json(&updated)))
}

//! `GET|POST /api/v1/datasets`, `PUT /api/v1/datasets/{id}`.
use axum::{
    Json, Router,
    body::Body,
    extract::{Path, State},
    routing::{get, put},
};
use serde::Deserialize;
use serde_json::{Value, json};
use wharf_core::filecoin::datasets::{self, DatasetChange, DatasetSummary};
use wharf_entity::{dataset, replication_profile};

use super::{ApiError, parse, providers::profile_json, time};
use crate::{rest::legacy_body::read_json, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/datasets", get(list).post(create))
        .route("/api/v1/datasets/{dataset_id}", put(update))
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

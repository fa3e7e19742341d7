//! `GET|POST /api/v1/providers`, `PUT /api/v1/providers/{id}`, and
//! `GET|POST|PUT|DELETE /api/v1/replication-profiles`.
use axum::{
    Json,
    body::Body,
    extract::{Path, State},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_core::filecoin::providers::{self, ProviderSummary};
use wharf_entity::{provider, replication_profile};

use super::{ApiError, parse, schema, time};
use crate::{rest::legacy_body::read_json, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update))
        .routes(routes!(
            list_profiles,
            create_profile,
            update_profile,
            delete_profile
        ))
}

pub fn profile_json(p: &replication_profile::Model) -> Value {
    json!({
        "provider_actor_id": p.provider_actor_id,
        "dataset_id": p.dataset_id,
        "unsealed": p.unsealed,
        "indexed": p.indexed,
    })
}

/// A provider as listed: the self-service key is never shown again after creation.
fn provider_json(p: &provider::Model) -> Value {
    json!({
        "actor_id": p.actor_id,
        "actor_name": p.actor_name,
        "allow_self_service": p.allow_self_service,
        "CreatedAt": time(p.created_at),
        "UpdatedAt": time(p.updated_at),
    })
}

fn summary_json(s: &ProviderSummary) -> Value {
    let mut value = provider_json(&s.provider);
    if let Some(object) = value.as_object_mut() {
        object.insert("bytes_replicated".into(), json!(s.bytes_replicated));
        object.insert("count_replicated".into(), json!(s.count_replicated));
        object.insert(
            "replication_profiles".into(),
            Value::Array(s.profiles.iter().map(profile_json).collect()),
        );
    }
    value
}

/// The storage providers
///
/// Each with its byte and piece counters and replication profiles; the self-service key is
/// never shown again after creation.
#[utoipa::path(
    get,
    path = "/api/v1/providers",
    operation_id = "listProviders",
    tag = "delta-dm",
    security(("operator" = [])),
    responses(
        (status = 200, description = "Every provider", body = Vec<schema::ProviderSummary>),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
    )
)]
async fn list(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let list = providers::list(&app.services.db).await?;
    Ok(Json(Value::Array(list.iter().map(summary_json).collect())))
}

/// `"on"`/`"off"` as the CLI sends it, or a JSON boolean.
fn switch(value: &Option<Value>) -> Result<Option<bool>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "on" => Ok(Some(true)),
        Some(Value::String(s)) if s == "off" => Ok(Some(false)),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(other) => Err(ApiError::bad(format!(
            "allow_self_service must be \"on\" or \"off\", not {other}"
        ))),
    }
}

#[derive(Deserialize)]
struct NewProvider {
    actor_id: String,
    actor_name: Option<String>,
    allow_self_service: Option<Value>,
}

/// Adds a storage provider
///
/// Self-service is on unless `allow_self_service` is `"off"`. The answer carries the provider's
/// self-service key (for `X-DELTA-AUTH`) this once; it is stored hashed.
#[utoipa::path(
    post,
    path = "/api/v1/providers",
    operation_id = "createProvider",
    tag = "delta-dm",
    security(("operator" = [])),
    request_body = schema::NewProvider,
    responses(
        (status = 200, description = "The provider, with its key", body = schema::NewlyCreatedProvider),
        (status = 400, description = "Not a Filecoin actor id, or `allow_self_service` neither `\"on\"` nor `\"off\"`", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 409, description = "The provider exists already", body = schema::DeltaDmError),
    )
)]
async fn create(State(app): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    let body: NewProvider = parse(read_json(body, 64 * 1024).await?)?;
    // Self-service is on unless asked otherwise, as delta-dm providers are in practice.
    let allow = switch(&body.allow_self_service)?.unwrap_or(true);
    let (created, key) = providers::create(
        &app.services.db,
        &body.actor_id,
        body.actor_name.as_deref(),
        allow,
    )
    .await?;
    let mut value = provider_json(&created);
    if let Some(object) = value.as_object_mut() {
        object.insert("key".into(), Value::String(key));
    }
    Ok(Json(value))
}

#[derive(Deserialize)]
struct Change {
    actor_name: Option<String>,
    allow_self_service: Option<Value>,
}

/// Changes a storage provider
///
/// An empty `actor_name` or `allow_self_service` changes nothing, as the delta-dm CLI sends
/// both empty when not given.
#[utoipa::path(
    put,
    path = "/api/v1/providers/{provider_id}",
    operation_id = "updateProvider",
    tag = "delta-dm",
    security(("operator" = [])),
    params(("provider_id" = String, Path, description = "The provider's actor id, e.g. `f01000`")),
    request_body = schema::ProviderChange,
    responses(
        (status = 200, description = "The provider as changed", body = schema::Provider),
        (status = 400, description = "`allow_self_service` neither `\"on\"` nor `\"off\"`", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 404, description = "No such provider", body = schema::DeltaDmError),
    )
)]
async fn update(
    State(app): State<AppState>,
    Path(actor_id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let change: Change = parse(read_json(body, 64 * 1024).await?)?;
    // The delta-dm CLI sends `"actor_name": ""` when no name is given: keep the name.
    let name = change.actor_name.as_deref().filter(|n| !n.is_empty());
    let updated = providers::update(
        &app.services.db,
        &actor_id,
        name,
        switch(&change.allow_self_service)?,
    )
    .await?;
    Ok(Json(provider_json(&updated)))
}

/// The replication profiles
#[utoipa::path(
    get,
    path = "/api/v1/replication-profiles",
    operation_id = "listReplicationProfiles",
    tag = "delta-dm",
    security(("operator" = [])),
    responses(
        (status = 200, description = "Every profile", body = Vec<schema::ReplicationProfile>),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
    )
)]
async fn list_profiles(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let profiles = providers::list_profiles(&app.services.db)
        .await
        .map_err(wharf_core::filecoin::DatasetError::from)?;
    Ok(Json(Value::Array(
        profiles.iter().map(profile_json).collect(),
    )))
}

#[derive(Deserialize)]
struct Profile {
    provider_actor_id: String,
    dataset_id: i32,
    #[serde(default)]
    unsealed: bool,
    #[serde(default)]
    indexed: bool,
}

/// Lets a provider receive deals for a dataset
#[utoipa::path(
    post,
    path = "/api/v1/replication-profiles",
    operation_id = "createReplicationProfile",
    tag = "delta-dm",
    security(("operator" = [])),
    request_body = schema::ReplicationProfile,
    responses(
        (status = 200, description = "The profile", body = schema::ReplicationProfile),
        (status = 400, description = "A field is missing", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 404, description = "No such provider or dataset", body = schema::DeltaDmError),
        (status = 409, description = "The profile exists already", body = schema::DeltaDmError),
    )
)]
async fn create_profile(State(app): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    let p: Profile = parse(read_json(body, 64 * 1024).await?)?;
    let created = providers::create_profile(
        &app.services.db,
        &p.provider_actor_id,
        p.dataset_id,
        p.unsealed,
        p.indexed,
    )
    .await?;
    Ok(Json(profile_json(&created)))
}

/// Changes a replication profile's `unsealed` and `indexed`
///
/// The profile is the one of `provider_actor_id` and `dataset_id`.
#[utoipa::path(
    put,
    path = "/api/v1/replication-profiles",
    operation_id = "updateReplicationProfile",
    tag = "delta-dm",
    security(("operator" = [])),
    request_body = schema::ReplicationProfile,
    responses(
        (status = 200, description = "The profile as changed", body = schema::ReplicationProfile),
        (status = 400, description = "A field is missing", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 404, description = "No such profile", body = schema::DeltaDmError),
    )
)]
async fn update_profile(State(app): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    let p: Profile = parse(read_json(body, 64 * 1024).await?)?;
    let updated = providers::update_profile(
        &app.services.db,
        &p.provider_actor_id,
        p.dataset_id,
        p.unsealed,
        p.indexed,
    )
    .await?;
    Ok(Json(profile_json(&updated)))
}

#[derive(Deserialize)]
struct ProfileKey {
    provider_actor_id: String,
    dataset_id: i32,
}

/// Deletes a replication profile
#[utoipa::path(
    delete,
    path = "/api/v1/replication-profiles",
    operation_id = "deleteReplicationProfile",
    tag = "delta-dm",
    security(("operator" = [])),
    request_body = schema::ProfileKey,
    responses(
        (status = 200, description = "A bare string", body = schema::DeltaDmMessage,
            example = json!("replication profile with ProviderActorID f01000 and DatasetID 1 deleted successfully")),
        (status = 400, description = "A field is missing", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 404, description = "No such profile", body = schema::DeltaDmError),
    )
)]
async fn delete_profile(State(app): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    let key: ProfileKey = parse(read_json(body, 64 * 1024).await?)?;
    providers::delete_profile(&app.services.db, &key.provider_actor_id, key.dataset_id).await?;
    Ok(Json(Value::String(format!(
        "replication profile with ProviderActorID {} and DatasetID {} deleted successfully",
        key.provider_actor_id, key.dataset_id
    ))))
}

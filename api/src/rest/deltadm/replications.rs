//! `POST /api/v1/replications` (reserve pieces for a provider; a worker makes the deals) and
//! `GET /api/v1/replications` with delta-dm's filters.
use std::collections::HashMap;

use axum::{
    Json, Router,
    body::Body,
    extract::{Query, State},
    routing::get,
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use wharf_core::filecoin::replications::{self, Filters, ReplicationRequest, RequestDealsError};
use wharf_entity::{dataset_content, replication};

use super::{ApiError, contents::content_json, parse, time};
use crate::{rest::legacy_body::read_json, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/replications", get(list).post(create))
}

pub fn replication_json(r: &replication::Model, content: Option<&dataset_content::Model>) -> Value {
    json!({
        "ID": r.id,
        "CreatedAt": time(r.created_at),
        "UpdatedAt": time(r.updated_at),
        "DeletedAt": null,
        "content": content.map(content_json),
        "deal_time": time(r.deal_time),
        "delta_content_id": r.delta_content_id.unwrap_or(0),
        "deal_uuid": r.deal_uuid,
        "on_chain_deal_id": r.on_chain_deal_id,
        "proposal_cid": r.proposal_cid,
        "provider_actor_id": r.provider_actor_id,
        "content_commp": r.content_comm_p,
        "status": r.status,
        "delta_message": r.delta_message,
        "start_epoch": r.start_epoch,
        "end_epoch": r.end_epoch,
        "self_service": {
            "is_self_service": r.ss_is_self_service,
            "last_update": if r.ss_last_update == 0 { json!("0001-01-01T00:00:00Z") } else { time(r.ss_last_update) },
            "status": r.ss_status,
            "message": r.ss_message,
        },
    })
}

#[derive(Deserialize)]
struct NewReplications {
    provider: String,
    dataset_id: Option<i32>,
    num_deals: Option<u64>,
    delay_start_days: Option<u64>,
}

/// Reserves replications and queues the deals; shared with self-service.
pub async fn reserve_and_queue(
    app: &AppState,
    request: ReplicationRequest,
) -> Result<Vec<(replication::Model, replications::Candidate)>, ApiError> {
    replications::request_deals(&app.services, &request)
        .await
        .map_err(|e| match e {
            RequestDealsError::NoEngine => ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            RequestDealsError::Dataset(d) => d.into(),
            RequestDealsError::Queue(q) => {
                tracing::error!(error = %q, "queueing MakeDeals failed");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        })
}

async fn create(State(app): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    let body: NewReplications = parse(read_json(body, 64 * 1024).await?)?;
    let num_deals = body
        .num_deals
        .ok_or_else(|| ApiError::bad("must specify num_deals"))?;
    let reserved = reserve_and_queue(
        &app,
        ReplicationRequest {
            provider: body.provider,
            dataset_id: body.dataset_id,
            piece_cid: None,
            num_deals,
            delay_days: body.delay_start_days.unwrap_or(3),
            end_advance_days: 0,
            self_service: false,
            located_only: false,
        },
    )
    .await?;
    let contents = wharf_core::filecoin::contents::by_pieces(
        &app.services.db,
        reserved
            .iter()
            .map(|(r, _)| r.content_comm_p.clone())
            .collect(),
    )
    .await?;
    Ok(Json(Value::Array(
        reserved
            .iter()
            .map(|(r, _)| {
                replication_json(r, contents.iter().find(|c| c.comm_p == r.content_comm_p))
            })
            .collect(),
    )))
}

fn list_of(query: &HashMap<String, String>, key: &str) -> Vec<String> {
    query
        .get(key)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn number<T: std::str::FromStr>(
    query: &HashMap<String, String>,
    key: &str,
) -> Result<Option<T>, ApiError> {
    match query.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad(format!("{key} must be a number, not {v:?}"))),
    }
}

pub fn filters(query: &HashMap<String, String>) -> Result<Filters, ApiError> {
    let self_service = match query.get("self_service").map(String::as_str) {
        None | Some("") => None,
        Some("true") | Some("1") => Some(true),
        Some("false") | Some("0") => Some(false),
        Some(other) => {
            return Err(ApiError::bad(format!(
                "self_service must be true or false, not {other:?}"
            )));
        }
    };
    Ok(Filters {
        statuses: list_of(query, "statuses"),
        dataset_names: list_of(query, "datasets"),
        providers: list_of(query, "providers"),
        self_service,
        deal_time_start: number(query, "deal_time_start")?,
        deal_time_end: number(query, "deal_time_end")?,
        message: query.get("message").filter(|m| !m.is_empty()).cloned(),
        proposal_cid: query.get("proposal_cid").filter(|m| !m.is_empty()).cloned(),
        piece_cid: query.get("piece_cid").filter(|m| !m.is_empty()).cloned(),
        dataset_id: None,
        limit: number(query, "limit")?.unwrap_or(100),
        offset: number(query, "offset")?.unwrap_or(0),
    })
}

async fn list(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let filters = filters(&query)?;
    let (rows, total) = replications::list(&app.services.db, &filters)
        .await
        .map_err(wharf_core::filecoin::DatasetError::from)?;
    Ok(Json(json!({
        "data": rows.iter().map(|(r, c)| replication_json(r, c.as_ref())).collect::<Vec<_>>(),
        "totalCount": total,
    })))
}

//! `POST /api/v1/replications` (reserve pieces for a provider; a worker makes the deals) and
//! `GET /api/v1/replications` with delta-dm's filters.
use std::collections::HashMap;

use axum::{
    Json,
    body::Body,
    extract::{Query, State},
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_core::filecoin::replications::{self, Filters, ReplicationRequest, RequestDealsError};
use wharf_entity::{dataset_content, replication};

use super::{ApiError, contents::content_json, parse, schema, time};
use crate::{rest::legacy_body::read_json, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create))
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

/// Reserves pieces for a provider
///
/// Pieces of the datasets the provider has a profile for, under their quota and not live with
/// it already, in import order. The replications are `ddm-pending`; a worker hands them to the
/// deal engine.
#[utoipa::path(
    post,
    path = "/api/v1/replications",
    operation_id = "createReplications",
    tag = "delta-dm",
    security(("operator" = [])),
    request_body = schema::NewReplications,
    responses(
        (status = 200, description = "The reserved replications", body = Vec<schema::Replication>),
        (status = 400, description = "`must specify num_deals`, a delay out of bounds, a dataset without a wallet, or a deal term too short", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
        (status = 404, description = "No such provider or dataset, or nothing to replicate to this provider", body = schema::DeltaDmError),
        (status = 503, description = "No deal engine is configured", body = schema::DeltaDmError),
    )
)]
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

/// Replications, newest first, filtered
///
/// Filters are ANDed; `proposal_cid` or `piece_cid` alone select.
#[utoipa::path(
    get,
    path = "/api/v1/replications",
    operation_id = "listReplications",
    tag = "delta-dm",
    security(("operator" = [])),
    params(
        ("statuses" = Option<String>, Query, description = "Comma-separated statuses, exact match"),
        ("datasets" = Option<String>, Query, description = "Comma-separated dataset names"),
        ("providers" = Option<String>, Query, description = "Comma-separated actor ids"),
        ("self_service" = Option<bool>, Query, description = "`true`/`1` or `false`/`0`"),
        ("deal_time_start" = Option<i64>, Query, description = "Unix seconds, inclusive"),
        ("deal_time_end" = Option<i64>, Query, description = "Unix seconds, inclusive"),
        ("message" = Option<String>, Query, description = "Substring of the deal engine's message"),
        ("proposal_cid" = Option<String>, Query, description = "One deal proposal"),
        ("piece_cid" = Option<String>, Query, description = "One piece"),
        ("limit" = Option<u64>, Query, description = "Default 100; above 10,000 is taken as 10,000"),
        ("offset" = Option<u64>, Query, description = "Default 0"),
    ),
    responses(
        (status = 200, description = "A page and the total count", body = schema::ReplicationPage),
        (status = 400, description = "A filter that is not a number or a boolean", body = schema::DeltaDmError),
        (status = 401, description = "No, a malformed or a wrong operator key", body = schema::DeltaDmMessage),
    )
)]
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

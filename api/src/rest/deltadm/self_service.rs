//! `/api/v1/self-service/*`: a storage provider asks for pieces itself, authorised by its key
//! in `X-DELTA-AUTH`.
use std::collections::HashMap;

use axum::{
    Json,
    body::Body,
    extract::{Path, Query, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_core::filecoin::{
    datasets,
    providers::{self, SelfServiceError},
    replications::{self, ReplicationRequest},
};
use wharf_entity::provider;

use super::{ApiError, parse, replications::reserve_and_queue, schema};
use crate::{rest::legacy_body::read_json, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(by_cid))
        .routes(routes!(by_dataset))
        .routes(routes!(available))
        .routes(routes!(telemetry))
}

/// The provider whose key is in `X-DELTA-AUTH`; refusals are bare JSON strings, all 401 as
/// upstream (a provider not allowed to self-serve included).
async fn provider_of(app: &AppState, headers: &HeaderMap) -> Result<provider::Model, Response> {
    let key = headers.get("x-delta-auth").and_then(|v| v.to_str().ok());
    providers::by_key(&app.services.db, key).await.map_err(|e| {
        let status = match e {
            SelfServiceError::Db(db) => {
                tracing::error!(error = %db, "self-service lookup failed");
                return ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
                    .into_response();
            }
            _ => StatusCode::UNAUTHORIZED,
        };
        (status, Json(Value::from(e.to_string()))).into_response()
    })
}

fn days(query: &HashMap<String, String>, key: &str, default: u64) -> Result<u64, ApiError> {
    match query.get(key).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::bad(format!("{key} must be a whole number of days"))),
    }
}

async fn one_deal(
    app: &AppState,
    provider: provider::Model,
    query: &HashMap<String, String>,
    dataset_id: Option<i32>,
    piece_cid: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let delay = days(query, "start_epoch_delay", 3)?;
    let advance = days(query, "end_epoch_advance", 0)?;
    if advance > 20 {
        return Err(ApiError::bad("end_epoch_advance must be between 0 and 20"));
    }
    let reserved = reserve_and_queue(
        app,
        ReplicationRequest {
            provider: provider.actor_id,
            dataset_id,
            piece_cid,
            num_deals: 1,
            delay_days: delay,
            end_advance_days: advance,
            self_service: true,
            located_only: false,
        },
    )
    .await?;
    let (_, candidate) = &reserved[0];
    Ok(Json(json!({
        "cid": candidate.payload_cid,
        "content_location": candidate.content_location.clone().unwrap_or_default(),
    })))
}

/// Makes a deal for one piece with the calling provider
///
/// The provider needs a replication profile for the piece's dataset; the piece must be under
/// its quota and not live with the provider already.
#[utoipa::path(
    get,
    path = "/api/v1/self-service/by-cid/{piece}",
    operation_id = "selfServiceByCid",
    tag = "delta-dm",
    security(("provider_key" = [])),
    params(
        ("piece" = String, Path, description = "The piece CID (CommP)"),
        ("start_epoch_delay" = Option<u64>, Query, description = "Days before the deal starts, 1 to 14 (default 3)"),
        ("end_epoch_advance" = Option<u64>, Query, description = "Days the deal ends earlier, 0 to 20 (default 0)"),
    ),
    responses(
        (status = 200, description = "The piece's payload CID and where to fetch it", body = schema::SelfServiceDeal),
        (status = 400, description = "A delay or advance out of bounds, a dataset without a wallet, or a deal term too short", body = schema::DeltaDmError),
        (status = 401, description = "`\"missing provider self-service token\"`, `\"invalid provider self-service token\"` or `\"provider is not allowed to self-serve, please contact administrator to enable it\"`", body = schema::DeltaDmMessage,
            example = json!("invalid provider self-service token")),
        (status = 404, description = "No such piece, or nothing to replicate to this provider", body = schema::DeltaDmError),
        (status = 503, description = "No deal engine is configured", body = schema::DeltaDmError),
    )
)]
async fn by_cid(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(piece): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let provider = match provider_of(&app, &headers).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    one_deal(&app, provider, &query, None, Some(piece))
        .await
        .into_response()
}

/// Makes a deal for the next piece of a dataset with the calling provider
#[utoipa::path(
    get,
    path = "/api/v1/self-service/by-dataset/{dataset}",
    operation_id = "selfServiceByDataset",
    tag = "delta-dm",
    security(("provider_key" = [])),
    params(
        ("dataset" = String, Path, description = "The dataset's name"),
        ("start_epoch_delay" = Option<u64>, Query, description = "Days before the deal starts, 1 to 14 (default 3)"),
        ("end_epoch_advance" = Option<u64>, Query, description = "Days the deal ends earlier, 0 to 20 (default 0)"),
    ),
    responses(
        (status = 200, description = "The piece's payload CID and where to fetch it", body = schema::SelfServiceDeal),
        (status = 400, description = "A delay or advance out of bounds, a dataset without a wallet, or a deal term too short", body = schema::DeltaDmError),
        (status = 401, description = "`\"missing provider self-service token\"`, `\"invalid provider self-service token\"` or `\"provider is not allowed to self-serve, please contact administrator to enable it\"`", body = schema::DeltaDmMessage,
            example = json!("invalid provider self-service token")),
        (status = 404, description = "No such dataset, or nothing to replicate to this provider", body = schema::DeltaDmError),
        (status = 503, description = "No deal engine is configured", body = schema::DeltaDmError),
    )
)]
async fn by_dataset(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(dataset): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let provider = match provider_of(&app, &headers).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let dataset = match datasets::by_name(&app.services.db, &dataset).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return ApiError(
                StatusCode::NOT_FOUND,
                format!("dataset {dataset} does not exist"),
            )
            .into_response();
        }
        Err(e) => {
            return ApiError::from(wharf_core::filecoin::DatasetError::from(e)).into_response();
        }
    };
    one_deal(&app, provider, &query, Some(dataset.id), None)
        .await
        .into_response()
}

/// Pieces the calling provider may ask for
///
/// Pieces with a known location, of datasets the provider has a profile for, under quota and
/// not live with it already. `null` when there is nothing, as upstream.
#[utoipa::path(
    get,
    path = "/api/v1/self-service/available-contents",
    operation_id = "availableContents",
    tag = "delta-dm",
    security(("provider_key" = [])),
    params(("limit" = Option<u64>, Query, description = "Default 500, at most `filecoin.max_available_contents`")),
    responses(
        (status = 200, description = "The pieces, or `null` when there are none", body = Option<Vec<schema::AvailableContent>>),
        (status = 400, description = "`limit` out of bounds", body = schema::DeltaDmError),
        (status = 401, description = "`\"missing provider self-service token\"`, `\"invalid provider self-service token\"` or `\"provider is not allowed to self-serve, please contact administrator to enable it\"`", body = schema::DeltaDmMessage,
            example = json!("invalid provider self-service token")),
    )
)]
async fn available(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let provider = match provider_of(&app, &headers).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let cap = app.services.config.filecoin.max_available_contents;
    let limit = match query.get("limit").filter(|l| !l.is_empty()) {
        None => 500,
        Some(l) => match l.parse::<u64>() {
            Ok(n) if (1..=cap).contains(&n) => n,
            _ => {
                return ApiError::bad(format!("limit must be between 1 and {cap}")).into_response();
            }
        },
    };
    let request = ReplicationRequest {
        provider: provider.actor_id,
        dataset_id: None,
        piece_cid: None,
        num_deals: limit,
        delay_days: 3,
        end_advance_days: 0,
        self_service: true,
        located_only: true,
    };
    match replications::candidates(&app.services.db, &request).await {
        // Nothing available is `null`, as upstream (a nil Go slice).
        Ok(found) if found.is_empty() => Json(Value::Null).into_response(),
        Ok(found) => Json(Value::Array(
            found
                .iter()
                .map(|c| {
                    json!({
                        "payload_cid": c.payload_cid,
                        "piece_cid": c.comm_p,
                        "size": c.size,
                        "padded_size": c.padded_size,
                        "content_location": c.content_location,
                    })
                })
                .collect(),
        ))
        .into_response(),
        Err(e) => ApiError::from(wharf_core::filecoin::DatasetError::from(e)).into_response(),
    }
}

#[derive(Deserialize)]
struct Telemetry {
    deal_uuid: String,
    state: String,
    #[serde(default)]
    message: String,
}

/// Reports how a self-service deal is going
///
/// The deal (by `deal_uuid`) must be the calling provider's. The answer is 200 with no body.
#[utoipa::path(
    put,
    path = "/api/v1/self-service/telemetry/{cid}",
    operation_id = "selfServiceTelemetry",
    tag = "delta-dm",
    security(("provider_key" = [])),
    params(("cid" = String, Path, description = "The piece's CID (not checked, as upstream)")),
    request_body = schema::Telemetry,
    responses(
        (status = 200, description = "Recorded; no body"),
        (status = 400, description = "A field is missing or too long", body = schema::DeltaDmError),
        (status = 401, description = "`\"missing provider self-service token\"`, `\"invalid provider self-service token\"` or `\"provider is not allowed to self-serve, please contact administrator to enable it\"`", body = schema::DeltaDmMessage,
            example = json!("invalid provider self-service token")),
        (status = 404, description = "No replication with this deal uuid for this provider", body = schema::DeltaDmError),
    )
)]
async fn telemetry(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(_cid): Path<String>,
    body: Body,
) -> Response {
    let provider = match provider_of(&app, &headers).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let result: Result<(), ApiError> = async {
        let t: Telemetry = parse(read_json(body, 64 * 1024).await?)?;
        if t.state.len() > 128 || t.message.len() > 4096 {
            return Err(ApiError::bad("state or message too long"));
        }
        let found = replications::record_telemetry(
            &app.services.db,
            &provider.actor_id,
            &t.deal_uuid,
            &t.state,
            &t.message,
        )
        .await
        .map_err(wharf_core::filecoin::DatasetError::from)?;
        if !found {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!(
                    "no replication with deal uuid {} for this provider",
                    t.deal_uuid
                ),
            ));
        }
        app.services
            .feed
            .publish(wharf_core::feed::Topic::Replication, "")
            .await;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

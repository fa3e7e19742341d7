//! `GET /`: the storages on offer and how each can be paid.
use axum::{Json, extract::State, response::IntoResponse};
use serde_json::{Value, json};

use super::{Reply, schema};
use crate::state::AppState;

/// The storages on offer
///
/// Each with the chains and tokens it takes payment in. A registered storage microservice is
/// listed while its registration is fresh.
#[utoipa::path(
    get,
    path = "/",
    operation_id = "listStorages",
    tag = "dbs",
    responses(
        (status = 200, description = "The storages, oldest first", body = Vec<schema::Storage>),
        (status = 500, description = "`\"Internal server error.\"`", body = schema::DbsMessage),
    )
)]
pub async fn list(State(app): State<AppState>) -> Result<impl IntoResponse, Reply> {
    let offers = app
        .services
        .quotes
        .offered()
        .await
        .map_err(Reply::internal)?;
    let body: Vec<Value> = offers
        .into_iter()
        .map(|o| json!({"type": o.kind, "description": o.description, "payment": o.payment}))
        .collect();
    Ok(Json(Value::Array(body)))
}

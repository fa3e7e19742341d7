//! `GET /`: the storages on offer and how each can be paid.
use axum::{Json, extract::State, response::IntoResponse};
use serde_json::{Value, json};

use super::Reply;
use crate::state::AppState;

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

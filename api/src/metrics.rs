//! Prometheus metrics: one process-wide recorder, rendered at `/metrics`.
use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once per process (tests build many apps in one process).
pub fn handle() -> PrometheusHandle {
    let installed = HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().ok());
    match installed {
        Some(handle) => handle.clone(),
        // Another recorder is installed: render an empty, private one instead of failing.
        None => PrometheusBuilder::new().build_recorder().handle(),
    }
}

/// Prometheus metrics
///
/// `wharf_http_requests_total`, `wharf_http_request_duration_seconds` (by method, route,
/// status), `wharf_jobs_total` (by queue, outcome), `wharf_job_duration_seconds`,
/// `wharf_db_statements_total`, `wharf_graphql_subscriptions_open`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String,
        content_type = "text/plain; version=0.0.4"))
)]
pub async fn render(State(app): State<AppState>) -> impl IntoResponse {
    use std::sync::atomic::Ordering;
    let services = &app.services;
    metrics::counter!("wharf_db_statements_total")
        .absolute(services.db_statements.load(Ordering::Relaxed));
    metrics::gauge!("wharf_graphql_subscriptions_open")
        .set(services.subscriptions.load(Ordering::Relaxed) as f64);
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}

/// Counts requests and records their latency by method, route template and status.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("wharf_http_requests_total", &labels).increment(1);
    metrics::histogram!("wharf_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

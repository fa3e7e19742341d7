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

/// Latency buckets in seconds, from a cached read (1 ms) to a slow upload or job (2 min).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0,
];

/// Latencies as histograms (buckets add up across replicas; summaries' quantiles do not).
fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)
        .unwrap_or_else(|_| PrometheusBuilder::new())
}

/// Installs the recorder once per process (tests build many apps in one process), and says
/// what each metric is (`# HELP`).
pub fn handle() -> PrometheusHandle {
    let installed = HANDLE.get_or_init(|| {
        let handle = builder().install_recorder().ok()?;
        describe();
        Some(handle)
    });
    match installed {
        Some(handle) => handle.clone(),
        // Another recorder is installed: render an empty, private one instead of failing.
        None => builder().build_recorder().handle(),
    }
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "wharf_http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        "wharf_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by method, route template and status"
    );
    describe_counter!(
        "wharf_jobs_total",
        "Background job runs, by queue and outcome (done; failed: retried until its attempts run out; aborted: given up at once)"
    );
    describe_histogram!(
        "wharf_job_duration_seconds",
        Unit::Seconds,
        "Time a background job ran, by queue"
    );
    describe_counter!(
        "wharf_db_statements_total",
        "Database statements this process has sent"
    );
    describe_gauge!(
        "wharf_graphql_subscriptions_open",
        "GraphQL subscriptions open in this process"
    );
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

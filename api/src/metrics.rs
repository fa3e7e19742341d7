//! Prometheus metrics: one process-wide recorder, rendered at `/metrics`.
use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{LazyLock, Mutex, OnceLock},
    task::{Context, Poll, ready},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, State},
    http::Method,
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

/// Route layer: counts requests and records their latency by method, route template and
/// status. A plain service, not `middleware::from_fn`: that boxes a future and clones the
/// route's whole service on every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackLayer;

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Track<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Track<S>
where
    S: tower::Service<http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = method_label(req.method());
        let route = req.extensions().get::<MatchedPath>().cloned();
        Tracked {
            started: Instant::now(),
            method,
            route,
            inner: self.inner.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's response on its way; recorded when it is ready (a request whose client
    /// went away before is not counted).
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: &'static str,
        route: Option<MatchedPath>,
    }
}

impl<F, E> Future for Tracked<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
            record(this.method, route, response, *this.started);
        }
        Poll::Ready(result)
    }
}

/// The method as a label: a client may send any token as a method, and each would start new
/// time series, so methods outside RFC 9110's are counted as "other".
fn method_label(method: &Method) -> &'static str {
    [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::PATCH, "PATCH"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ]
    .iter()
    .find(|(known, _)| known == method)
    .map_or("other", |(_, label)| label)
}

/// The request counter and latency histogram of one method and status, per route template.
type RouteMetrics = HashMap<(&'static str, u16), (metrics::Counter, metrics::Histogram)>;

/// Handles by route template, so that a request looks its metrics up by `&str` instead of
/// building three label strings and two metric keys each time. Bounded: route templates are
/// the router's, methods are the standard ones or "other", statuses are at most 500 codes.
static HTTP_METRICS: LazyLock<Mutex<HashMap<String, RouteMetrics>>> =
    LazyLock::new(Default::default);

fn record(method: &'static str, route: &str, response: &Response, started: Instant) {
    let status = response.status().as_u16();
    let cached = HTTP_METRICS
        .lock()
        .ok()
        .and_then(|m| m.get(route)?.get(&(method, status)).cloned());
    let (requests, duration) = match cached {
        Some(handles) => handles,
        None => {
            let labels = [
                ("method", method.to_string()),
                ("route", route.to_string()),
                ("status", status.to_string()),
            ];
            let handles = (
                metrics::counter!("wharf_http_requests_total", &labels),
                metrics::histogram!("wharf_http_request_duration_seconds", &labels),
            );
            if let Ok(mut all) = HTTP_METRICS.lock() {
                all.entry(route.to_string())
                    .or_default()
                    .insert((method, status), handles.clone());
            }
            handles
        }
    };
    requests.increment(1);
    duration.record(started.elapsed().as_secs_f64());
}

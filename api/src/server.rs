//! The router and the serving loop.
use std::{convert::Infallible, sync::Arc, time::Duration};

use tower::ServiceExt as _;

use axum::{
    Json, Router,
    response::IntoResponse,
    routing::{get, post},
};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use tower_http::{
    cors::{AllowOrigin, Any, CorsLayer},
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_core::services::Services;

use crate::{
    gateway, graphql, health, metrics, openapi, rest,
    state::{App, AppState},
    streaming,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What a `wharf worker` process serves on `worker_listen`: its health and its metrics (the
/// jobs it ran), for probes and for Prometheus to scrape every replica.
pub fn operations_router(services: Arc<Services>) -> Router {
    let schemas = graphql::build(services.clone());
    let state = AppState(Arc::new(App {
        services,
        schemas,
        metrics: metrics::handle(),
    }));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .fallback(no_route)
        .with_state(state)
}

/// What `axum::serve` can run: the HTTP application as one tower service.
pub trait HttpApp:
    tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> HttpApp for S where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Builds the whole HTTP application over started services.
pub fn router(services: Arc<Services>) -> impl HttpApp {
    let config = services.config.clone();
    let schemas = graphql::build(services.clone());
    let state = AppState(Arc::new(App {
        services,
        schemas,
        metrics: metrics::handle(),
    }));

    // The GraphQL handler bounds its own body: small for JSON, a quote's size for uploads.
    let mut graphql_routes = Router::new()
        .route("/graphql", post(graphql::http::execute))
        .route("/graphql/ws", get(graphql::http::subscriptions));
    if config.graphql.graphiql {
        graphql_routes = graphql_routes.route("/graphql", get(graphql::http::graphiql));
    }

    // REST routes are mounted and documented by the same registrations.
    let (rest_routes, doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(rest::webcore::token::router())
        .merge(rest::webcore::files::router())
        .merge(gateway::router())
        .merge(rest::dbs::router())
        .merge(rest::deltadm::router(state.clone()))
        .merge(rest::provider::router())
        .routes(routes!(crate::results::result))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::render))
        .split_for_parts();

    let routes = Router::new()
        .merge(graphql_routes)
        .merge(rest_routes)
        .merge(openapi::router(openapi::finish(doc)))
        .merge(crate::ui::router())
        .fallback(no_route)
        .route_layer(metrics::TrackLayer)
        .with_state(state);

    // Around the router as one service, not with `Router::layer`: that wraps every route in
    // the whole stack, which then was cloned with the route on every request.
    let layers = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
                let request_id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", request_id = %request_id, method = %req.method(), uri = %crate::telemetry::loggable_path(req.uri().path()))
            })
            // One access-log line per request, at info, inside the request's span; the latency
            // a number (milliseconds), not text.
            .on_response(
                |response: &http::Response<_>, latency: Duration, _span: &tracing::Span| {
                    tracing::info!(
                        status = response.status().as_u16(),
                        latency_ms = latency.as_secs_f64() * 1000.0,
                        "finished processing request"
                    );
                },
            ),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(cors(&config.http.cors_allowed_origins))
        // Uploads are bounded by their progress, everything else by the request timeout.
        .layer(streaming::LimitsLayer(streaming::Limits {
            request_timeout: Duration::from_secs(config.http.request_timeout_secs),
            body_idle: Duration::from_secs(config.http.upload_idle_secs),
        }))
        .layer(crate::ui::BrowsersToAppLayer)
        // Before routing: delta-dm ignored trailing slashes, and its CLI sends them.
        .map_request(trim_delta_dm_slash);
    layers
        .service(routes)
        .map_response(IntoResponse::into_response)
}

/// A UUID v4 request id from the thread's RNG: tower-http's `MakeRequestUuid` asks the kernel
/// (getrandom) on every request, 2.4 % of a balance read's time in the profile.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        // Written into a stack buffer: `to_string` went through the formatting machinery.
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        HeaderValue::from_bytes(id.hyphenated().encode_lower(&mut text).as_bytes())
            .ok()
            .map(RequestId::new)
    }
}

/// No route has this path: 404, marked so that a route's own 404 (an unknown quote, a block
/// not stored) can be told apart from it.
async fn no_route() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        [(HeaderName::from_static("x-wharf-route"), "none")],
        Json(serde_json::json!({"error": "no such route"})),
    )
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(Any);
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(Any);
    }
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    layer.allow_origin(AllowOrigin::list(allowed))
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: impl HttpApp,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// `/api/v1/providers/` is `/api/v1/providers`, as delta-dm's server (echo's
/// RemoveTrailingSlash) took it. Other families keep their paths exactly (DBS answered 404).
fn trim_delta_dm_slash(mut request: axum::extract::Request) -> axum::extract::Request {
    let path = request.uri().path();
    if path.starts_with("/api/v1/") && path.len() > "/api/v1/".len() && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = rebuilt.parse::<http::Uri>() {
            *request.uri_mut() = uri;
        }
    }
    request
}

//! The router and the serving loop.
use std::{sync::Arc, time::Duration};

use axum::{
    Router, middleware,
    routing::{get, post},
};
use http::{HeaderName, HeaderValue, Method};
use tower_http::{
    cors::{AllowOrigin, Any, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use wharf_core::services::Services;

use crate::{
    gateway, graphql, health, metrics, rest,
    state::{App, AppState},
    streaming,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the whole HTTP application over started services.
pub fn router(services: Arc<Services>) -> Router {
    let config = services.config.clone();
    let schema = graphql::build(services.clone());
    let state = AppState(Arc::new(App {
        services,
        schema,
        metrics: metrics::handle(),
    }));

    // The GraphQL handler bounds its own body: small for JSON, a quote's size for uploads.
    let mut graphql_routes = Router::new()
        .route("/graphql", post(graphql::http::execute))
        .route("/graphql/ws", get(graphql::http::subscriptions));
    if config.graphql.graphiql {
        graphql_routes = graphql_routes.route("/graphql", get(graphql::http::graphiql));
    }

    Router::new()
        .merge(graphql_routes)
        .merge(rest::webcore::token::router())
        .merge(gateway::router())
        .merge(rest::dbs::router())
        .merge(rest::deltadm::router(state.clone()))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route_layer(middleware::from_fn(metrics::track))
        .with_state(state)
        // Uploads are bounded by their progress, everything else by the request timeout.
        .layer(middleware::from_fn_with_state(
            streaming::Limits {
                request_timeout: Duration::from_secs(config.http.request_timeout_secs),
                body_idle: Duration::from_secs(config.http.upload_idle_secs),
            },
            streaming::limit,
        ))
        .layer(cors(&config.http.cors_allowed_origins))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
                let request_id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", request_id = %request_id, method = %req.method(), uri = %crate::telemetry::loggable_path(req.uri().path()))
            })
            // One access-log line per request, at info, inside the request's span.
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
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
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

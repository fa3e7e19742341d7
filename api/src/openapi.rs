//! The OpenAPI 3.1 document of the REST routes, served at `/openapi.json`, and Swagger UI at
//! `/docs`. Paths come from the handlers' `#[utoipa::path]` annotations, collected by the
//! `routes!` registrations that also mount them (see `server::router`); this module adds what
//! belongs to the whole document: info, tags and security schemes.
use axum::Router;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wharf",
        version = env!("CARGO_PKG_VERSION"),
        description = "Storage, datasets and byte credits behind the REST APIs of the legacy \
            systems wharf replaces, each wire-compatible with its clients (one tag per family):\n\n\
            - **dbs**: the Ocean Uploader (DBS) at `/`, as uploader.js and the storage \
            microservices speak it: storages, quotes, signed uploads, status, links, history.\n\
            - **delta-dm**: the Delta Dataset Manager at `/api/v1`, as its CLI speaks it: Filecoin \
            datasets, contents, providers, replication profiles, replications, wallets, and the \
            providers' self-service.\n\
            - **web-core**: the accounts (token) API of Storj web-core (MetaDisk) at \
            `/accounts/token`: access tokens and their byte credits.\n\
            - **gateway**: the trustless IPFS gateway at `/ipfs/{cid}`.\n\
            - **provider**: the Ocean Provider at `/provider`: nonce, encrypt/decrypt, \
            initialize, download, fileinfo, compute-to-data; and DDOs at \
            `/api/aquarius/assets/ddo/{did}`.\n\
            - **compute**: result files of compute jobs for a signed-in wallet (GraphQL's links).\n\
            - **operations**: health, readiness and Prometheus metrics.\n\n\
            GraphQL is not described here: it is served at `/graphql` (subscriptions over \
            graphql-ws at `/graphql/ws`), and its schema is committed as `schema.graphql`."
    ),
    tags(
        (name = "dbs", description = "Ocean Uploader (DBS). Plain messages are JSON-encoded strings; \
            a method a route does not take answers 405 `{\"detail\": \"Method \\\"GET\\\" not allowed.\"}`."),
        (name = "delta-dm", description = "Delta Dataset Manager. Errors use the envelope \
            `{\"error\": {\"code\", \"reason\", \"details\"}}` with real status codes; \
            authentication refusals are bare JSON strings. Paths may end with `/`."),
        (name = "web-core", description = "web-core's token API. Any token string is taken; one \
            wharf did not issue gets a zero balance on first use."),
        (name = "gateway", description = "Trustless IPFS gateway over the blob store."),
        (name = "provider", description = "Ocean Provider at `/provider` (its root, then \
            `/api/services/...`), and wharf's Aquarius-compatible DDO route. Validation errors \
            are flask-sieve's `{\"message\": \"Validation error\", \"errors\": {…}, \"success\": false}`, \
            others `{\"error\": …}` with URLs cut out."),
        (name = "compute", description = "Compute job results for GraphQL sessions: the same \
            bearer token as `/graphql`."),
        (name = "operations", description = "Health, readiness and metrics."),
    ),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// The legacy credentials, named by the routes' `security(...)`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("delta-dm operator routes: `WHARF_ADMIN_API_KEY`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A GraphQL session token (Sign-In with Ethereum)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "provider_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-DELTA-AUTH",
                "delta-dm self-service: the provider's key, returned when it was created",
            ))),
        );
        components.add_security_scheme(
            "webcore_secret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authentication",
                "web-core deposit and withdraw: `WHARF_WEBCORE_SECRET`",
            ))),
        );
    }
}

/// Turns what the registrations collected into valid OpenAPI 3.1.
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    // axum's catch-all `{*path}` is OpenAPI's `{path}` (whose value may hold slashes).
    doc.paths.paths = std::mem::take(&mut doc.paths.paths)
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    // A handler mounted for several methods (GET and POST, GET and HEAD) is one operation id
    // under each; OpenAPI wants them unique, so those get their method appended.
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for item in doc.paths.paths.values_mut() {
        for (_, operation) in operations(item) {
            if let Some(id) = &operation.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        for (method, operation) in operations(item) {
            if let Some(id) = operation.operation_id.as_mut()
                && seen.get(id.as_str()).is_some_and(|n| *n > 1)
            {
                id.push('_');
                id.push_str(method);
            }
        }
    }
    doc
}

/// The operations of a path item, with their methods in lower case.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|o| (method, o)))
}

/// `GET /openapi.json` and Swagger UI at `/docs`, its files served from the binary.
pub fn router(doc: utoipa::openapi::OpenApi) -> Router<AppState> {
    // No validator badge: it would send the document's URL to swagger.io.
    let config = Config::default().validator_url("none");
    SwaggerUi::new("/docs")
        .url("/openapi.json", doc)
        .config(config)
        .into()
}

#[cfg(test)]
mod tests {
    use utoipa_axum::{router::OpenApiRouter, routes};

    use super::*;

    /// Answers anything.
    #[utoipa::path(
        method(get, post),
        path = "/files/{id}/{*rest}",
        operation_id = "files"
    )]
    async fn files() {}

    #[test]
    fn catch_alls_are_renamed_and_operation_ids_made_unique() {
        let (_, doc) = OpenApiRouter::<()>::with_openapi(ApiDoc::openapi())
            .routes(routes!(files))
            .split_for_parts();
        let doc = serde_json::to_value(finish(doc)).expect("the document serialises");
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1"))
        );
        assert_eq!(doc["info"]["title"], "wharf");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let item = &doc["paths"]["/files/{id}/{rest}"];
        assert_eq!(item["get"]["operationId"], "files_get");
        assert_eq!(item["post"]["operationId"], "files_post");
        let schemes = doc["components"]["securitySchemes"]
            .as_object()
            .expect("security schemes");
        assert_eq!(schemes["operator"]["scheme"], "bearer");
        assert_eq!(schemes["provider_key"]["name"], "X-DELTA-AUTH");
        assert_eq!(schemes["webcore_secret"]["name"], "Authentication");
    }
}

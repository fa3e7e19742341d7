//! The Ocean Provider family at `/provider` (shared/reference/ocean-provider.md): clients get
//! `http://host:8080/provider` as their provider URL, read its root and call
//! `/api/services/...` below it. Also wharf's own Aquarius-compatible DDO route. Legacy error
//! shapes live here: flask-sieve's validation errors and `{"error": …}` with request data
//! never echoed.
pub mod aquarius;
pub mod compute;
pub mod consume;
pub mod encryption;
pub mod root;
pub mod schema;

use std::collections::HashMap;

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};
use wharf_core::provider::ProviderError;

use crate::state::AppState;

/// Where the family is mounted; ocean.js appends the paths of the root's `serviceEndpoints`.
pub const PREFIX: &str = "/provider";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(root::root))
        .routes(routes!(root::root_slash))
        .routes(routes!(root::nonce))
        .routes(routes!(encryption::encrypt))
        .routes(routes!(encryption::decrypt))
        .routes(routes!(consume::initialize))
        .routes(routes!(consume::download))
        .routes(routes!(consume::fileinfo))
        .routes(routes!(compute::environments))
        .routes(routes!(compute::initialize))
        .routes(routes!(
            compute::start,
            compute::status,
            compute::stop,
            compute::delete
        ))
        .routes(routes!(compute::result))
        .routes(routes!(compute::validate_container))
        .routes(routes!(aquarius::ddo))
}

/// A Provider answer: a status and a JSON body.
pub struct Reply(pub StatusCode, pub Value);

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(self.1)).into_response();
        // Upstream closed every connection; clients do not depend on it, so keep-alive stays.
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        response
    }
}

/// `{"error": text}`, with anything that looks like a URL cut out (upstream's rule: errors
/// never hand back where files live).
pub fn error(status: StatusCode, text: &str) -> Reply {
    let stripped: Vec<&str> = text
        .split_whitespace()
        .map(|word| {
            if url::Url::parse(word).is_ok_and(|u| u.has_host()) {
                "<URL stripped for security reasons>"
            } else {
                word
            }
        })
        .collect();
    Reply(status, json!({ "error": stripped.join(" ") }))
}

/// flask-sieve's 400: `{"message":"Validation error","errors":{field: …},"success":false}`.
pub fn validation(errors: serde_json::Map<String, Value>) -> Reply {
    Reply(
        StatusCode::BAD_REQUEST,
        json!({"message": "Validation error", "errors": errors, "success": false}),
    )
}

/// The request's parameters: the query string, then the JSON body's fields for names the
/// query does not have. (Upstream ignored the body whenever a query string was present.)
pub type Params = HashMap<String, Value>;

pub fn params(query: HashMap<String, String>, body: Option<Value>) -> Params {
    let mut out: Params = query
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    if let Some(Value::Object(fields)) = body {
        for (k, v) in fields {
            out.entry(k).or_insert(v);
        }
    }
    out
}

/// The text of a parameter (numbers as written), if present and not empty.
pub fn text<'a>(params: &'a Params, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    match params.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.as_str().into()),
        Value::Number(n) => Some(n.to_string().into()),
        _ => None,
    }
}

/// Refuses a request missing any of `names`, naming each as flask-sieve does.
pub fn require(params: &Params, names: &[&str]) -> Result<(), Reply> {
    let mut errors = serde_json::Map::new();
    for name in names {
        if text(params, name).is_none() {
            errors.insert(
                (*name).to_string(),
                json!([format!("The {name} field is required.")]),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(validation(errors))
    }
}

/// A parameter that must be a number.
pub fn number(params: &Params, name: &str) -> Result<Option<i64>, Reply> {
    match text(params, name) {
        None => Ok(None),
        Some(t) => t.parse::<i64>().map(Some).map_err(|_| {
            let mut errors = serde_json::Map::new();
            errors.insert(
                name.into(),
                json!([format!("The {name} must be a number.")]),
            );
            validation(errors)
        }),
    }
}

/// The legacy answer of a domain error. Internal failures are logged once here.
pub fn provider_error(e: ProviderError) -> Reply {
    use wharf_core::{auth::nonce::NonceError, net::FetchError, provider::assets::AssetError};
    let bad = |text: &str| error(StatusCode::BAD_REQUEST, text);
    match e {
        ProviderError::Signature(_) => {
            let mut errors = serde_json::Map::new();
            errors.insert(
                "signature".into(),
                json!("Invalid signature provided. Please check the nonce or documentId."),
            );
            validation(errors)
        }
        ProviderError::Nonce(NonceError::NotIncreasing { last }) => {
            let mut errors = serde_json::Map::new();
            errors.insert(
                "signature".into(),
                json!(format!(
                    "Invalid signature expected nonce > current nonce ({last})."
                )),
            );
            validation(errors)
        }
        ProviderError::Nonce(_) => {
            let mut errors = serde_json::Map::new();
            errors.insert("nonce".into(), json!(["The nonce must be a number."]));
            validation(errors)
        }
        ProviderError::DecrypterNotAuthorized | ProviderError::AssetState(_) => {
            error(StatusCode::FORBIDDEN, &e.to_string())
        }
        ProviderError::Asset(AssetError::NotFound) => bad("Cannot resolve DID"),
        ProviderError::Asset(AssetError::Cache(detail)) => {
            tracing::warn!(%detail, "the metadata cache failed");
            error(
                StatusCode::BAD_GATEWAY,
                "The metadata cache did not answer.",
            )
        }
        ProviderError::UnknownService
        | ProviderError::ComputeService
        | ProviderError::NotAccess(_)
        | ProviderError::Order { .. }
        | ProviderError::NoFiles => bad(&format!("Provider: {e}")),
        ProviderError::Fetch(
            FetchError::Forbidden { .. } | FetchError::Scheme | FetchError::BadUrl,
        ) => bad(
            "The file's URL points to an address wharf does not fetch from (not a public http(s) address).",
        ),
        ProviderError::Fetch(FetchError::TooManyRedirects(_) | FetchError::BadRedirect) => {
            bad("The file's URL redirects too many times or to nowhere.")
        }
        ProviderError::Fetch(_) => bad("Provider: Asset URL not found, not available or invalid."),
        ProviderError::UnknownChain(chain) => bad(&format!("Unsupported chain {chain}.")),
        ProviderError::Db(db) => {
            tracing::error!(error = %db, "provider route failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
        }
        ProviderError::Internal(detail) => {
            tracing::error!(%detail, "provider route failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
        }
        other => bad(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_cut_out_of_errors() {
        let Reply(_, body) = error(
            StatusCode::BAD_REQUEST,
            "file at https://secret.example/x.csv unreachable",
        );
        assert_eq!(
            body["error"],
            "file at <URL stripped for security reasons> unreachable"
        );
    }

    #[test]
    fn the_query_wins_and_the_body_fills_in() {
        let p = params(
            HashMap::from([("a".to_string(), "1".to_string())]),
            Some(json!({"a": "2", "b": 3})),
        );
        assert_eq!(text(&p, "a").as_deref(), Some("1"));
        assert_eq!(text(&p, "b").as_deref(), Some("3"));
        let missing = require(&p, &["a", "c"]).err().unwrap();
        assert_eq!(missing.1["errors"]["c"][0], "The c field is required.");
    }
}

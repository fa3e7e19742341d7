//! The web app at `/ui`, built from `ui/` (Vite) and embedded in the binary, so that
//! `wharf serve` serves it with nothing else installed. A browser opening `/` is sent there;
//! DBS clients asking `/` for JSON keep getting their storage list.
use axum::{
    Router,
    body::Body,
    extract::Path,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use futures::future::Either;
use http::{HeaderValue, StatusCode, header};
use std::{
    future::{Ready, ready},
    task::{Context, Poll},
};

#[derive(rust_embed::Embed)]
#[folder = "../ui/dist"]
struct Assets;

/// What the app may load: only this server (no CDN at run time), scripts and styles from
/// files, GraphQL over HTTP and WebSocket to this origin.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { asset("index.html") }))
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>| async move { asset(&path) }),
        )
}

fn asset(path: &str) -> Response {
    // Paths of the app's own routes (not files) get the app, which routes them.
    let (path, file) = match Assets::get(path) {
        Some(file) => (path, file),
        None if !path.starts_with("assets/") => match Assets::get("index.html") {
            Some(file) => ("index.html", file),
            None => return missing(),
        },
        None => return StatusCode::NOT_FOUND.into_response(),
    };
    let mime = file.metadata.mimetype().to_string();
    let mut response = Response::new(Body::from(file.data.into_owned()));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    // Built files carry their hash in their name; the page itself is checked every time.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if path.ends_with(".html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    response
}

/// A binary built without the app (an empty `ui/dist`) says so instead of a bare 404.
fn missing() -> Response {
    (
        StatusCode::NOT_FOUND,
        "the web app was not built into this binary: run `npm ci && npm run build` in ui/",
    )
        .into_response()
}

/// Layer: `GET /` from a browser (it accepts text/html) goes to the app. A plain service: it
/// sits in front of every request, where `middleware::from_fn`'s boxing showed.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowsersToAppLayer;

impl<S> tower::Layer<S> for BrowsersToAppLayer {
    type Service = BrowsersToApp<S>;

    fn layer(&self, inner: S) -> BrowsersToApp<S> {
        BrowsersToApp { inner }
    }
}

#[derive(Debug, Clone)]
pub struct BrowsersToApp<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for BrowsersToApp<S>
where
    S: tower::Service<http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let wants_html = || {
            request
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
        };
        if request.method() == http::Method::GET && request.uri().path() == "/" && wants_html() {
            return Either::Left(ready(Ok(Redirect::to("/ui/").into_response())));
        }
        Either::Right(self.inner.call(request))
    }
}

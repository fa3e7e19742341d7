//! Long transfers. Request bodies are bounded by progress — a body that sends nothing for
//! `http.upload_idle_secs` ends with [`Stalled`] — and only requests that are not streaming
//! uploads are under the whole-request timeout. A refused upload whose client is still sending
//! is drained (up to a bound) before the answer, so the client reads it instead of a reset.
use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::Request,
    response::{IntoResponse, Response},
};
use futures::{FutureExt, StreamExt, future::Either};
use http::{HeaderValue, StatusCode, header};
use http_body::{Frame, SizeHint};

/// A request body sent nothing for longer than the idle limit.
#[derive(Debug, thiserror::Error)]
#[error("the request body sent nothing for {0:?}")]
pub struct Stalled(pub Duration);

/// Whether `error` (or anything it wraps) is a stalled body.
pub fn is_stall(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<Stalled>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// An I/O error for a body error: `TimedOut` for a stall, so the content store can say so.
pub fn io_error(error: impl std::error::Error + Send + Sync + 'static) -> std::io::Error {
    let kind = if is_stall(&error) {
        std::io::ErrorKind::TimedOut
    } else {
        std::io::ErrorKind::Other
    };
    std::io::Error::new(kind, error)
}

/// A body that fails with [`Stalled`] when no frame arrives for `idle`.
struct IdleBody {
    inner: Body,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl HttpBody for IdleBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + this.idle;
                this.timer.as_mut().reset(deadline);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(Stalled(this.idle))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The limits every request runs under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Whole-request limit for everything but streaming uploads.
    pub request_timeout: Duration,
    /// Longest silence of a request body.
    pub body_idle: Duration,
}

/// Requests that stream a large body: bounded by their progress only.
fn is_streaming_upload<B>(req: &http::Request<B>) -> bool {
    match req.uri().path() {
        "/upload" | "/api/upload" => true,
        "/graphql" => req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.as_bytes().get(..b"multipart/".len()))
            .is_some_and(|start| start.eq_ignore_ascii_case(b"multipart/")),
        _ => false,
    }
}

/// Layer: the idle limit on every body, the whole-request timeout on all but uploads. A plain
/// service rather than `middleware::from_fn`, which boxes a future and clones the service
/// below on every request.
#[derive(Debug, Clone, Copy)]
pub struct LimitsLayer(pub Limits);

impl<S> tower::Layer<S> for LimitsLayer {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Limited<S> {
        Limited {
            inner,
            limits: self.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limited<S> {
    inner: S,
    limits: Limits,
}

type Outcome = Result<Response, Infallible>;

/// A response, or 408 once the request timeout has passed.
fn or_timed_out(result: Result<Outcome, tokio::time::error::Elapsed>) -> Outcome {
    result.unwrap_or_else(|_| Ok(StatusCode::REQUEST_TIMEOUT.into_response()))
}

type Bounded<F> = futures::future::Map<
    tokio::time::Timeout<F>,
    fn(Result<Outcome, tokio::time::error::Elapsed>) -> Outcome,
>;

impl<S> tower::Service<Request> for Limited<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Bounded<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let streaming = is_streaming_upload(&req);
        // A request without a body (most reads) has nothing that could stall.
        let req = if req.body().is_end_stream() {
            req
        } else {
            let idle = self.limits.body_idle;
            req.map(|body| {
                Body::new(IdleBody {
                    inner: body,
                    idle,
                    timer: Box::pin(tokio::time::sleep(idle)),
                })
            })
        };
        let response = self.inner.call(req);
        if streaming {
            Either::Left(response)
        } else {
            Either::Right(
                tokio::time::timeout(self.limits.request_timeout, response)
                    .map(or_timed_out as fn(_) -> _),
            )
        }
    }
}

/// The rest of a request body, read and thrown away.
pub type BodyStream = http_body_util::BodyDataStream<Body>;

/// Reads and discards at most `limit` more bytes of `body`. True if the body ended within
/// them (the connection can then carry on); false if it was longer, failed or stalled.
pub async fn drain(body: &mut BodyStream, limit: u64) -> bool {
    if limit == 0 {
        // Nothing may be read: do not wait for the client's next bytes either.
        return false;
    }
    let mut seen = 0u64;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => {
                seen += bytes.len() as u64;
                if seen > limit {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// Answers `response` after draining up to `limit` bytes of the request's body; a body that
/// did not end within them gets `Connection: close`.
pub async fn answer_after_draining(
    body: &mut BodyStream,
    limit: u64,
    mut response: Response,
) -> Response {
    if !drain(body, limit).await {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

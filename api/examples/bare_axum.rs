//! The physical limit for the HTTP benchmarks: a bare axum handler answering a constant JSON
//! body, run by bench/run next to wharf on the same machine.
use axum::{Json, Router, routing::get};
use serde_json::json;

// The same allocator as the `wharf` binary, so that the limit and wharf are measured alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    let app = Router::new().route(
        "/accounts/token/balance/{token}",
        get(|| async { Json(json!({"balance": 0})) }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("bare listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}

//! An exclusive OS file lock held around a piece of async work: processes sharing one data
//! directory (a `serve` and a `worker`) serialise their SQLite set-up on it.
use std::path::Path;

/// Runs `body` while holding an exclusive lock on `lock_path` (created if missing).
pub async fn exclusive<F, T>(lock_path: &Path, body: F) -> std::io::Result<T>
where
    F: Future<Output = T>,
{
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)?;
    let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(std::io::Error::other)??;
    let result = body.await;
    // Closing the file releases the lock.
    drop(file);
    Ok(result)
}

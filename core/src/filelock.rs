//! An exclusive OS file lock: processes sharing one data directory (a `serve` and a `worker`)
//! serialise their SQLite set-up and their treasury sends on it.
use std::path::Path;

/// An exclusive lock on a file, held until this is dropped (closing the file releases it, so
/// a dropped future or a panic cannot leave it held).
#[derive(Debug)]
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    /// Waits for the lock on `lock_path` (created if missing).
    pub async fn acquire(lock_path: &Path) -> std::io::Result<FileLock> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path)?;
        // If this future is dropped while waiting, the blocking task still finishes; its
        // result (the locked file) is then dropped with the join handle, releasing the lock.
        let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(std::io::Error::other)??;
        Ok(FileLock { _file: file })
    }
}

/// Runs `body` while holding an exclusive lock on `lock_path` (created if missing).
pub async fn exclusive<F, T>(lock_path: &Path, body: F) -> std::io::Result<T>
where
    F: Future<Output = T>,
{
    let lock = FileLock::acquire(lock_path).await?;
    let result = body.await;
    drop(lock);
    Ok(result)
}

//! The blob store for staged uploads, CARs and results: a local directory by default.
use std::sync::Arc;

use object_store::{ObjectStore, ObjectStoreExt, local::LocalFileSystem, path::Path};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("cannot open the blob store at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot create the blob directory {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] object_store::Error),
}

#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// The directory of a local store: where an interrupted multipart write leaves its
    /// staging file (`<key>#<n>`) if the process died before cleaning up.
    local_root: Option<std::path::PathBuf>,
}

impl Blobs {
    /// Opens (creating it if needed) a blob directory on the local filesystem.
    pub fn local(dir: &std::path::Path) -> Result<Self, BlobError> {
        std::fs::create_dir_all(dir).map_err(|source| BlobError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(dir).map_err(|source| BlobError::Open {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Self {
            store: Arc::new(store),
            local_root: Some(dir.to_path_buf()),
        })
    }

    /// Deletes an object and whatever an interrupted write of it left behind. Deleting what
    /// is not there is not an error.
    pub async fn delete(&self, key: &Path) -> Result<(), BlobError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let file = root.join(key.as_ref());
        let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
            return Ok(());
        };
        let staged_prefix = format!("{}#", name.to_string_lossy());
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return;
            };
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&staged_prefix)
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        })
        .await
        .map_err(|e| BlobError::Store(object_store::Error::JoinError { source: e }))?;
        Ok(())
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Writes and reads back a small probe object: the readiness check.
    pub async fn check(&self) -> Result<(), BlobError> {
        let path = Path::from(".wharf-ready");
        self.store.put(&path, b"ok".to_vec().into()).await?;
        self.store.get(&path).await?.bytes().await?;
        Ok(())
    }
}

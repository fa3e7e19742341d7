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
        })
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

//! Content-addressed storage over the blob store: imports a stream as UnixFS (one pass:
//! sha256, CID, CommP, CAR), keeps each CAR body as one blob and an index of its blocks, and
//! reads blocks back by CID.
use bytes::Bytes;
use object_store::{ObjectStoreExt, WriteMultipart, path::Path};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};
use tokio::io::{AsyncRead, AsyncReadExt};
use wharf_content::{
    BlockLocation, Cid, Ingest, IngestSummary, Profile,
    dagpb::{self, UnixfsType},
};
use wharf_entity::{block, car_file};

use crate::{blobs::Blobs, sql, time::now_ms};

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("the input is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("reading the input failed: {0}")]
    Read(#[source] std::io::Error),
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error("block {0} is indexed but its bytes are missing or corrupt")]
    Corrupt(String),
    #[error("internal task failed: {0}")]
    Task(String),
}

/// What an import produced.
#[derive(Debug, Clone)]
pub struct Imported {
    pub car_id: String,
    pub summary: IngestSummary,
}

#[derive(Clone)]
pub struct ContentStore {
    db: DatabaseConnection,
    blobs: Blobs,
    commp_threads: usize,
}

const READ_CHUNK: usize = 1024 * 1024;
const INDEX_BATCH: usize = 256;

impl ContentStore {
    pub fn new(db: DatabaseConnection, blobs: Blobs) -> Self {
        Self {
            db,
            blobs,
            commp_threads: wharf_content::commp::CommP::available_threads(),
        }
    }

    /// Imports one file from `input`. Memory stays bounded: the CAR body streams to the blob
    /// store in parts and the block index to the database in batches. A failed import leaves
    /// no CAR behind.
    pub async fn import<R>(
        &self,
        mut input: R,
        profile: Profile,
        max_bytes: Option<u64>,
    ) -> Result<Imported, ContentError>
    where
        R: AsyncRead + Unpin,
    {
        let car_id = ulid::Ulid::generate().to_string();
        let key = Path::from(format!("cars/{car_id}.body"));
        let upload = self.blobs.store().put_multipart(&key).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024);
        let result = self
            .stream_into(&mut input, &mut writer, &car_id, profile, max_bytes)
            .await;
        match result {
            Ok(summary) => {
                writer.finish().await?;
                self.record(&car_id, &key, &summary).await?;
                Ok(Imported { car_id, summary })
            }
            Err(e) => {
                let _ = writer.abort().await;
                let _ = self.forget_blocks(&car_id).await;
                Err(e)
            }
        }
    }

    async fn stream_into<R: AsyncRead + Unpin>(
        &self,
        input: &mut R,
        writer: &mut WriteMultipart,
        car_id: &str,
        profile: Profile,
        max_bytes: Option<u64>,
    ) -> Result<IngestSummary, ContentError> {
        let mut ingest = Ingest::new(profile, self.commp_threads);
        let mut buf = vec![0u8; READ_CHUNK];
        let mut car_out = Vec::with_capacity(READ_CHUNK + 4096);
        let mut pending: Vec<BlockLocation> = Vec::new();
        let mut total = 0u64;
        loop {
            let n = input.read(&mut buf).await.map_err(ContentError::Read)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if let Some(limit) = max_bytes
                && total > limit
            {
                return Err(ContentError::TooLarge { limit });
            }
            // Hashing is CPU work: keep it off the async worker threads.
            let (back_ingest, back_buf, back_out) = tokio::task::spawn_blocking(move || {
                ingest.write(&buf[..n], &mut car_out);
                (ingest, buf, car_out)
            })
            .await
            .map_err(|e| ContentError::Task(e.to_string()))?;
            ingest = back_ingest;
            buf = back_buf;
            car_out = back_out;
            writer.wait_for_capacity(2).await?;
            writer.write(&car_out);
            car_out.clear();
            pending.append(&mut ingest.take_locations());
            if pending.len() >= INDEX_BATCH {
                self.index(car_id, &mut pending).await?;
            }
        }
        let (summary, car_out, mut last) = tokio::task::spawn_blocking(move || {
            let mut last = Vec::new();
            let summary = ingest.finish(&mut car_out, &mut last);
            (summary, car_out, last)
        })
        .await
        .map_err(|e| ContentError::Task(e.to_string()))?;
        writer.write(&car_out);
        pending.append(&mut last);
        self.index(car_id, &mut pending).await?;
        Ok(summary)
    }

    /// Indexes blocks; a CID already indexed keeps its first location.
    async fn index(&self, car_id: &str, rows: &mut Vec<BlockLocation>) -> Result<(), DbErr> {
        for batch in rows.chunks(INDEX_BATCH) {
            let mut values = Vec::with_capacity(batch.len() * 4);
            let mut placeholders = Vec::with_capacity(batch.len());
            for (i, loc) in batch.iter().enumerate() {
                let p = i * 4;
                placeholders.push(format!("(${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4));
                values.push(loc.cid.to_string().into());
                values.push(car_id.into());
                values.push((loc.offset as i64).into());
                values.push((loc.length as i64).into());
            }
            let text = format!(
                "INSERT INTO blocks (cid, car_id, \"offset\", length) VALUES {} ON CONFLICT (cid) DO NOTHING",
                placeholders.join(", ")
            );
            self.db
                .execute_raw(sql::statement(&self.db, &text, values))
                .await?;
        }
        rows.clear();
        Ok(())
    }

    async fn forget_blocks(&self, car_id: &str) -> Result<(), DbErr> {
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "DELETE FROM blocks WHERE car_id = $1",
                [car_id.into()],
            ))
            .await?;
        Ok(())
    }

    async fn record(&self, car_id: &str, key: &Path, s: &IngestSummary) -> Result<(), DbErr> {
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "INSERT INTO car_files (id, root, body_key, body_bytes, car_bytes, blocks, payload_bytes, sha256, piece_cid, padded_piece_size, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                [
                    car_id.into(),
                    s.root.to_string().into(),
                    key.to_string().into(),
                    (s.car_body_bytes as i64).into(),
                    (s.car_size() as i64).into(),
                    (s.blocks as i64).into(),
                    (s.size as i64).into(),
                    hex::encode(s.sha256).into(),
                    s.piece.cid_v1().to_string().into(),
                    (s.piece.padded_size as i64).into(),
                    now_ms().into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Removes an imported CAR (its blob, record and block index): for uploads that were
    /// refused after some of their files had been imported.
    pub async fn remove_car(&self, car_id: &str) -> Result<(), ContentError> {
        let car = car_file::Entity::find_by_id(car_id.to_string())
            .one(&self.db)
            .await?;
        self.forget_blocks(car_id).await?;
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "DELETE FROM car_files WHERE id = $1",
                [car_id.into()],
            ))
            .await?;
        if let Some(car) = car {
            match self.blobs.store().delete(&Path::from(car.body_key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The bytes of a block, checked against its CID.
    pub async fn block(&self, cid: &Cid) -> Result<Option<Bytes>, ContentError> {
        if cid.hash().code() == wharf_content::cids::IDENTITY {
            return Ok(Some(Bytes::copy_from_slice(cid.hash().digest())));
        }
        let Some(location) = block::Entity::find_by_id(cid.to_string())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(car) = car_file::Entity::find_by_id(location.car_id.clone())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let start = location.offset as u64;
        let range = start..start + location.length as u64;
        let bytes = self
            .blobs
            .store()
            .get_range(&Path::from(car.body_key), range)
            .await?;
        wharf_content::car::verify_block(cid, &bytes, start)
            .map_err(|_| ContentError::Corrupt(cid.to_string()))?;
        Ok(Some(bytes))
    }

    pub async fn has_block(&self, cid: &Cid) -> Result<bool, ContentError> {
        if cid.hash().code() == wharf_content::cids::IDENTITY {
            return Ok(true);
        }
        Ok(block::Entity::find_by_id(cid.to_string())
            .one(&self.db)
            .await?
            .is_some())
    }
}

/// What a block is, for walking DAGs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockKind {
    /// A raw leaf: file bytes.
    Raw,
    /// A UnixFS file node and its children in order.
    File {
        children: Vec<Cid>,
        inline: Option<Vec<u8>>,
    },
    /// A UnixFS directory and its entries.
    Directory { children: Vec<Cid> },
    /// dag-pb that is some other UnixFS type (symlink, HAMT shard, ...).
    OtherPb { children: Vec<Cid> },
}

#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("codec 0x{0:x} cannot be traversed by this gateway")]
    UnsupportedCodec(u64),
    #[error("block {0} is not valid dag-pb/UnixFS")]
    Malformed(String),
}

/// Classifies a block by its CID codec and content.
pub fn classify(cid: &Cid, data: &[u8]) -> Result<BlockKind, WalkError> {
    match cid.codec() {
        wharf_content::cids::RAW => Ok(BlockKind::Raw),
        wharf_content::cids::DAG_PB => {
            let node =
                dagpb::decode_node(data).map_err(|_| WalkError::Malformed(cid.to_string()))?;
            let children: Vec<Cid> = node.links.iter().map(|l| l.cid).collect();
            let unixfs = node
                .data
                .as_deref()
                .map(dagpb::decode_unixfs)
                .transpose()
                .map_err(|_| WalkError::Malformed(cid.to_string()))?;
            Ok(match unixfs.map(|u| (u.kind, u.data)) {
                Some((UnixfsType::File | UnixfsType::Raw, inline)) => {
                    BlockKind::File { children, inline }
                }
                Some((UnixfsType::Directory, _)) => BlockKind::Directory { children },
                _ => BlockKind::OtherPb { children },
            })
        }
        other => Err(WalkError::UnsupportedCodec(other)),
    }
}

//! Content-addressed storage over the blob store: imports a stream as UnixFS (one pass:
//! sha256, CID, CAR, and CommP only for content bound for Filecoin), keeps each CAR body as one blob and an index of its blocks, and
//! reads blocks back by CID.
use bytes::Bytes;
use object_store::{ObjectStoreExt, WriteMultipart, path::Path};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use tokio::io::{AsyncRead, AsyncReadExt};
use wharf_content::{
    BlockLocation, Cid, Ingest, IngestSummary, Profile,
    dagpb::{self, UnixfsType},
};

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

/// The digests an import computes beside the UnixFS DAG and its CAR, each only where
/// something reads it (decision 142).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Digests {
    /// The file's sha256 (web-core's file hash, from which its key is derived): one more
    /// sha256 pass over the bytes.
    pub sha256: bool,
    /// The CommP (Filecoin piece commitment): about four sha256 compressions per 64 bytes,
    /// for content bound for a Filecoin deal.
    pub commp: bool,
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
/// Chunks queued between two stages of an import (read, hash, store).
const PIPELINE_DEPTH: usize = 2;
/// Input buffers an import uses at most: those queued, those being hashed and read, spares.
const INPUT_BUFFERS: usize = PIPELINE_DEPTH * 2 + 2;

/// How long an import waits for more input to fill a chunk before it hashes what it has.
const FILL_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

/// Reads into `buf` until it is full, the input ends, or `FILL_WINDOW` has passed since the
/// first bytes: a request body arrives in pieces of a few KiB, and hashing each as its own
/// chunk kept the hashing stage on one core (on two, a whole chunk's file hash runs beside its
/// leaves' hashes). On a slow link the window keeps chunks, and the import's progress
/// records, moving. Returns the bytes read and whether the input ended.
async fn fill<R: AsyncRead + Unpin>(
    input: &mut R,
    buf: &mut [u8],
) -> Result<(usize, bool), ContentError> {
    let first = input.read(buf).await.map_err(ContentError::Read)?;
    if first == 0 {
        return Ok((0, true));
    }
    let deadline = tokio::time::Instant::now() + FILL_WINDOW;
    let mut n = first;
    while n < buf.len() {
        // `read` is cancel-safe: a read cut off by the deadline has consumed nothing.
        match tokio::time::timeout_at(deadline, input.read(&mut buf[n..])).await {
            Ok(Ok(0)) => return Ok((n, true)),
            Ok(Ok(more)) => n += more,
            Ok(Err(e)) => return Err(ContentError::Read(e)),
            Err(_) => break,
        }
    }
    Ok((n, false))
}

/// One chunk's output of the hashing stage: its CAR bytes, the blocks they hold, and the
/// input buffer to reuse.
struct Hashed {
    car: Vec<u8>,
    locations: Vec<BlockLocation>,
    buf: Vec<u8>,
}
/// How often a running import records that it is still making progress.
const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

fn body_key(car_id: &str) -> Path {
    Path::from(format!("cars/{car_id}.body"))
}
const INDEX_BATCH: usize = 256;

impl ContentStore {
    pub fn new(db: DatabaseConnection, blobs: Blobs) -> Self {
        Self {
            db,
            blobs,
            commp_threads: wharf_content::commp::CommP::available_threads(),
        }
    }

    /// A fresh CAR id, for [`ContentStore::import_as`]: callers that must be able to clean up
    /// an import they abandon learn its id before it starts.
    pub fn new_car_id() -> String {
        ulid::Ulid::generate().to_string()
    }

    /// Imports one file from `input` under a new CAR id.
    pub async fn import<R>(
        &self,
        input: R,
        profile: Profile,
        max_bytes: Option<u64>,
    ) -> Result<Imported, ContentError>
    where
        R: AsyncRead + Unpin,
    {
        self.import_inner(
            &Self::new_car_id(),
            input,
            profile,
            max_bytes,
            Digests::default(),
            false,
        )
        .await
    }

    /// Imports one file from `input` as CAR `car_id`. Memory stays bounded: the CAR body
    /// streams to the blob store in parts and the block index to the database in batches.
    /// The CAR is recorded as staged from the start and touched as it progresses; it is
    /// served only once complete. A failed import leaves nothing behind; one whose future is
    /// dropped leaves a staged record for its owner ([`ContentStore::remove_car`]) or, after
    /// a crash, for housekeeping ([`ContentStore::remove_stale_imports`]).
    pub async fn import_as<R>(
        &self,
        car_id: &str,
        input: R,
        profile: Profile,
        max_bytes: Option<u64>,
        digests: Digests,
    ) -> Result<Imported, ContentError>
    where
        R: AsyncRead + Unpin,
    {
        self.import_inner(car_id, input, profile, max_bytes, digests, false)
            .await
    }

    /// Imports as [`ContentStore::import_as`] but leaves the CAR staged: it is served only
    /// once the caller's own record of it commits with [`ContentStore::publish_in`] in the
    /// same transaction. If the process dies in between, housekeeping removes it as any
    /// abandoned import.
    pub async fn import_held<R>(
        &self,
        car_id: &str,
        input: R,
        profile: Profile,
        max_bytes: Option<u64>,
        digests: Digests,
    ) -> Result<Imported, ContentError>
    where
        R: AsyncRead + Unpin,
    {
        self.import_inner(car_id, input, profile, max_bytes, digests, true)
            .await
    }

    /// Makes a held import servable, inside the caller's transaction. False if housekeeping
    /// removed it meanwhile.
    pub async fn publish_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        car_id: &str,
    ) -> Result<bool, DbErr> {
        let done = conn
            .execute_raw(sql::statement(
                conn,
                "UPDATE car_files SET staged_at = NULL WHERE id = $1 AND staged_at IS NOT NULL",
                [car_id.into()],
            ))
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn import_inner<R>(
        &self,
        car_id: &str,
        mut input: R,
        profile: Profile,
        max_bytes: Option<u64>,
        digests: Digests,
        hold: bool,
    ) -> Result<Imported, ContentError>
    where
        R: AsyncRead + Unpin,
    {
        let key = body_key(car_id);
        self.stage(car_id, &key).await?;
        let upload = match self.blobs.store().put_multipart(&key).await {
            Ok(upload) => upload,
            Err(e) => {
                let _ = self.remove_car(car_id).await;
                return Err(e.into());
            }
        };
        let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024);
        let result = self
            .stream_into(&mut input, &mut writer, car_id, profile, max_bytes, digests)
            .await;
        let finished = match result {
            Ok(summary) => match writer.finish().await {
                Ok(_) => self
                    .record(car_id, &summary, hold)
                    .await
                    .map(|()| summary)
                    .map_err(Into::into),
                Err(e) => Err(e.into()),
            },
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        };
        match finished {
            Ok(summary) => Ok(Imported {
                car_id: car_id.to_string(),
                summary,
            }),
            Err(e) => {
                let _ = self.remove_car(car_id).await;
                Err(e)
            }
        }
    }

    /// Streams `input` through the ingest into the CAR body. Three stages overlap: this task
    /// reads the next chunk while a blocking thread hashes the previous one and the CAR bytes
    /// before it go to the blob store (and their blocks to the index), so the read, the
    /// hashing and the write each use a core instead of taking turns.
    async fn stream_into<R: AsyncRead + Unpin>(
        &self,
        input: &mut R,
        writer: &mut WriteMultipart,
        car_id: &str,
        profile: Profile,
        max_bytes: Option<u64>,
        digests: Digests,
    ) -> Result<IngestSummary, ContentError> {
        let mut ingest = Ingest::new(profile);
        if digests.sha256 {
            ingest = ingest.with_sha256();
        }
        if digests.commp {
            ingest = ingest.with_commp(self.commp_threads);
        }
        // Chunks in flight between the stages; input buffers go round instead of being
        // reallocated.
        let (to_hash, mut chunks) = tokio::sync::mpsc::channel::<(Vec<u8>, usize)>(PIPELINE_DEPTH);
        let (to_store, mut hashed) = tokio::sync::mpsc::channel::<Hashed>(PIPELINE_DEPTH);
        let (recycle, mut free) = tokio::sync::mpsc::channel::<Vec<u8>>(INPUT_BUFFERS);
        let hasher = tokio::task::spawn_blocking(move || {
            let mut car = Vec::with_capacity(READ_CHUNK + 4096);
            while let Some((buf, n)) = chunks.blocking_recv() {
                ingest.write(&buf[..n], &mut car);
                // The CAR bytes go to the blob store as they are (no copy into its buffer).
                let next = Vec::with_capacity(READ_CHUNK + 4096);
                let out = Hashed {
                    car: std::mem::replace(&mut car, next),
                    locations: ingest.take_locations(),
                    buf,
                };
                if to_store.blocking_send(out).is_err() {
                    return None; // the import was abandoned
                }
            }
            let mut last = Vec::new();
            let summary = ingest.finish(&mut car, &mut last);
            Some((summary, car, last))
        });
        // Owns `to_hash`: once the input ends and this returns, the hasher finishes the chunks
        // it was given.
        let read = async move {
            let mut total = 0u64;
            let mut buffers = 0;
            loop {
                let mut buf = match free.try_recv() {
                    Ok(buf) => buf,
                    Err(_) if buffers < INPUT_BUFFERS => {
                        buffers += 1;
                        vec![0u8; READ_CHUNK]
                    }
                    Err(_) => free
                        .recv()
                        .await
                        .ok_or_else(|| ContentError::Task("the store stage ended".into()))?,
                };
                let (n, ended) = fill(input, &mut buf).await?;
                if n == 0 {
                    return Ok::<_, ContentError>(());
                }
                total += n as u64;
                if let Some(limit) = max_bytes
                    && total > limit
                {
                    return Err(ContentError::TooLarge { limit });
                }
                to_hash
                    .send((buf, n))
                    .await
                    .map_err(|_| ContentError::Task("the hashing stage ended".into()))?;
                if ended {
                    return Ok(());
                }
            }
        };
        let store = async {
            let mut pending: Vec<BlockLocation> = Vec::new();
            let mut last_touch = std::time::Instant::now();
            while let Some(mut out) = hashed.recv().await {
                let _ = recycle.try_send(std::mem::take(&mut out.buf));
                writer.wait_for_capacity(2).await?;
                writer.put(bytes::Bytes::from(std::mem::take(&mut out.car)));
                pending.append(&mut out.locations);
                if pending.len() >= INDEX_BATCH {
                    self.index(car_id, &mut pending).await?;
                }
                if last_touch.elapsed() >= TOUCH_EVERY {
                    self.touch(car_id).await?;
                    last_touch = std::time::Instant::now();
                }
            }
            Ok::<_, ContentError>(pending)
        };
        let ((), mut pending) = tokio::try_join!(read, store)?;
        let (summary, car_out, mut last) = hasher
            .await
            .map_err(|e| ContentError::Task(e.to_string()))?
            .ok_or_else(|| ContentError::Task("the hashing stage ended".into()))?;
        writer.write(&car_out);
        pending.append(&mut last);
        self.index(car_id, &mut pending).await?;
        Ok(summary)
    }

    /// Indexes blocks at their place in this CAR (a block also held by other CARs keeps
    /// those locations too).
    async fn index(&self, car_id: &str, rows: &mut Vec<BlockLocation>) -> Result<(), DbErr> {
        let mut values = Vec::with_capacity(rows.len() * 4);
        for loc in rows.iter() {
            values.extend([
                loc.cid.to_string().into(),
                car_id.into(),
                (loc.offset as i64).into(),
                (loc.length as i64).into(),
            ]);
        }
        sql::insert_rows(
            &self.db,
            "INSERT INTO block_locations (cid, car_id, \"offset\", length)",
            4,
            values,
            "ON CONFLICT (cid, car_id) DO NOTHING",
        )
        .await?;
        rows.clear();
        Ok(())
    }

    async fn forget_blocks(&self, car_id: &str) -> Result<(), DbErr> {
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "DELETE FROM block_locations WHERE car_id = $1",
                [car_id.into()],
            ))
            .await?;
        Ok(())
    }

    /// Records an import as staged before anything of it is written.
    async fn stage(&self, car_id: &str, key: &Path) -> Result<(), DbErr> {
        let now = now_ms();
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "INSERT INTO car_files (id, root, body_key, body_bytes, car_bytes, blocks, payload_bytes, sha256, piece_cid, padded_piece_size, created_at, staged_at) \
                 VALUES ($1, '', $2, 0, 0, 0, 0, '', '', 0, $3, $3)",
                [car_id.into(), key.to_string().into(), now.into()],
            ))
            .await?;
        Ok(())
    }

    /// Shows that a staged import is still making progress.
    async fn touch(&self, car_id: &str) -> Result<(), DbErr> {
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE car_files SET staged_at = $1 WHERE id = $2 AND staged_at IS NOT NULL",
                [now_ms().into(), car_id.into()],
            ))
            .await?;
        Ok(())
    }

    /// Completes a staged import with what it produced; a held one stays staged (touched).
    async fn record(&self, car_id: &str, s: &IngestSummary, hold: bool) -> Result<(), DbErr> {
        let staged_at = hold.then(now_ms);
        let done = self
            .db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE car_files SET root = $1, body_bytes = $2, car_bytes = $3, blocks = $4, payload_bytes = $5, \
                 sha256 = $6, piece_cid = $7, padded_piece_size = $8, staged_at = $10 WHERE id = $9 AND staged_at IS NOT NULL",
                [
                    s.root.to_string().into(),
                    (s.car_body_bytes as i64).into(),
                    (s.car_size() as i64).into(),
                    (s.blocks as i64).into(),
                    (s.size as i64).into(),
                    s.sha256.map(hex::encode).unwrap_or_default().into(),
                    s.piece
                        .as_ref()
                        .map(|p| p.cid_v1().to_string())
                        .unwrap_or_default()
                        .into(),
                    (s.piece.as_ref().map_or(0, |p| p.padded_size) as i64).into(),
                    car_id.into(),
                    staged_at.into(),
                ],
            ))
            .await?;
        if done.rows_affected() != 1 {
            // Housekeeping took it for abandoned: the import does not count.
            return Err(DbErr::Custom(format!(
                "import {car_id} was removed while it ran"
            )));
        }
        Ok(())
    }

    /// Removes staged imports that made no progress since `before` (Unix ms): what a crashed
    /// process left. Returns how many.
    pub async fn remove_stale_imports(&self, before: i64) -> Result<usize, ContentError> {
        #[derive(sea_orm::FromQueryResult)]
        struct Stale {
            id: String,
        }
        use sea_orm::FromQueryResult;
        let stale = Stale::find_by_statement(sql::statement(
            &self.db,
            "SELECT id FROM car_files WHERE staged_at IS NOT NULL AND staged_at < $1",
            [before.into()],
        ))
        .all(&self.db)
        .await?;
        for car in &stale {
            self.remove_car(&car.id).await?;
        }
        Ok(stale.len())
    }

    /// Removes an imported or staged CAR: its blob (and what an interrupted write left), its
    /// record and its block index. Blocks other CARs hold stay indexed under those.
    pub async fn remove_car(&self, car_id: &str) -> Result<(), ContentError> {
        self.forget_blocks(car_id).await?;
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "DELETE FROM car_pieces WHERE car_id = $1",
                [car_id.into()],
            ))
            .await?;
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "DELETE FROM car_files WHERE id = $1",
                [car_id.into()],
            ))
            .await?;
        self.blobs
            .delete(&body_key(car_id))
            .await
            .map_err(|e| match e {
                crate::blobs::BlobError::Store(store) => ContentError::Store(store),
                other => ContentError::Task(other.to_string()),
            })?;
        Ok(())
    }

    /// Where a complete CAR holds a block.
    async fn locate(&self, cid: &Cid) -> Result<Option<(String, u64, u64)>, DbErr> {
        let row = self
            .db
            .query_one_raw(sql::statement(
                &self.db,
                "SELECT c.body_key, b.\"offset\", b.length FROM block_locations b JOIN car_files c ON c.id = b.car_id \
                 WHERE b.cid = $1 AND c.staged_at IS NULL LIMIT 1",
                [cid.to_string().into()],
            ))
            .await?;
        let Some(row) = row else { return Ok(None) };
        let key: String = row.try_get("", "body_key")?;
        let offset: i64 = row.try_get("", "offset")?;
        let length: i64 = row.try_get("", "length")?;
        Ok(Some((key, offset as u64, length as u64)))
    }

    /// The bytes of a block, checked against its CID.
    pub async fn block(&self, cid: &Cid) -> Result<Option<Bytes>, ContentError> {
        if cid.hash().code() == wharf_content::cids::IDENTITY {
            return Ok(Some(Bytes::copy_from_slice(cid.hash().digest())));
        }
        let Some((key, start, length)) = self.locate(cid).await? else {
            return Ok(None);
        };
        // An empty block (the empty file's raw leaf) is no range: the store refuses `x..x`.
        let bytes = if length == 0 {
            Bytes::new()
        } else {
            self.blobs
                .store()
                .get_range(&Path::from(key), start..start + length)
                .await?
        };
        wharf_content::car::verify_block(cid, &bytes, start)
            .map_err(|_| ContentError::Corrupt(cid.to_string()))?;
        Ok(Some(bytes))
    }

    pub async fn has_block(&self, cid: &Cid) -> Result<bool, ContentError> {
        if cid.hash().code() == wharf_content::cids::IDENTITY {
            return Ok(true);
        }
        Ok(self.locate(cid).await?.is_some())
    }
}

/// A complete CAR this store holds.
#[derive(Debug, Clone, PartialEq, Eq, sea_orm::FromQueryResult)]
pub struct StoredCar {
    pub id: String,
    pub root: String,
    /// The whole CAR: header and body.
    pub car_bytes: i64,
}

const STORED_CAR_COLUMNS: &str = "id, root, car_bytes";
/// Bytes of a stored CAR read from the blob store at once by `read_car` (two in flight).
const READ_RANGE: u64 = 4 * 1024 * 1024;

impl ContentStore {
    /// The complete CAR with this root; of several imports of the same content, the oldest.
    pub async fn car_by_root(&self, root: &str) -> Result<Option<StoredCar>, DbErr> {
        use sea_orm::FromQueryResult;
        StoredCar::find_by_statement(sql::statement(
            &self.db,
            &format!(
                "SELECT {STORED_CAR_COLUMNS} FROM car_files WHERE root = $1 AND staged_at IS NULL \
                 ORDER BY created_at, id LIMIT 1"
            ),
            [root.into()],
        ))
        .one(&self.db)
        .await
    }

    /// The complete CAR whose piece CID (of the whole CAR) was computed as `piece_cid`.
    pub async fn car_by_piece(&self, piece_cid: &str) -> Result<Option<StoredCar>, DbErr> {
        use sea_orm::FromQueryResult;
        StoredCar::find_by_statement(sql::statement(
            &self.db,
            "SELECT c.id, c.root, c.car_bytes FROM car_pieces p JOIN car_files c ON c.id = p.car_id \
             WHERE p.piece_cid = $1 AND c.staged_at IS NULL",
            [piece_cid.into()],
        ))
        .one(&self.db)
        .await
    }

    /// Records that `car_id`'s whole CAR has piece CID `piece_cid`, for serving it by piece.
    pub async fn record_piece(&self, piece_cid: &str, car_id: &str) -> Result<(), DbErr> {
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "INSERT INTO car_pieces (piece_cid, car_id) VALUES ($1, $2) ON CONFLICT (piece_cid) DO NOTHING",
                [piece_cid.into(), car_id.into()],
            ))
            .await?;
        Ok(())
    }

    /// A complete CAR by its id.
    pub async fn car_by_id(&self, car_id: &str) -> Result<Option<StoredCar>, DbErr> {
        use sea_orm::FromQueryResult;
        StoredCar::find_by_statement(sql::statement(
            &self.db,
            &format!(
                "SELECT {STORED_CAR_COLUMNS} FROM car_files WHERE id = $1 AND staged_at IS NULL"
            ),
            [car_id.into()],
        ))
        .one(&self.db)
        .await
    }

    /// The bytes of a stored CAR as a file would hold them: the header its root makes, then
    /// the body as stored, read from the blob store in ranges of `READ_RANGE` with the next
    /// range already on its way (a local store would otherwise hand out 8 KiB reads, each on
    /// a blocking thread of its own).
    pub async fn read_car(&self, car: &StoredCar) -> Result<FileStream, ContentError> {
        use futures::StreamExt;
        let root: Cid = car
            .root
            .parse()
            .map_err(|_| ContentError::Corrupt(car.root.clone()))?;
        let header = Bytes::from(wharf_content::car::header(&[root]));
        let body_bytes = (car.car_bytes.max(0) as u64).saturating_sub(header.len() as u64);
        let store = self.blobs.store().clone();
        let key = body_key(&car.id);
        let ranges = (0..body_bytes)
            .step_by(READ_RANGE as usize)
            .map(move |start| start..(start + READ_RANGE).min(body_bytes));
        let body = futures::stream::iter(ranges)
            .map(move |range| {
                let (store, key) = (store.clone(), key.clone());
                async move {
                    store
                        .get_range(&key, range)
                        .await
                        .map_err(std::io::Error::other)
                }
            })
            .buffered(2);
        Ok(Box::pin(
            futures::stream::once(async { Ok(header) }).chain(body),
        ))
    }
}

/// The bytes of a file, leaf after leaf.
pub type FileStream = std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<Bytes>> + Send>>;

impl ContentStore {
    /// A UnixFS file (or raw block) this store holds: its size and its bytes, read block by
    /// block as the stream is polled (memory stays at one block). `None` when the root block
    /// is not here; a missing or foreign block later ends the stream with an error.
    pub async fn open_file(&self, cid: &Cid) -> Result<Option<(u64, FileStream)>, ContentError> {
        let Some(root) = self.block(cid).await? else {
            return Ok(None);
        };
        let size = match classify(cid, &root) {
            Ok(BlockKind::Raw) => root.len() as u64,
            Ok(BlockKind::File { .. }) => unixfs_filesize(&root).unwrap_or(0),
            _ => return Ok(None),
        };
        let store = self.clone();
        let stack: Vec<(Cid, Option<Bytes>)> = vec![(*cid, Some(root))];
        let stream = futures::stream::unfold(Some((store, stack)), |state| async move {
            let (store, mut stack) = state?;
            while let Some((cid, known)) = stack.pop() {
                let block = match known {
                    Some(b) => b,
                    None => match store.block(&cid).await {
                        Ok(Some(b)) => b,
                        _ => {
                            let e = std::io::Error::other(format!("block {cid} missing"));
                            return Some((Err(e), None));
                        }
                    },
                };
                match classify(&cid, &block) {
                    Ok(BlockKind::Raw) => return Some((Ok(block), Some((store, stack)))),
                    Ok(BlockKind::File { children, inline }) => {
                        stack.extend(children.into_iter().rev().map(|c| (c, None)));
                        if let Some(data) = inline.filter(|d| !d.is_empty()) {
                            return Some((Ok(Bytes::from(data)), Some((store, stack))));
                        }
                    }
                    _ => {
                        let e = std::io::Error::other(format!("{cid} is not part of a file"));
                        return Some((Err(e), None));
                    }
                }
            }
            None
        });
        Ok(Some((size, Box::pin(stream))))
    }
}

/// The file size a UnixFS file node declares.
pub fn unixfs_filesize(block: &[u8]) -> Option<u64> {
    let node = dagpb::decode_node(block).ok()?;
    let data = dagpb::decode_unixfs(node.data.as_deref()?).ok()?;
    data.filesize
        .or_else(|| data.data.as_ref().map(|d| d.len() as u64))
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

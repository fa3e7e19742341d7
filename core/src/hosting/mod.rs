//! web-core file hosting (MetaDisk's `/api`): files are convergently encrypted
//! ([`crypto`]), stored as ciphertext in the content store (so each has a CID and `/ipfs/`
//! serves ciphertext only), and paid for in byte credits through the ledger (webcore.md §5).
//!
//! Upload: the plaintext is staged once on disk while its SHA-256 is taken (that gives the
//! key), then read again through the cipher into the content store, held there until the
//! charge and the file's record commit in one transaction. A file already held (same key) is
//! not stored twice. Download: charged first, then streamed through the cipher; a download
//! that fails or is cut off is refunded, and one left open by a dead process is refunded by
//! the reconciliation sweep.
//!
//! | record | left by | ended by |
//! |---|---|---|
//! | staged plaintext | the process died mid-upload | sweep removes files untouched for `jobs.stale_after_secs` |
//! | held ciphertext CAR | the process died before the record committed | sweep removes stale staged imports |
//! | download transfer `open` | the process died mid-download | sweep refunds transfers untouched for `jobs.stale_after_secs` |
pub mod crypto;

use std::{
    path::{Path, PathBuf},
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use futures::Stream;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, FromQueryResult};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

use crate::{
    content::{ContentError, ContentStore, Digests, FileStream},
    feed::{ChangeFeed, Topic},
    ledger::{self, EntryKind, LedgerError},
    sql,
    time::now_ms,
};
use crypto::Keystream;

/// Credit an upload of `B` bytes costs: the transfer in and three hosted replicas (§5).
pub const UPLOAD_COST_FACTOR: u64 = 4;
/// Credit a download costs per byte: every file wharf hosts is in its own store, which is
/// what upstream called "cached" (§5: 1×; 2× was for fetching back from a file host).
pub const DOWNLOAD_COST_FACTOR: u64 = 1;
/// How often a transfer in progress records that it is alive.
const TOUCH_EVERY: Duration = Duration::from_secs(10);
const STAGE_CHUNK: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HostingError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("an access token is required")]
    TokenRequired,
    #[error("unknown access token")]
    UnknownToken,
    #[error("balance insufficient")]
    InsufficientBalance,
    #[error("file not found")]
    NotFound,
    #[error("the key does not open this file")]
    WrongKey,
    #[error("the upload was cut off")]
    CutOff,
    #[error("the upload stalled")]
    Stalled,
    #[error("the stored file could not be read")]
    Unavailable,
    #[error("staging the upload failed: {0}")]
    Staging(#[source] std::io::Error),
    #[error(transparent)]
    Content(ContentError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<LedgerError> for HostingError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::UnknownToken => HostingError::UnknownToken,
            LedgerError::InsufficientBalance | LedgerError::InvalidAmount => {
                HostingError::InsufficientBalance
            }
            LedgerError::Db(db) => HostingError::Db(db),
            other => HostingError::Db(DbErr::Custom(other.to_string())),
        }
    }
}

/// A hosted file, as `GET /api/find` and GraphQL describe it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct HostedFile {
    pub filehash: String,
    /// `filehash[:7] + "_" + name`, also the download's file name.
    pub name: String,
    /// Bytes (ciphertext and plaintext are the same length).
    pub size: i64,
    /// The ciphertext's UnixFS root in the content store.
    pub cid: String,
    /// Unix milliseconds of the first upload.
    pub created_at: i64,
}

/// One upload of a file by an access token.
#[derive(Debug, Clone)]
pub struct HostedUpload {
    pub id: i64,
    pub charged: i64,
    pub uploaded_at: i64,
    pub file: HostedFile,
}

/// What an upload produced.
#[derive(Debug, Clone)]
pub struct Stored {
    pub filehash: String,
    /// Lowercase hex, as web-core hands it out.
    pub key: String,
    /// The file was already hosted: nothing new was stored.
    pub deduplicated: bool,
}

/// Meters of `GET /api/status`.
#[derive(Debug, Clone, Default)]
pub struct HostingStatus {
    pub total_incoming: i64,
    pub total_outgoing: i64,
    pub month_incoming: i64,
    pub month_outgoing: i64,
    /// Bytes of hosted files.
    pub used: i64,
    pub files: i64,
    /// Bytes of the filesystem holding the blob store.
    pub capacity: u64,
    pub max_file_size: u64,
}

/// An upload's plaintext on disk, removed when dropped.
pub struct StagedFile {
    path: PathBuf,
    size: u64,
    sha256: [u8; 32],
    name: String,
}

impl StagedFile {
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Clone)]
pub struct HostingService {
    db: DatabaseConnection,
    ledger: crate::ledger::Ledger,
    content: ContentStore,
    feed: ChangeFeed,
    staging: PathBuf,
    blob_dir: PathBuf,
    max_file_bytes: u64,
}

impl HostingService {
    pub fn new(
        config: &crate::config::Config,
        db: DatabaseConnection,
        ledger: crate::ledger::Ledger,
        content: ContentStore,
        feed: ChangeFeed,
    ) -> Self {
        let staging = if config.webcore.staging_dir.is_absolute() {
            config.webcore.staging_dir.clone()
        } else {
            config.data_dir.join(&config.webcore.staging_dir)
        };
        Self {
            db,
            ledger,
            content,
            feed,
            staging,
            blob_dir: config.blob_dir(),
            max_file_bytes: config.webcore.max_file_bytes,
        }
    }

    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
    }

    /// Writes an upload's plaintext to the staging directory, taking its SHA-256 on the way.
    /// Refuses more than `max_file_bytes`; a failed stage leaves nothing.
    pub async fn stage<R: AsyncRead + Unpin>(
        &self,
        name: Option<&str>,
        mut input: R,
    ) -> Result<StagedFile, HostingError> {
        tokio::fs::create_dir_all(&self.staging)
            .await
            .map_err(HostingError::Staging)?;
        let path = self.staging.join(ulid::Ulid::generate().to_string());
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(HostingError::Staging)?;
        // From here on the guard removes the file on every way out.
        let mut staged = StagedFile {
            path,
            size: 0,
            sha256: [0; 32],
            name: secure_filename(name.unwrap_or_default()),
        };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; STAGE_CHUNK];
        loop {
            let n = input.read(&mut buf).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut {
                    HostingError::Stalled
                } else {
                    HostingError::CutOff
                }
            })?;
            if n == 0 {
                break;
            }
            staged.size += n as u64;
            if staged.size > self.max_file_bytes {
                return Err(HostingError::TooLarge {
                    limit: self.max_file_bytes,
                });
            }
            // Hashing is CPU work: keep it off the async threads.
            let (back_hasher, back_buf) = tokio::task::spawn_blocking(move || {
                hasher.update(&buf[..n]);
                (hasher, buf)
            })
            .await
            .map_err(|e| HostingError::Staging(std::io::Error::other(e)))?;
            hasher = back_hasher;
            buf = back_buf;
            out.write_all(&buf[..n])
                .await
                .map_err(HostingError::Staging)?;
        }
        out.flush().await.map_err(HostingError::Staging)?;
        staged.sha256 = hasher.finalize().into();
        Ok(staged)
    }

    /// Encrypts a staged upload into the content store and charges `token` for it
    /// (`4 × size`), in the transaction that records the file. A file already hosted is
    /// charged the same (the price must not tell who holds what) but not stored again.
    pub async fn store(
        &self,
        token: Option<&str>,
        staged: StagedFile,
    ) -> Result<Stored, HostingError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(HostingError::TokenRequired)?;
        let cost = staged
            .size
            .checked_mul(UPLOAD_COST_FACTOR)
            .and_then(|c| i64::try_from(c).ok())
            .ok_or(HostingError::TooLarge {
                limit: self.max_file_bytes,
            })?;
        // Before the second pass: no point encrypting for a charge that cannot succeed.
        self.check_balance(token, cost).await?;
        let key = crypto::derive_key(crypto::DEFAULT_PASSPHRASE, &staged.sha256);
        let fingerprint = crypto::key_fingerprint(&key);
        if let Some(existing) = self.by_fingerprint(&fingerprint).await? {
            let txn = sql::begin_write(&self.db).await?;
            let result = self
                .record_upload(&txn, token, cost, &existing.filehash, staged.size)
                .await;
            let balance = sql::settle(txn, result).await?;
            self.announce(token, balance).await;
            return Ok(Stored {
                filehash: existing.filehash,
                key: hex::encode(key),
                deduplicated: true,
            });
        }
        let car_id = ContentStore::new_car_id();
        let file = tokio::fs::File::open(&staged.path)
            .await
            .map_err(HostingError::Staging)?;
        let mut reader = EncryptingReader {
            inner: file,
            keystream: Keystream::new(&key),
        };
        let imported = self
            .content
            .import_held(
                &car_id,
                &mut reader,
                wharf_content::Profile::KUBO,
                Some(staged.size),
                Digests {
                    sha256: true,
                    commp: false,
                },
            )
            .await
            .map_err(HostingError::Content)?;
        // Asked for above; a held import left unpublished is removed by housekeeping.
        let sha256 = imported.summary.sha256.ok_or_else(|| {
            HostingError::Content(ContentError::Task("the import computed no sha256".into()))
        })?;
        let filehash = hex::encode(sha256);
        let file = HostedFile {
            name: format!("{}_{}", &filehash[..7], staged.name),
            filehash: filehash.clone(),
            size: staged.size as i64,
            cid: imported.summary.root.to_string(),
            created_at: now_ms(),
        };
        let txn = sql::begin_write(&self.db).await?;
        let result = self
            .record_new_file(&txn, token, cost, &file, &fingerprint, &car_id)
            .await;
        let outcome = sql::settle(txn, result).await;
        // Our CAR is not needed if the charge failed or another upload of the same file won.
        if !matches!(outcome, Ok((_, true)))
            && let Err(e) = self.content.remove_car(&car_id).await
        {
            tracing::warn!(car = %car_id, error = %e, "could not remove an unneeded hosted CAR");
        }
        let (balance, inserted) = outcome?;
        self.announce(token, balance).await;
        Ok(Stored {
            filehash,
            key: hex::encode(key),
            deduplicated: !inserted,
        })
    }

    async fn check_balance(&self, token: &str, cost: i64) -> Result<(), HostingError> {
        match self.ledger.balance(token).await? {
            None => Err(HostingError::UnknownToken),
            Some(balance) if balance < cost => Err(HostingError::InsufficientBalance),
            Some(_) => Ok(()),
        }
    }

    /// Records a new file (or finds the same file recorded meanwhile) and its upload.
    /// Returns the balance and whether this upload's CAR became the file's.
    async fn record_new_file(
        &self,
        txn: &DatabaseTransaction,
        token: &str,
        cost: i64,
        file: &HostedFile,
        fingerprint: &str,
        car_id: &str,
    ) -> Result<(Option<i64>, bool), HostingError> {
        let inserted = txn
            .execute_raw(sql::statement(
                txn,
                "INSERT INTO hosted_files (filehash, key_fingerprint, name, size, cid, car_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                [
                    file.filehash.clone().into(),
                    fingerprint.into(),
                    file.name.clone().into(),
                    file.size.into(),
                    file.cid.clone().into(),
                    car_id.into(),
                    file.created_at.into(),
                ],
            ))
            .await?
            .rows_affected()
            == 1;
        if inserted && !self.content.publish_in(txn, car_id).await? {
            return Err(HostingError::Db(DbErr::Custom(format!(
                "hosted CAR {car_id} was removed before its record committed"
            ))));
        }
        let balance = self
            .record_upload(txn, token, cost, &file.filehash, file.size as u64)
            .await?;
        Ok((balance, inserted))
    }

    /// Charges an upload and records it, with the meter. Returns the new balance when charged.
    async fn record_upload(
        &self,
        txn: &DatabaseTransaction,
        token: &str,
        cost: i64,
        filehash: &str,
        size: u64,
    ) -> Result<Option<i64>, HostingError> {
        let balance = if cost > 0 {
            let reference = format!("upload:{filehash}");
            Some(ledger::debit_in(txn, token, cost, EntryKind::Charge, Some(&reference)).await?)
        } else {
            None
        };
        txn.execute_raw(sql::statement(
            txn,
            "INSERT INTO hosted_uploads (filehash, token, charged, created_at) VALUES ($1, $2, $3, $4)",
            [filehash.into(), token.into(), cost.into(), now_ms().into()],
        ))
        .await?;
        meter(txn, size as i64, 0).await?;
        Ok(balance)
    }

    async fn announce(&self, token: &str, balance: Option<i64>) {
        if let Some(balance) = balance {
            self.feed
                .publish_value(Topic::Balance, token, Some(balance))
                .await;
        }
    }

    async fn by_fingerprint(&self, fingerprint: &str) -> Result<Option<HostedFile>, DbErr> {
        HostedFile::find_by_statement(sql::statement(
            &self.db,
            "SELECT filehash, name, size, cid, created_at FROM hosted_files WHERE key_fingerprint = $1",
            [fingerprint.into()],
        ))
        .one(&self.db)
        .await
    }

    /// A hosted file by its hash (any case); `None` for what is not a SHA-256 in hex.
    pub async fn find(&self, filehash: &str) -> Result<Option<HostedFile>, HostingError> {
        Ok(self.find_with_key(filehash).await?.map(|(file, _)| file))
    }

    async fn find_with_key(
        &self,
        filehash: &str,
    ) -> Result<Option<(HostedFile, String)>, HostingError> {
        if filehash.len() != 64 || !filehash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        #[derive(FromQueryResult)]
        struct Row {
            filehash: String,
            name: String,
            size: i64,
            cid: String,
            created_at: i64,
            key_fingerprint: String,
        }
        let row = Row::find_by_statement(sql::statement(
            &self.db,
            "SELECT filehash, name, size, cid, created_at, key_fingerprint FROM hosted_files WHERE filehash = $1",
            [filehash.to_ascii_lowercase().into()],
        ))
        .one(&self.db)
        .await?;
        Ok(row.map(|r| {
            (
                HostedFile {
                    filehash: r.filehash,
                    name: r.name,
                    size: r.size,
                    cid: r.cid,
                    created_at: r.created_at,
                },
                r.key_fingerprint,
            )
        }))
    }

    /// Charges `token` for a download (`size` bytes) and opens the file: decrypted with
    /// `key`, or the ciphertext without one. The charge is refunded if the stream fails or is
    /// dropped before its end. Order of refusals: unknown file, wrong key, token, balance.
    pub async fn download(
        &self,
        filehash: &str,
        key: Option<&str>,
        token: Option<&str>,
    ) -> Result<Download, HostingError> {
        let (file, fingerprint) = self
            .find_with_key(filehash)
            .await?
            .ok_or(HostingError::NotFound)?;
        let key = match key.filter(|k| !k.is_empty()) {
            None => None,
            Some(text) => {
                let key = crypto::parse_key(text).ok_or(HostingError::WrongKey)?;
                if crypto::key_fingerprint(&key) != fingerprint {
                    return Err(HostingError::WrongKey);
                }
                Some(key)
            }
        };
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(HostingError::TokenRequired)?;
        let size = file.size as u64;
        let cost = file.size.saturating_mul(DOWNLOAD_COST_FACTOR as i64);
        let transfer = ulid::Ulid::generate().to_string();
        let txn = sql::begin_write(&self.db).await?;
        let result = self
            .open_transfer(&txn, &transfer, token, &file, cost)
            .await;
        let balance = sql::settle(txn, result).await?;
        self.announce(token, balance).await;
        let guard = TransferGuard {
            service: self.clone(),
            id: transfer,
            token: token.to_string(),
            settled: false,
            sent: 0,
        };
        let cid = file
            .cid
            .parse::<wharf_content::Cid>()
            .map_err(|_| HostingError::Unavailable);
        let opened = match cid {
            Ok(cid) => self.content.open_file(&cid).await.map_err(|e| {
                tracing::error!(error = %e, filehash = %file.filehash, "hosted file unreadable");
                HostingError::Unavailable
            }),
            Err(e) => Err(e),
        };
        // The guard refunds on every way out from here until the stream ends whole.
        let stream = match opened {
            Ok(Some((_, stream))) => stream,
            Ok(None) => {
                tracing::error!(filehash = %file.filehash, cid = %file.cid, "hosted file's blocks are missing");
                return Err(HostingError::Unavailable);
            }
            Err(e) => return Err(e),
        };
        Ok(Download {
            name: file.name.clone(),
            size,
            body: Box::pin(TransferStream {
                inner: stream,
                keystream: key.as_ref().map(Keystream::new),
                guard,
                size,
                last_touch: Instant::now(),
                done: false,
            }),
        })
    }

    async fn open_transfer(
        &self,
        txn: &DatabaseTransaction,
        transfer: &str,
        token: &str,
        file: &HostedFile,
        cost: i64,
    ) -> Result<Option<i64>, HostingError> {
        let balance = if cost > 0 {
            let reference = format!("download:{transfer}");
            Some(ledger::debit_in(txn, token, cost, EntryKind::Charge, Some(&reference)).await?)
        } else {
            if !ledger::token_exists_in(txn, token).await? {
                return Err(HostingError::UnknownToken);
            }
            None
        };
        let now = now_ms();
        txn.execute_raw(sql::statement(
            txn,
            "INSERT INTO hosted_transfers (id, filehash, token, amount, state, sent_bytes, touched_at, created_at) \
             VALUES ($1, $2, $3, $4, 'open', 0, $5, $5)",
            [
                transfer.into(),
                file.filehash.clone().into(),
                token.into(),
                cost.into(),
                now.into(),
            ],
        ))
        .await?;
        Ok(balance)
    }

    /// Ends a download: `done` when every byte went out, else refunded. Only an `open`
    /// transfer moves, so a transfer is settled once whoever gets there first.
    pub async fn settle_transfer(
        &self,
        id: &str,
        sent: u64,
        complete: bool,
    ) -> Result<bool, HostingError> {
        let txn = sql::begin_write(&self.db).await?;
        let result = settle_transfer_in(&txn, id, sent, complete).await;
        let outcome = sql::settle(txn, result).await?;
        if let Some((token, Some(balance))) = &outcome {
            self.announce(token, Some(*balance)).await;
        }
        Ok(outcome.is_some())
    }

    async fn touch_transfer(&self, id: &str, sent: u64) -> Result<(), DbErr> {
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE hosted_transfers SET touched_at = $1, sent_bytes = $2 WHERE id = $3 AND state = 'open'",
                [now_ms().into(), (sent as i64).into(), id.into()],
            ))
            .await?;
        Ok(())
    }

    /// Refunds downloads left open by a process that died: untouched since `before` (ms).
    pub async fn refund_abandoned(&self, before: i64, limit: u64) -> Result<usize, HostingError> {
        #[derive(FromQueryResult)]
        struct Open {
            id: String,
            sent_bytes: i64,
        }
        let open = Open::find_by_statement(sql::statement(
            &self.db,
            "SELECT id, sent_bytes FROM hosted_transfers WHERE state = 'open' AND touched_at < $1 \
             ORDER BY touched_at LIMIT $2",
            [before.into(), (limit as i64).into()],
        ))
        .all(&self.db)
        .await?;
        let mut refunded = 0;
        for transfer in open {
            if self
                .settle_transfer(&transfer.id, transfer.sent_bytes.max(0) as u64, false)
                .await?
            {
                refunded += 1;
            }
        }
        Ok(refunded)
    }

    /// Removes staged plaintext untouched since `before`: what a dead process left.
    pub async fn remove_stale_staging(&self, before: std::time::SystemTime) -> usize {
        let dir = self.staging.clone();
        tokio::task::spawn_blocking(move || remove_older_than(&dir, before))
            .await
            .unwrap_or(0)
    }

    /// Uploads made with `token`, newest first, before upload id `before`.
    pub async fn uploads_of(
        &self,
        token: &str,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<HostedUpload>, HostingError> {
        #[derive(FromQueryResult)]
        struct Row {
            id: i64,
            charged: i64,
            uploaded_at: i64,
            filehash: String,
            name: String,
            size: i64,
            cid: String,
            created_at: i64,
        }
        let rows = Row::find_by_statement(sql::statement(
            &self.db,
            "SELECT u.id, u.charged, u.created_at AS uploaded_at, f.filehash, f.name, f.size, f.cid, f.created_at \
             FROM hosted_uploads u JOIN hosted_files f ON f.filehash = u.filehash \
             WHERE u.token = $1 AND u.id < $2 ORDER BY u.id DESC LIMIT $3",
            [
                token.into(),
                before.unwrap_or(i64::MAX).into(),
                (limit as i64).into(),
            ],
        ))
        .all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| HostedUpload {
                id: r.id,
                charged: r.charged,
                uploaded_at: r.uploaded_at,
                file: HostedFile {
                    filehash: r.filehash,
                    name: r.name,
                    size: r.size,
                    cid: r.cid,
                    created_at: r.created_at,
                },
            })
            .collect())
    }

    /// The meters of `GET /api/status`.
    pub async fn status(&self) -> Result<HostingStatus, HostingError> {
        #[derive(FromQueryResult)]
        struct Totals {
            incoming: Option<i64>,
            outgoing: Option<i64>,
        }
        #[derive(FromQueryResult)]
        struct Files {
            used: Option<i64>,
            files: i64,
        }
        let totals = Totals::find_by_statement(sql::statement(
            &self.db,
            "SELECT CAST(SUM(incoming) AS BIGINT) AS incoming, CAST(SUM(outgoing) AS BIGINT) AS outgoing FROM hosting_meter",
            [],
        ))
        .one(&self.db)
        .await?;
        let month = Totals::find_by_statement(sql::statement(
            &self.db,
            "SELECT incoming, outgoing FROM hosting_meter WHERE month = $1",
            [current_month().into()],
        ))
        .one(&self.db)
        .await?;
        let files = Files::find_by_statement(sql::statement(
            &self.db,
            "SELECT CAST(SUM(size) AS BIGINT) AS used, COUNT(*) AS files FROM hosted_files",
            [],
        ))
        .one(&self.db)
        .await?;
        let dir = self.blob_dir.clone();
        let capacity = tokio::task::spawn_blocking(move || filesystem_bytes(&dir))
            .await
            .unwrap_or(0);
        Ok(HostingStatus {
            total_incoming: totals.as_ref().and_then(|t| t.incoming).unwrap_or(0),
            total_outgoing: totals.as_ref().and_then(|t| t.outgoing).unwrap_or(0),
            month_incoming: month.as_ref().and_then(|t| t.incoming).unwrap_or(0),
            month_outgoing: month.as_ref().and_then(|t| t.outgoing).unwrap_or(0),
            used: files.as_ref().and_then(|f| f.used).unwrap_or(0),
            files: files.map(|f| f.files).unwrap_or(0),
            capacity,
            max_file_size: self.max_file_bytes,
        })
    }
}

async fn settle_transfer_in(
    txn: &DatabaseTransaction,
    id: &str,
    sent: u64,
    complete: bool,
) -> Result<Option<(String, Option<i64>)>, HostingError> {
    #[derive(FromQueryResult)]
    struct Open {
        token: String,
        amount: i64,
    }
    let Some(open) = Open::find_by_statement(sql::statement(
        txn,
        "SELECT token, amount FROM hosted_transfers WHERE id = $1 AND state = 'open'",
        [id.into()],
    ))
    .one(txn)
    .await?
    else {
        return Ok(None);
    };
    let state = if complete { "done" } else { "refunded" };
    let moved = txn
        .execute_raw(sql::statement(
            txn,
            "UPDATE hosted_transfers SET state = $1, sent_bytes = $2, touched_at = $3 WHERE id = $4 AND state = 'open'",
            [
                state.into(),
                (sent as i64).into(),
                now_ms().into(),
                id.into(),
            ],
        ))
        .await?;
    if moved.rows_affected() != 1 {
        return Ok(None);
    }
    meter(txn, 0, sent as i64).await?;
    let balance = if !complete && open.amount > 0 {
        let reference = format!("download:{id}");
        Some(
            ledger::credit_in(
                txn,
                &open.token,
                open.amount,
                EntryKind::Refund,
                Some(&reference),
            )
            .await?,
        )
    } else {
        None
    };
    Ok(Some((open.token, balance)))
}

/// Adds to this month's transfer meter.
async fn meter(txn: &DatabaseTransaction, incoming: i64, outgoing: i64) -> Result<(), DbErr> {
    txn.execute_raw(sql::statement(
        txn,
        "INSERT INTO hosting_meter (month, incoming, outgoing) VALUES ($1, $2, $3) \
         ON CONFLICT (month) DO UPDATE SET incoming = hosting_meter.incoming + excluded.incoming, \
         outgoing = hosting_meter.outgoing + excluded.outgoing",
        [current_month().into(), incoming.into(), outgoing.into()],
    ))
    .await?;
    Ok(())
}

fn current_month() -> String {
    chrono::Utc::now().format("%Y-%m").to_string()
}

/// A file name as Werkzeug's `secure_filename` leaves it: ASCII letters, digits, `_`, `.`
/// and `-`, whitespace as `_`, no path, no leading dots; at most 200 characters.
pub fn secure_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut out = String::with_capacity(base.len());
    for word in base.split_whitespace() {
        if !out.is_empty() {
            out.push('_');
        }
        out.extend(
            word.chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')),
        );
    }
    let trimmed = out.trim_matches(|c| c == '.' || c == '_');
    let mut name: String = trimmed.chars().take(200).collect();
    if name.is_empty() {
        name = "file".into();
    }
    name
}

fn remove_older_than(dir: &Path, before: std::time::SystemTime) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified < before);
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Total bytes of the filesystem holding `dir` (0 if unknown).
fn filesystem_bytes(dir: &Path) -> u64 {
    rustix::fs::statvfs(dir)
        .map(|s| s.f_blocks.saturating_mul(s.f_frsize))
        .unwrap_or(0)
}

/// Applies the keystream to what it reads.
struct EncryptingReader<R> {
    inner: R,
    keystream: Keystream,
}

impl<R: AsyncRead + Unpin> AsyncRead for EncryptingReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.keystream.apply(&mut buf.filled_mut()[before..]);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// A download being served.
pub struct Download {
    /// The stored name, for `Content-Disposition`.
    pub name: String,
    pub size: u64,
    pub body: FileStream,
}

/// Settles a download's charge: complete when the stream ended whole, refunded otherwise
/// (an error, or the response dropped because the client went away).
struct TransferGuard {
    service: HostingService,
    id: String,
    token: String,
    settled: bool,
    sent: u64,
}

impl TransferGuard {
    fn settle(&mut self, complete: bool) {
        if self.settled {
            return;
        }
        self.settled = true;
        let service = self.service.clone();
        let id = std::mem::take(&mut self.id);
        let sent = self.sent;
        let token = std::mem::take(&mut self.token);
        // Drop cannot wait: settle on the runtime. Without one (the process is ending) the
        // transfer stays open and the sweep refunds it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = service.settle_transfer(&id, sent, complete).await {
                    tracing::warn!(transfer = %id, token_known = !token.is_empty(), error = %e,
                        "could not settle a download; the sweep will");
                }
            });
        }
    }
}

impl Drop for TransferGuard {
    fn drop(&mut self) {
        self.settle(false);
    }
}

struct TransferStream {
    inner: FileStream,
    keystream: Option<Keystream>,
    guard: TransferGuard,
    size: u64,
    last_touch: Instant,
    done: bool,
}

impl Stream for TransferStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                let chunk = match &mut this.keystream {
                    Some(keystream) => {
                        let mut plain = BytesMut::from(&chunk[..]);
                        keystream.apply(&mut plain);
                        plain.freeze()
                    }
                    None => chunk,
                };
                this.guard.sent += chunk.len() as u64;
                // The server stops polling once it has sent Content-Length bytes, so the
                // last byte handed over is the end, whether or not `None` is ever asked for.
                if this.guard.sent >= this.size {
                    this.done = true;
                    this.guard.settle(this.guard.sent == this.size);
                    return Poll::Ready(Some(Ok(chunk)));
                }
                if this.last_touch.elapsed() >= TOUCH_EVERY {
                    this.last_touch = Instant::now();
                    let service = this.guard.service.clone();
                    let (id, sent) = (this.guard.id.clone(), this.guard.sent);
                    tokio::spawn(async move {
                        let _ = service.touch_transfer(&id, sent).await;
                    });
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                tracing::error!(error = %e, "a hosted file failed mid-download; refunded");
                this.guard.settle(false);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.done = true;
                let whole = this.guard.sent == this.size;
                this.guard.settle(whole);
                Poll::Ready(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::secure_filename;

    #[test]
    fn file_names_lose_paths_and_odd_characters() {
        assert_eq!(secure_filename("WhatisStorj.pdf"), "WhatisStorj.pdf");
        assert_eq!(secure_filename("../../etc/passwd"), "passwd");
        assert_eq!(secure_filename("C:\\x\\my file.txt"), "my_file.txt");
        assert_eq!(secure_filename("..hidden"), "hidden");
        assert_eq!(secure_filename("naïve café.txt"), "nave_caf.txt");
        assert_eq!(secure_filename(""), "file");
        assert_eq!(secure_filename("///"), "file");
    }
}

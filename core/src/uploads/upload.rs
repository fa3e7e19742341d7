//! Receiving the files of a quote: who may upload, the one-at-a-time claim on a quote, and the
//! acceptance flow both faces (DBS REST and GraphQL) run. A claimed quote always ends: it is
//! handed to the worker, or released with nothing kept — at once by the claim's drop guard
//! when the upload ends any other way, and by housekeeping when its process died.
use alloy_primitives::Address;
use sea_orm::{ConnectionTrait, DbErr};
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;

use super::{Quote, QuoteError, QuoteService, backend::OwnerSignature, status};
use crate::{
    auth::{
        nonce::NonceError,
        signature::SignatureError,
        signed::{self, SignedRequestError},
    },
    content::{ContentError, ContentStore, Digests},
    jobs::JobQueue,
    sql,
    time::now_ms,
};

/// Receiving files; the quote is claimed by one upload at a time.
pub const RECEIVING: i32 = 2;

/// How often a running upload shows that it is alive (its quote's `updated_at`).
const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("quote does not exist")]
    NotFound,
    #[error("the signature is malformed")]
    BadSignature,
    #[error("the request was not signed by the quote's owner")]
    WrongSigner,
    #[error("nonce value invalid")]
    BadNonce,
    #[error("quote already expired, please create a new one")]
    Expired,
    #[error("files already uploaded")]
    AlreadyUploaded,
    #[error("upload not completed yet")]
    NotDone,
    #[error(
        "this storage's service checks the owner's signature itself: upload with POST /upload?quoteId&nonce&signature"
    )]
    SignatureRequired,
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<QuoteError> for UploadError {
    fn from(e: QuoteError) -> Self {
        match e {
            QuoteError::NotFound => UploadError::NotFound,
            QuoteError::Db(db) => UploadError::Db(db),
            other => UploadError::Db(DbErr::Custom(other.to_string())),
        }
    }
}

/// The text a legacy client signs for an operation on a quote:
/// `"0x" + hex(sha256(quoteId + nonce))` (an empty quote id for history).
pub fn signed_text(quote_id: &str, nonce: &str) -> String {
    format!(
        "0x{}",
        hex::encode(Sha256::digest(format!("{quote_id}{nonce}").as_bytes()))
    )
}

fn check_open(quote: &Quote) -> Result<(), UploadError> {
    if quote.status != status::WAITING {
        return Err(UploadError::AlreadyUploaded);
    }
    if now_ms() > quote.expires_at {
        return Err(UploadError::Expired);
    }
    Ok(())
}

/// A file as received and imported.
#[derive(Debug, Clone)]
pub struct ReceivedFile {
    pub name: Option<String>,
    pub length: u64,
    pub cid: String,
    pub car_id: String,
    /// The CommP, for storages that make Filecoin deals.
    pub piece_cid: Option<String>,
}

/// Checks that the quote's owner signed `quoteId + nonce` with a fresh nonce.
pub async fn verify_owner(
    db: &sea_orm::DatabaseConnection,
    quote: &Quote,
    nonce: &str,
    signature: &str,
) -> Result<(), UploadError> {
    let text = signed_text(&quote.id, nonce);
    verify_signer(db, &quote.owner, &text, nonce, signature).await
}

pub async fn verify_signer(
    db: &sea_orm::DatabaseConnection,
    signer: &Address,
    text: &str,
    nonce: &str,
    signature: &str,
) -> Result<(), UploadError> {
    signed::verify(db, signer, text.as_bytes(), nonce, signature)
        .await
        .map(|_| ())
        .map_err(|e| match e {
            SignedRequestError::Signature(SignatureError::WrongSigner) => UploadError::WrongSigner,
            SignedRequestError::Signature(_) => UploadError::BadSignature,
            SignedRequestError::Nonce(NonceError::Db(db)) | SignedRequestError::Db(db) => {
                UploadError::Db(db)
            }
            SignedRequestError::Nonce(_) => UploadError::BadNonce,
        })
}

/// Why one received file was refused.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("File sizes differ from the quote.")]
    SizeMismatch,
    #[error("The upload was cut off or is not valid multipart.")]
    CutOff,
    #[error("The upload stalled: nothing arrived for too long.")]
    Stalled,
    #[error(transparent)]
    Store(ContentError),
}

/// A file of an upload as it arrives.
pub struct IncomingFile<'a> {
    pub name: Option<String>,
    pub reader: Box<dyn AsyncRead + Send + Unpin + 'a>,
}

/// Where the files of an upload come from: a multipart body, GraphQL uploads. Each face
/// brings its own parsing and the refusals that belong to it (`Error`).
#[async_trait::async_trait]
pub trait FileSource: Send {
    type Error: std::error::Error + Send + Sync + 'static;
    /// The next file, or `None` after the last.
    async fn next_file(&mut self) -> Result<Option<IncomingFile<'_>>, Self::Error>;
}

/// Why an upload was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError<E: std::error::Error + 'static> {
    #[error("No file sent alongside the request.")]
    NoFiles,
    #[error("More files than the quote was made for.")]
    TooManyFiles,
    #[error("Fewer files than the quote was made for.")]
    TooFewFiles,
    #[error(transparent)]
    File(FileError),
    #[error(transparent)]
    Source(E),
    /// Housekeeping took the upload for dead and released its quote.
    #[error("the upload was given up while it ran; upload again")]
    Abandoned,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A quote claimed by one upload (status 2). Until [`QuoteService::accept_upload`] hands it to
/// the worker, dropping the claim — an error, a client gone, a cancelled future, a panic —
/// gives the quote back (status 1) and removes every file staged for it.
pub struct Claim {
    pub quote: Quote,
    guard: UploadGuard,
}

struct UploadGuard {
    quotes: QuoteService,
    quote_id: String,
    /// CARs staged for this upload (also recorded on the quote's files for housekeeping).
    cars: Vec<String>,
    armed: bool,
}

impl UploadGuard {
    async fn release(&mut self) {
        self.armed = false;
        self.quotes
            .release_claim(&self.quote_id, std::mem::take(&mut self.cars))
            .await;
    }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let quotes = self.quotes.clone();
        let quote_id = std::mem::take(&mut self.quote_id);
        let cars = std::mem::take(&mut self.cars);
        // Drop cannot wait: the release runs on the runtime. If there is none (the process
        // is ending), housekeeping releases the quote after its lease runs out.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { quotes.release_claim(&quote_id, cars).await });
        }
    }
}

/// What an upload's import computes beside the DAG: CommP for storages that make Filecoin
/// deals (`type = "filecoin"`) only; the file's sha256 for none, since no storage and no DBS
/// route reads it (decision 142).
fn digests_for(storage: &str) -> Digests {
    Digests {
        sha256: false,
        commp: storage.eq_ignore_ascii_case("filecoin"),
    }
}

/// Imports one file of a quote as CAR `car_id`; it must be exactly `expected` bytes long.
async fn receive_file<R: AsyncRead + Unpin>(
    content: &ContentStore,
    car_id: &str,
    reader: R,
    name: Option<String>,
    expected: u64,
    digests: Digests,
) -> Result<ReceivedFile, FileError> {
    let imported = content
        .import_as(
            car_id,
            reader,
            wharf_content::Profile::KUBO,
            Some(expected),
            digests,
        )
        .await
        .map_err(|e| match e {
            ContentError::TooLarge { .. } => FileError::SizeMismatch,
            ContentError::Read(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                FileError::Stalled
            }
            ContentError::Read(_) => FileError::CutOff,
            other => FileError::Store(other),
        })?;
    let summary = imported.summary;
    if summary.size != expected {
        return Err(FileError::SizeMismatch);
    }
    Ok(ReceivedFile {
        name: name.map(|n| n.chars().take(255).collect()),
        length: summary.size,
        cid: summary.root.to_string(),
        car_id: imported.car_id,
        piece_cid: summary.piece.map(|p| p.cid_v1().to_string()),
    })
}

impl QuoteService {
    /// Authorises an upload and claims the quote for it (status 1 -> 2), atomically: of two
    /// uploads to one quote, one wins and the other is told the files are already uploaded.
    pub async fn begin_upload(
        &self,
        quote_id: &str,
        nonce: &str,
        signature: &str,
    ) -> Result<Claim, UploadError> {
        let quote = self.get(quote_id).await?;
        check_open(&quote)?;
        verify_owner(self.db(), &quote, nonce, signature).await?;
        self.claim(&quote.id).await
    }

    /// The same for a caller already authenticated as `owner` (a GraphQL session).
    pub async fn begin_upload_as(
        &self,
        quote_id: &str,
        owner: &Address,
    ) -> Result<Claim, UploadError> {
        let quote = self.get(quote_id).await?;
        if quote.owner != *owner {
            return Err(UploadError::NotFound);
        }
        check_open(&quote)?;
        if quote.remote_url.is_some() {
            return Err(UploadError::SignatureRequired);
        }
        self.claim(&quote.id).await
    }

    async fn claim(&self, quote_id: &str) -> Result<Claim, UploadError> {
        let claimed = self
            .db()
            .execute_raw(sql::statement(
                self.db(),
                "UPDATE quotes SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
                [
                    RECEIVING.into(),
                    now_ms().into(),
                    quote_id.into(),
                    status::WAITING.into(),
                ],
            ))
            .await?;
        if claimed.rows_affected() != 1 {
            return Err(UploadError::AlreadyUploaded);
        }
        // The guard exists from the claim on: whatever happens next, the quote is released.
        let guard = UploadGuard {
            quotes: self.clone(),
            quote_id: quote_id.to_string(),
            cars: Vec::new(),
            armed: true,
        };
        self.changed(quote_id).await;
        // Read back after the claim: a payment with credits may have landed since the quote
        // was loaded, and nothing can change it once the quote is claimed.
        let quote = self.get(quote_id).await?;
        Ok(Claim { quote, guard })
    }

    /// The upload acceptance flow, the same for every face: receive each file of the claimed
    /// quote from `source` into the content store (exact quoted lengths, in order), record
    /// them and hand the quote to the worker (payment next, 100, or storing, 300). Returns the
    /// status the quote moved to. On any failure the claim is released at once and nothing
    /// of the upload is kept.
    pub async fn accept_upload<S: FileSource>(
        &self,
        claim: Claim,
        source: &mut S,
        queue: &JobQueue,
        signed: Option<OwnerSignature>,
    ) -> Result<i32, AcceptError<S::Error>> {
        let Claim { quote, mut guard } = claim;
        let received = {
            let receiving = self.receive_all(&quote, source, &mut guard);
            let alive = self.keep_alive(&quote.id);
            tokio::select! {
                received = receiving => received,
                never = alive => match never {},
            }
        };
        let outcome = match received {
            Ok(files) => self.finish_upload(&quote, &files, signed.as_ref()).await,
            Err(e) => Err(e),
        };
        let next = match outcome {
            Ok(next) => next,
            Err(e) => {
                guard.release().await;
                return Err(e);
            }
        };
        guard.armed = false;
        self.changed(&quote.id).await;
        // The files are safe and the quote says what comes next: if the queue cannot take
        // the job now, housekeeping's sweep queues it later.
        if let Err(e) = queue.push_upload(&quote.id, signed).await {
            tracing::warn!(quote = %quote.id, error = %e, "could not queue the upload's job; housekeeping will");
        }
        Ok(next)
    }

    async fn receive_all<S: FileSource>(
        &self,
        quote: &Quote,
        source: &mut S,
        guard: &mut UploadGuard,
    ) -> Result<Vec<ReceivedFile>, AcceptError<S::Error>> {
        let quoted = self.files(&quote.id).await.map_err(|e| match e {
            QuoteError::Db(db) => AcceptError::Db(db),
            other => AcceptError::Db(DbErr::Custom(other.to_string())),
        })?;
        let mut received = Vec::with_capacity(quoted.len());
        while let Some(file) = source.next_file().await.map_err(AcceptError::Source)? {
            let Some(expected) = quoted.get(received.len()) else {
                return Err(AcceptError::TooManyFiles);
            };
            let car_id = ContentStore::new_car_id();
            guard.cars.push(car_id.clone());
            // Recorded before the bytes arrive, so housekeeping can find what a dead
            // process staged for this quote.
            self.db()
                .execute_raw(sql::statement(
                    self.db(),
                    "UPDATE quote_files SET car_id = $1 WHERE quote_id = $2 AND idx = $3",
                    [
                        car_id.clone().into(),
                        quote.id.clone().into(),
                        expected.idx.into(),
                    ],
                ))
                .await?;
            let file = receive_file(
                &self.content,
                &car_id,
                file.reader,
                file.name,
                expected.length as u64,
                digests_for(&quote.storage),
            )
            .await
            .map_err(AcceptError::File)?;
            received.push(file);
        }
        if received.is_empty() {
            return Err(AcceptError::NoFiles);
        }
        if received.len() != quoted.len() {
            return Err(AcceptError::TooFewFiles);
        }
        Ok(received)
    }

    /// Shows, while an upload runs, that its process is alive. Never returns.
    async fn keep_alive(&self, quote_id: &str) -> std::convert::Infallible {
        loop {
            tokio::time::sleep(TOUCH_EVERY).await;
            let touched = self
                .db()
                .execute_raw(sql::statement(
                    self.db(),
                    "UPDATE quotes SET updated_at = $1 WHERE id = $2 AND status = $3",
                    [now_ms().into(), quote_id.into(), RECEIVING.into()],
                ))
                .await;
            if let Err(e) = touched {
                tracing::warn!(quote = %quote_id, error = %e, "could not renew an upload's lease");
            }
        }
    }

    /// Gives a claimed quote back: the CARs staged for it are removed and it waits again.
    async fn release_claim(&self, quote_id: &str, cars: Vec<String>) {
        for car in &cars {
            if let Err(e) = self.content.remove_car(car).await {
                tracing::warn!(error = %e, car = %car, "removing a refused upload's file failed; housekeeping will");
            }
            let cleared = self
                .db()
                .execute_raw(sql::statement(
                    self.db(),
                    "UPDATE quote_files SET car_id = NULL WHERE quote_id = $1 AND car_id = $2",
                    [quote_id.into(), car.clone().into()],
                ))
                .await;
            if let Err(e) = cleared {
                tracing::warn!(error = %e, quote = %quote_id, "clearing a refused upload's file failed");
            }
        }
        let released = self
            .db()
            .execute_raw(sql::statement(
                self.db(),
                "UPDATE quotes SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
                [
                    status::WAITING.into(),
                    now_ms().into(),
                    quote_id.into(),
                    RECEIVING.into(),
                ],
            ))
            .await;
        match released {
            Ok(_) => self.changed(quote_id).await,
            Err(e) => {
                tracing::error!(error = %e, quote = %quote_id, "releasing a quote failed; housekeeping will")
            }
        }
    }

    /// Releases the quotes of uploads whose process died: claimed (status 2) and not renewed
    /// since `before` (Unix ms). What they staged is removed. Returns how many.
    pub async fn release_stale_uploads(&self, before: i64) -> Result<usize, DbErr> {
        use sea_orm::FromQueryResult;
        #[derive(FromQueryResult)]
        struct Stale {
            id: String,
        }
        let stale = Stale::find_by_statement(sql::statement(
            self.db(),
            "SELECT id FROM quotes WHERE status = $1 AND updated_at < $2",
            [RECEIVING.into(), before.into()],
        ))
        .all(self.db())
        .await?;
        let mut released = 0;
        for quote in stale {
            #[derive(FromQueryResult)]
            struct Staged {
                car_id: String,
            }
            let cars: Vec<String> = Staged::find_by_statement(sql::statement(
                self.db(),
                "SELECT car_id FROM quote_files WHERE quote_id = $1 AND car_id IS NOT NULL",
                [quote.id.clone().into()],
            ))
            .all(self.db())
            .await?
            .into_iter()
            .map(|s| s.car_id)
            .collect();
            // Only if still stale now: a live upload renews its lease.
            let taken = self
                .db()
                .execute_raw(sql::statement(
                    self.db(),
                    "UPDATE quotes SET updated_at = $1 WHERE id = $2 AND status = $3 AND updated_at < $4",
                    [
                        now_ms().into(),
                        quote.id.clone().into(),
                        RECEIVING.into(),
                        before.into(),
                    ],
                ))
                .await?;
            if taken.rows_affected() == 1 {
                tracing::info!(quote = %quote.id, files = cars.len(), "releasing an upload whose process died");
                self.release_claim(&quote.id, cars).await;
                released += 1;
            }
        }
        Ok(released)
    }

    /// Quotes being paid or stored (100, 101, 300, not yet handed to a microservice) that no
    /// job has touched since `before`: their job was lost (a crash between upload and queue,
    /// retries spent while the chain was down). Each is marked as taken and returned once,
    /// with the signature its storage may need, for the caller to queue again.
    pub async fn take_stale_in_progress(
        &self,
        before: i64,
        limit: u64,
    ) -> Result<Vec<(String, Option<OwnerSignature>)>, DbErr> {
        use sea_orm::FromQueryResult;
        #[derive(FromQueryResult)]
        struct Stale {
            id: String,
            owner_signature: Option<String>,
        }
        let stale = Stale::find_by_statement(sql::statement(
            self.db(),
            &format!(
                "SELECT id, owner_signature FROM quotes WHERE status IN ($1, $2, $3) AND forwarded_at IS NULL \
                 AND updated_at < $4 ORDER BY updated_at LIMIT {limit}"
            ),
            [
                status::PAYMENT_STARTED.into(),
                status::PAYMENT_SENT.into(),
                status::STORING.into(),
                before.into(),
            ],
        ))
        .all(self.db())
        .await?;
        let mut taken = Vec::with_capacity(stale.len());
        for quote in stale {
            // Touched now, so one sweep queues it once; the job renews it as it works.
            let touched = self
                .db()
                .execute_raw(sql::statement(
                    self.db(),
                    "UPDATE quotes SET updated_at = $1 WHERE id = $2 AND updated_at < $3",
                    [now_ms().into(), quote.id.clone().into(), before.into()],
                ))
                .await?;
            if touched.rows_affected() == 1 {
                let signed = quote
                    .owner_signature
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok());
                taken.push((quote.id, signed));
            }
        }
        Ok(taken)
    }

    /// Shows that a quote's job is working on it (so the sweep leaves it alone).
    pub async fn touch(&self, quote_id: &str) -> Result<(), DbErr> {
        self.db()
            .execute_raw(sql::statement(
                self.db(),
                "UPDATE quotes SET updated_at = $1 WHERE id = $2",
                [now_ms().into(), quote_id.into()],
            ))
            .await?;
        Ok(())
    }

    /// Records the received files and hands the quote to the worker: payment next (100), or
    /// storing at once (300) when there is nothing to pay. Fails with `Abandoned` if the
    /// claim was lost meanwhile.
    async fn finish_upload<E: std::error::Error + 'static>(
        &self,
        quote: &Quote,
        files: &[ReceivedFile],
        signed: Option<&OwnerSignature>,
    ) -> Result<i32, AcceptError<E>> {
        // A storage microservice collects its own payment (its quote names whom to approve).
        let next = if quote.token_amount.is_zero()
            || quote.paid_with.is_some()
            || quote.remote_url.is_some()
        {
            status::STORING
        } else {
            status::PAYMENT_STARTED
        };
        let signature = match signed {
            Some(s) => Some(
                serde_json::to_string(s)
                    .map_err(|e| AcceptError::Db(DbErr::Custom(e.to_string())))?,
            ),
            None => None,
        };
        let txn = sql::begin_write(self.db()).await?;
        for (i, f) in files.iter().enumerate() {
            txn.execute_raw(sql::statement(
                &txn,
                "UPDATE quote_files SET name = $1, cid = $2, car_id = $3, piece_cid = $4 \
                 WHERE quote_id = $5 AND idx = $6",
                [
                    f.name.clone().into(),
                    f.cid.clone().into(),
                    f.car_id.clone().into(),
                    f.piece_cid.clone().into(),
                    quote.id.clone().into(),
                    (i as i32).into(),
                ],
            ))
            .await?;
        }
        let moved = txn
            .execute_raw(sql::statement(
                &txn,
                "UPDATE quotes SET status = $1, owner_signature = $2, updated_at = $3 WHERE id = $4 AND status = $5",
                [
                    next.into(),
                    signature.into(),
                    now_ms().into(),
                    quote.id.clone().into(),
                    RECEIVING.into(),
                ],
            ))
            .await?;
        if moved.rows_affected() != 1 {
            txn.rollback().await?;
            return Err(AcceptError::Abandoned);
        }
        txn.commit().await?;
        Ok(next)
    }

    /// Moves a quote from one status to another; false if it was not in `from`.
    pub async fn transition(
        &self,
        quote_id: &str,
        from: &[i32],
        to: i32,
        failure: Option<&str>,
    ) -> Result<bool, DbErr> {
        let list = from
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let result = self
            .db()
            .execute_raw(sql::statement(
                self.db(),
                &format!(
                    "UPDATE quotes SET status = $1, failure = $2, updated_at = $3 WHERE id = $4 AND status IN ({list})"
                ),
                [to.into(), failure.map(str::to_string).into(), now_ms().into(), quote_id.into()],
            ))
            .await?;
        let moved = result.rows_affected() == 1;
        if moved {
            self.changed(quote_id).await;
        }
        Ok(moved)
    }

    /// Records what the storage produced and marks the quote done.
    pub async fn complete(&self, quote_id: &str, link: &str) -> Result<(), DbErr> {
        self.db()
            .execute_raw(sql::statement(
                self.db(),
                "UPDATE quotes SET status = $1, link = $2, updated_at = $3 WHERE id = $4",
                [
                    status::DONE.into(),
                    link.into(),
                    now_ms().into(),
                    quote_id.into(),
                ],
            ))
            .await?;
        self.changed(quote_id).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_text_matches_the_reference_example() {
        assert_eq!(
            signed_text("123565", "1768214571"),
            "0x0ee382b39a39e05500d99233cdca83cd9959be4ff557ce7f3f29c9ce99d3b5de"
        );
    }
}

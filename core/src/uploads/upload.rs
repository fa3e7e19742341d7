//! Receiving the files of a quote: who may upload, the one-at-a-time claim on a quote, and
//! recording what was received before the worker takes over.
use alloy_primitives::Address;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use sha2::{Digest, Sha256};

use super::{Quote, QuoteError, QuoteService, status};
use crate::{
    auth::{
        nonce::NonceError,
        signature::SignatureError,
        signed::{self, SignedRequestError},
    },
    sql,
    time::now_ms,
};

/// Receiving files; the quote is claimed by one upload at a time.
pub const RECEIVING: i32 = 2;

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
    pub sha256: String,
    pub piece_cid: String,
}

/// Checks that the quote's owner signed `quoteId + nonce` with a fresh nonce.
pub async fn verify_owner(
    db: &DatabaseConnection,
    quote: &Quote,
    nonce: &str,
    signature: &str,
) -> Result<(), UploadError> {
    let text = signed_text(&quote.id, nonce);
    verify_signer(db, &quote.owner, &text, nonce, signature).await
}

pub async fn verify_signer(
    db: &DatabaseConnection,
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
    #[error(transparent)]
    Store(crate::content::ContentError),
}

/// Imports one file of a quote, which must be exactly `expected` bytes long.
pub async fn receive_file<R: tokio::io::AsyncRead + Unpin>(
    content: &crate::content::ContentStore,
    reader: R,
    name: Option<String>,
    expected: u64,
    received: &mut Vec<ReceivedFile>,
) -> Result<(), FileError> {
    use crate::content::ContentError;
    let imported = content
        .import(reader, wharf_content::Profile::KUBO, Some(expected))
        .await
        .map_err(|e| match e {
            ContentError::TooLarge { .. } => FileError::SizeMismatch,
            ContentError::Read(_) => FileError::CutOff,
            other => FileError::Store(other),
        })?;
    let summary = imported.summary;
    received.push(ReceivedFile {
        name: name.map(|n| n.chars().take(255).collect()),
        length: summary.size,
        cid: summary.root.to_string(),
        car_id: imported.car_id,
        sha256: hex::encode(summary.sha256),
        piece_cid: summary.piece.cid_v1().to_string(),
    });
    if summary.size != expected {
        return Err(FileError::SizeMismatch);
    }
    Ok(())
}

impl QuoteService {
    /// Authorises an upload and claims the quote for it (status 1 -> 2), atomically: of two
    /// uploads to one quote, one wins and the other is told the files are already uploaded.
    pub async fn begin_upload(
        &self,
        quote_id: &str,
        nonce: &str,
        signature: &str,
    ) -> Result<Quote, UploadError> {
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
    ) -> Result<Quote, UploadError> {
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

    /// Gives up an upload: its imported files are removed and the quote waits again.
    pub async fn discard_upload(
        &self,
        content: &crate::content::ContentStore,
        quote_id: &str,
        received: &[ReceivedFile],
    ) {
        for file in received {
            if let Err(e) = content.remove_car(&file.car_id).await {
                tracing::warn!(error = %e, car = %file.car_id, "cleaning up a refused upload failed");
            }
        }
        if let Err(e) = self.abandon_upload(quote_id).await {
            tracing::error!(error = %e, quote = %quote_id, "releasing a quote failed");
        }
    }

    async fn claim(&self, quote_id: &str) -> Result<Quote, UploadError> {
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
        // Read back after the claim: a payment with credits may have landed since `quote`
        // was loaded, and nothing can change it once the quote is claimed.
        Ok(self.get(quote_id).await?)
    }

    /// Gives a claimed quote back (the upload failed before completing).
    pub async fn abandon_upload(&self, quote_id: &str) -> Result<(), DbErr> {
        self.db()
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
            .await?;
        Ok(())
    }

    /// Records the received files and hands the quote to the worker: payment next (100), or
    /// storing at once (300) when there is nothing to pay.
    pub async fn finish_upload(&self, quote: &Quote, files: &[ReceivedFile]) -> Result<i32, DbErr> {
        // A storage microservice collects its own payment (its quote names whom to approve).
        let next = if quote.token_amount.is_zero()
            || quote.paid_with.is_some()
            || quote.remote_url.is_some()
        {
            status::STORING
        } else {
            status::PAYMENT_STARTED
        };
        let txn = sql::begin_write(self.db()).await?;
        for (i, f) in files.iter().enumerate() {
            txn.execute_raw(sql::statement(
                &txn,
                "UPDATE quote_files SET name = $1, cid = $2, car_id = $3, sha256 = $4, piece_cid = $5 \
                 WHERE quote_id = $6 AND idx = $7",
                [
                    f.name.clone().into(),
                    f.cid.clone().into(),
                    f.car_id.clone().into(),
                    f.sha256.clone().into(),
                    f.piece_cid.clone().into(),
                    quote.id.clone().into(),
                    (i as i32).into(),
                ],
            ))
            .await?;
        }
        txn.execute_raw(sql::statement(
            &txn,
            "UPDATE quotes SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
            [
                next.into(),
                now_ms().into(),
                quote.id.clone().into(),
                RECEIVING.into(),
            ],
        ))
        .await?;
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
        Ok(result.rows_affected() == 1)
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

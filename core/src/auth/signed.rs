//! A wallet-signed request as the legacy families send it: a message, a nonce and an EIP-191
//! signature. The signature is checked first, then the nonce is consumed atomically, so a bad
//! signature never burns a nonce and a replay never passes.
use alloy_primitives::Address;
use sea_orm::{DatabaseConnection, DbErr};

use super::{
    nonce::{self, Nonce, NonceError},
    signature::{self, SignatureError},
};

#[derive(Debug, thiserror::Error)]
pub enum SignedRequestError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Nonce(NonceError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<NonceError> for SignedRequestError {
    fn from(e: NonceError) -> Self {
        match e {
            NonceError::Db(db) => SignedRequestError::Db(db),
            other => SignedRequestError::Nonce(other),
        }
    }
}

/// Checks that `signer` signed `message` and that `nonce_text` is above the signer's last nonce,
/// recording it.
pub async fn verify(
    db: &DatabaseConnection,
    signer: &Address,
    message: &[u8],
    nonce_text: &str,
    signature_hex: &str,
) -> Result<Nonce, SignedRequestError> {
    let nonce = Nonce::parse(nonce_text)?;
    signature::verify_signer(message, signature_hex, signer)?;
    nonce::consume(db, signer, &nonce).await?;
    Ok(nonce)
}

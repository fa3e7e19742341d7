//! Storage backends behind one trait: the built-in `ipfs` storage (blocks in wharf's blob
//! store, served by its gateway) and registered legacy storage microservices.
use std::{collections::HashMap, str::FromStr, sync::Arc};

use alloy_primitives::{Address, U256};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wharf_entity::quote_file;

use super::{Quote, QuoteRequest, microservice::RemoteError, status};
use crate::{
    config::Config,
    pricing::{self, Decimal},
};

/// What a backend priced: the amount to pay and whom to approve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    /// The backend's own quote id (a microservice's); None lets wharf make one.
    pub id: Option<String>,
    pub chain_id: u64,
    pub token_address: Address,
    pub token_amount: U256,
    pub approve_address: Address,
}

/// The owner's legacy signature over `sha256(quoteId + nonce)`, passed on to storages that
/// check it themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerSignature {
    pub nonce: String,
    pub signature: String,
}

/// How a store request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// Stored now; the link JSON getLink returns.
    Done(Value),
    /// Handed to a storage that finishes on its own; its status says when.
    Handed,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The request cannot be served as asked (a client mistake).
    #[error("{0}")]
    Invalid(String),
    #[error("upload not completed yet")]
    NotDone,
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

#[async_trait::async_trait]
pub trait StorageBackend: Send + Sync {
    /// Prices storing `total_bytes` as `request` asks.
    async fn quote(&self, request: &QuoteRequest, total_bytes: u64)
    -> Result<Priced, BackendError>;
    /// Stores the received files of a paid quote. Safe to call again after a crash.
    async fn store(
        &self,
        quote: &Quote,
        files: &[quote_file::Model],
        signed: Option<&OwnerSignature>,
    ) -> Result<Stored, BackendError>;
    /// The storage's own status of a handed-over quote (None: wharf's status is the truth).
    async fn status(&self, quote: &Quote) -> Result<Option<i32>, BackendError>;
    /// What the storage produced (CIDs, deal ids, transaction ids), for getLink.
    async fn link(&self, quote: &Quote, signed: &OwnerSignature) -> Result<Value, BackendError>;
}

/// The built-in storage: files are imported into the blob store as they arrive, so storing
/// only records their CIDs; prices come from wharf.toml.
pub struct BuiltIn {
    pub config: Arc<Config>,
    pub treasuries: HashMap<u64, Address>,
}

#[async_trait::async_trait]
impl StorageBackend for BuiltIn {
    async fn quote(
        &self,
        request: &QuoteRequest,
        total_bytes: u64,
    ) -> Result<Priced, BackendError> {
        let storage = self
            .config
            .storages
            .iter()
            .find(|s| s.kind == request.storage)
            .ok_or_else(|| BackendError::Invalid("Chosen storage type does not exist.".into()))?;
        if storage.price_per_gib_month.is_empty() {
            // A free storage: nothing to pay, nobody to approve.
            return Ok(Priced {
                id: None,
                chain_id: request.chain_id,
                token_address: request.token_address,
                token_amount: U256::ZERO,
                approve_address: Address::ZERO,
            });
        }
        let invalid = |t: &str| BackendError::Invalid(t.to_string());
        let chain = self
            .config
            .chains
            .iter()
            .find(|c| c.chain_id == request.chain_id)
            .ok_or_else(|| invalid("Payment chain not accepted."))?;
        let token = chain
            .tokens
            .iter()
            .find(|t| Address::from_str(&t.address).ok() == Some(request.token_address))
            .ok_or_else(|| invalid("Payment token not accepted."))?;
        let price = storage
            .price_per_gib_month
            .get(&format!("{}:{}", chain.chain_id, token.symbol))
            .ok_or_else(|| invalid("Payment token not accepted."))?;
        let price = Decimal::parse(price).map_err(|e| invalid(&e.to_string()))?;
        let amount = pricing::amount(&price, token.decimals, total_bytes, request.duration_secs)
            .map_err(|e| invalid(&e.to_string()))?;
        let treasury = self
            .treasuries
            .get(&chain.chain_id)
            .copied()
            .ok_or_else(|| {
                invalid(&format!(
                    "chain {} has no treasury configured",
                    chain.chain_id
                ))
            })?;
        Ok(Priced {
            id: None,
            chain_id: request.chain_id,
            token_address: request.token_address,
            token_amount: amount,
            approve_address: treasury,
        })
    }

    async fn store(
        &self,
        quote: &Quote,
        files: &[quote_file::Model],
        _signed: Option<&OwnerSignature>,
    ) -> Result<Stored, BackendError> {
        let mut link = Vec::with_capacity(files.len());
        for file in files {
            let cid = file.cid.as_ref().ok_or_else(|| {
                BackendError::Invalid(format!(
                    "file {} of quote {} was never received",
                    file.idx, quote.id
                ))
            })?;
            link.push(json!({"type": "ipfs", "cid": cid}));
        }
        Ok(Stored::Done(Value::Array(link)))
    }

    async fn status(&self, _quote: &Quote) -> Result<Option<i32>, BackendError> {
        Ok(None)
    }

    async fn link(&self, quote: &Quote, _signed: &OwnerSignature) -> Result<Value, BackendError> {
        if quote.status != status::DONE {
            return Err(BackendError::NotDone);
        }
        Ok(quote
            .link
            .as_deref()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Array(Vec::new())))
    }
}

//! Quotes: validated, priced from the configuration, stored with their files.
use std::{collections::HashMap, str::FromStr, sync::Arc};

use alloy_primitives::{Address, U256};
use rand::RngCore;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use wharf_entity::{quote, quote_file};

use super::{status, storages};
use crate::{
    auth::address_key,
    config::Config,
    pricing::{self, Decimal},
    sql,
    time::now_ms,
};

#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    #[error("chosen storage type does not exist")]
    UnknownStorage,
    #[error("{0}")]
    Invalid(String),
    #[error("quote does not exist")]
    NotFound,
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What a client asks to have priced.
#[derive(Debug, Clone)]
pub struct QuoteRequest {
    pub storage: String,
    pub file_lengths: Vec<u64>,
    pub duration_secs: u64,
    pub chain_id: u64,
    pub token_address: Address,
    pub owner: Address,
}

/// A stored quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub id: String,
    pub owner: Address,
    pub storage: String,
    pub chain_id: u64,
    pub token_address: Address,
    pub token_amount: U256,
    pub approve_address: Address,
    pub duration_secs: u64,
    pub total_bytes: u64,
    pub file_count: usize,
    pub status: i32,
    pub created_at: i64,
    pub expires_at: i64,
    pub link: Option<String>,
    /// The web-core access token that paid, when paid with credits.
    pub paid_with: Option<String>,
}

impl TryFrom<quote::Model> for Quote {
    type Error = QuoteError;
    fn try_from(m: quote::Model) -> Result<Self, QuoteError> {
        let corrupt =
            |what: &str| QuoteError::Db(DbErr::Custom(format!("quote {}: bad {what}", m.id)));
        Ok(Quote {
            owner: Address::from_str(&m.owner).map_err(|_| corrupt("owner"))?,
            token_address: Address::from_str(&m.token_address).map_err(|_| corrupt("token"))?,
            token_amount: U256::from_str_radix(&m.token_amount, 10)
                .map_err(|_| corrupt("amount"))?,
            approve_address: Address::from_str(&m.approve_address)
                .map_err(|_| corrupt("approve address"))?,
            chain_id: m.chain_id as u64,
            duration_secs: m.duration as u64,
            total_bytes: m.total_bytes as u64,
            file_count: m.file_count as usize,
            status: m.status,
            created_at: m.created_at,
            expires_at: m.expires_at,
            link: m.link,
            paid_with: m.paid_with,
            storage: m.storage,
            id: m.id,
        })
    }
}

#[derive(Clone)]
pub struct QuoteService {
    config: Arc<Config>,
    db: DatabaseConnection,
    /// Treasury address per chain id: where payments go and who sends `transferFrom`.
    treasuries: HashMap<u64, Address>,
}

impl QuoteService {
    pub fn new(
        config: Arc<Config>,
        db: DatabaseConnection,
        treasuries: HashMap<u64, Address>,
    ) -> Self {
        Self {
            config,
            db,
            treasuries,
        }
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn treasury(&self, chain_id: u64) -> Option<Address> {
        self.treasuries.get(&chain_id).copied()
    }

    pub async fn offered(&self) -> Result<Vec<storages::StorageOffer>, DbErr> {
        storages::offered(&self.config, &self.db).await
    }

    /// Validates and prices a request, and stores the quote (status 1, waiting for files).
    pub async fn create(&self, request: QuoteRequest) -> Result<Quote, QuoteError> {
        let limits = &self.config.dbs;
        let offer = self
            .offered()
            .await?
            .into_iter()
            .find(|o| o.kind == request.storage)
            .ok_or(QuoteError::UnknownStorage)?;
        if offer.microservice_url.is_some() {
            return Err(QuoteError::Unsupported(
                "quotes for microservice storages are not available yet".into(),
            ));
        }
        let count = request.file_lengths.len();
        if count == 0 {
            return Err(QuoteError::Invalid("Empty files field.".into()));
        }
        if count > limits.max_files {
            return Err(QuoteError::Invalid(format!(
                "Too many files. Max {}.",
                limits.max_files
            )));
        }
        let total = request
            .file_lengths
            .iter()
            .try_fold(0u64, |acc, l| acc.checked_add(*l))
            .filter(|t| *t <= limits.max_total_bytes)
            .ok_or_else(|| {
                QuoteError::Invalid(format!(
                    "Total file length may not exceed {} bytes",
                    limits.max_total_bytes
                ))
            })?;
        if request.duration_secs == 0 || request.duration_secs > limits.max_duration_secs {
            return Err(QuoteError::Invalid(format!(
                "duration must be between 1 and {} seconds",
                limits.max_duration_secs
            )));
        }
        let storage_config = self
            .config
            .storages
            .iter()
            .find(|s| s.kind == request.storage)
            .ok_or(QuoteError::UnknownStorage)?;
        let (amount, approve) = if storage_config.price_per_gib_month.is_empty() {
            // A free storage: nothing to pay, nobody to approve.
            (U256::ZERO, Address::ZERO)
        } else {
            let chain = self
                .config
                .chains
                .iter()
                .find(|c| c.chain_id == request.chain_id)
                .ok_or_else(|| QuoteError::Invalid("Payment chain not accepted.".into()))?;
            let token = chain
                .tokens
                .iter()
                .find(|t| Address::from_str(&t.address).ok() == Some(request.token_address))
                .ok_or_else(|| QuoteError::Invalid("Payment token not accepted.".into()))?;
            let price = storage_config
                .price_per_gib_month
                .get(&format!("{}:{}", chain.chain_id, token.symbol))
                .ok_or_else(|| QuoteError::Invalid("Payment token not accepted.".into()))?;
            let price = Decimal::parse(price).map_err(|e| QuoteError::Invalid(e.to_string()))?;
            let amount = pricing::amount(&price, token.decimals, total, request.duration_secs)
                .map_err(|e| QuoteError::Invalid(e.to_string()))?;
            let treasury = self.treasury(chain.chain_id).ok_or_else(|| {
                QuoteError::Invalid(format!(
                    "chain {} has no treasury configured",
                    chain.chain_id
                ))
            })?;
            (amount, treasury)
        };
        let mut id_bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id_bytes);
        let now = now_ms();
        let quote = Quote {
            id: hex::encode(id_bytes),
            owner: request.owner,
            storage: request.storage,
            chain_id: request.chain_id,
            token_address: request.token_address,
            token_amount: amount,
            approve_address: approve,
            duration_secs: request.duration_secs,
            total_bytes: total,
            file_count: count,
            status: status::WAITING,
            created_at: now,
            expires_at: now + (self.config.dbs.quote_ttl_secs as i64).saturating_mul(1000),
            link: None,
            paid_with: None,
        };
        self.insert(&quote, &request.file_lengths).await?;
        Ok(quote)
    }

    async fn insert(&self, q: &Quote, lengths: &[u64]) -> Result<(), DbErr> {
        let txn = sql::begin_write(&self.db).await?;
        txn_exec(
            &txn,
            "INSERT INTO quotes (id, owner, storage, chain_id, token_address, token_amount, approve_address, duration, total_bytes, file_count, status, created_at, expires_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            vec![
                q.id.clone().into(),
                address_key(&q.owner).into(),
                q.storage.clone().into(),
                (q.chain_id as i64).into(),
                address_key(&q.token_address).into(),
                q.token_amount.to_string().into(),
                address_key(&q.approve_address).into(),
                (q.duration_secs as i64).into(),
                (q.total_bytes as i64).into(),
                (q.file_count as i32).into(),
                q.status.into(),
                q.created_at.into(),
                q.expires_at.into(),
                q.created_at.into(),
            ],
        )
        .await?;
        for (i, length) in lengths.iter().enumerate() {
            txn_exec(
                &txn,
                "INSERT INTO quote_files (quote_id, idx, length) VALUES ($1, $2, $3)",
                vec![
                    q.id.clone().into(),
                    (i as i32).into(),
                    (*length as i64).into(),
                ],
            )
            .await?;
        }
        txn.commit().await
    }

    pub async fn get(&self, id: &str) -> Result<Quote, QuoteError> {
        quote::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .ok_or(QuoteError::NotFound)?
            .try_into()
    }

    /// The files of a quote in order.
    pub async fn files(&self, id: &str) -> Result<Vec<quote_file::Model>, QuoteError> {
        Ok(quote_file::Entity::find()
            .filter(quote_file::Column::QuoteId.eq(id))
            .order_by_asc(quote_file::Column::Idx)
            .all(&self.db)
            .await?)
    }

    /// Quotes of an owner, newest first, before the quote created at `before`.
    pub async fn list(
        &self,
        owner: &Address,
        before: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<Quote>, QuoteError> {
        let mut query = quote::Entity::find()
            .filter(quote::Column::Owner.eq(address_key(owner)))
            .order_by_desc(quote::Column::CreatedAt)
            .order_by_desc(quote::Column::Id)
            .limit(limit);
        if let Some((created, id)) = before {
            query = query.filter(
                sea_orm::Condition::any()
                    .add(quote::Column::CreatedAt.lt(created))
                    .add(
                        sea_orm::Condition::all()
                            .add(quote::Column::CreatedAt.eq(created))
                            .add(quote::Column::Id.lt(id)),
                    ),
            );
        }
        query
            .all(&self.db)
            .await?
            .into_iter()
            .map(Quote::try_from)
            .collect()
    }
}

impl QuoteService {
    /// One page (1-based) of an owner's quotes for a storage type, newest first, and the
    /// number of pages.
    pub async fn history(
        &self,
        owner: &Address,
        storage: &str,
        page: u64,
        page_size: u64,
    ) -> Result<(u64, Vec<Quote>), QuoteError> {
        use sea_orm::PaginatorTrait;
        let query = quote::Entity::find()
            .filter(quote::Column::Owner.eq(address_key(owner)))
            .filter(quote::Column::Storage.eq(storage))
            .order_by_desc(quote::Column::CreatedAt)
            .order_by_desc(quote::Column::Id);
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .offset(page.saturating_sub(1).saturating_mul(page_size))
            .limit(page_size)
            .all(&self.db)
            .await?;
        let quotes = rows
            .into_iter()
            .map(Quote::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total.div_ceil(page_size.max(1)), quotes))
    }
}

async fn txn_exec(
    txn: &sea_orm::DatabaseTransaction,
    text: &str,
    values: Vec<sea_orm::Value>,
) -> Result<(), DbErr> {
    use sea_orm::ConnectionTrait;
    txn.execute_raw(sql::statement(txn, text, values)).await?;
    Ok(())
}

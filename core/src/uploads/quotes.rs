//! Quotes: validated, priced from the configuration, stored with their files.
use std::{collections::HashMap, str::FromStr, sync::Arc};

use alloy_primitives::{Address, U256};
use rand::RngCore;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use wharf_entity::{quote, quote_file};

use super::{
    backend::{BackendError, BuiltIn, StorageBackend},
    microservice::{Microservice, RemoteError},
    status, storages,
};
use crate::{auth::address_key, config::Config, group_commit::GroupCommit, sql, time::now_ms};

#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    #[error("chosen storage type does not exist")]
    UnknownStorage,
    #[error("{0}")]
    Invalid(String),
    #[error("quote does not exist")]
    NotFound,
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<BackendError> for QuoteError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Invalid(text) => QuoteError::Invalid(text),
            BackendError::NotDone => QuoteError::Invalid(e.to_string()),
            BackendError::Remote(remote) => QuoteError::Remote(remote),
        }
    }
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
    pub updated_at: i64,
    pub link: Option<String>,
    /// The web-core access token that paid, when paid with credits.
    pub paid_with: Option<String>,
    /// The storage microservice that priced it (None: a storage built into wharf).
    pub remote_url: Option<String>,
    /// When the files were handed to that microservice.
    pub forwarded_at: Option<i64>,
    /// The upload's signature, kept for a microservice that checks it itself.
    pub owner_signature: Option<super::backend::OwnerSignature>,
}

impl Quote {
    /// A final status: done, payment failed, or storing failed.
    pub fn is_final(&self) -> bool {
        status::is_final(self.status)
    }
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
            updated_at: m.updated_at,
            link: m.link,
            paid_with: m.paid_with,
            remote_url: m.remote_url,
            forwarded_at: m.forwarded_at,
            owner_signature: m
                .owner_signature
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            storage: m.storage,
            id: m.id,
        })
    }
}

#[derive(Clone)]
pub struct QuoteService {
    config: Arc<Config>,
    db: DatabaseConnection,
    pub(crate) content: crate::content::ContentStore,
    feed: crate::feed::ChangeFeed,
    built_in: Arc<BuiltIn>,
    /// For talking to storage microservices.
    http: reqwest::Client,
    /// New quotes, stored in batches (see `group_commit`).
    inserts: GroupCommit<(Quote, Vec<u64>)>,
    registry: storages::RegistryCache,
}

/// A quote id of our own: 32 hex digits, the creation time in milliseconds (48 bits) then 80
/// random bits. Ids that grow with time land at the end of the quotes' indexes, so a batch of
/// new quotes dirties a few pages instead of one page per quote (decision 131); 80 random bits
/// keep an id as unguessable as it needs to be.
fn new_quote_id(now_ms: i64) -> String {
    let mut id = [0u8; 16];
    id[..6].copy_from_slice(&now_ms.to_be_bytes()[2..]);
    rand::thread_rng().fill_bytes(&mut id[6..]);
    hex::encode(id)
}

/// Quotes stored per transaction at most.
const QUOTES_PER_BATCH: usize = 64;

impl QuoteService {
    pub fn new(
        config: Arc<Config>,
        db: DatabaseConnection,
        content: crate::content::ContentStore,
        feed: crate::feed::ChangeFeed,
        treasuries: HashMap<u64, Address>,
    ) -> Self {
        Self {
            content,
            feed,
            built_in: Arc::new(BuiltIn {
                config: config.clone(),
                treasuries,
            }),
            config,
            inserts: GroupCommit::start(QUOTES_PER_BATCH, {
                let db = db.clone();
                Arc::new(move |quotes| Box::pin(insert_quotes(db.clone(), quotes)))
            }),
            db,
            http: super::microservice::http_client(),
            registry: storages::RegistryCache::default(),
        }
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(crate) fn feed(&self) -> &crate::feed::ChangeFeed {
        &self.feed
    }

    /// Announces that a quote changed (its status, mostly) to subscribers.
    pub(crate) async fn changed(&self, quote_id: &str) {
        self.feed.publish(crate::feed::Topic::Quote, quote_id).await;
    }

    fn backend_of_offer(&self, offer: &storages::StorageOffer) -> Arc<dyn StorageBackend> {
        match &offer.microservice_url {
            Some(url) => Arc::new(self.microservice(url)),
            None => self.built_in.clone(),
        }
    }

    pub fn microservice(&self, url: &str) -> Microservice {
        Microservice {
            http: self.http.clone(),
            url: url.to_string(),
        }
    }

    /// The backend that stores a quote: its microservice (at the URL it registered last, or
    /// the one it had when the quote was made), else the built-in storage.
    pub async fn backend(&self, quote: &Quote) -> Result<Arc<dyn StorageBackend>, DbErr> {
        let Some(recorded) = &quote.remote_url else {
            return Ok(self.built_in.clone());
        };
        let current = self
            .offered()
            .await?
            .into_iter()
            .find(|o| o.kind == quote.storage)
            .and_then(|o| o.microservice_url);
        Ok(Arc::new(
            self.microservice(current.as_deref().unwrap_or(recorded)),
        ))
    }

    pub async fn offered(&self) -> Result<Vec<storages::StorageOffer>, DbErr> {
        storages::offered(&self.config, &self.db, &self.registry).await
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
        let backend = self.backend_of_offer(&offer);
        let priced = backend.quote(&request, total).await?;
        let now = now_ms();
        let id = priced.id.unwrap_or_else(|| new_quote_id(now));
        let quote = Quote {
            id,
            owner: request.owner,
            storage: request.storage,
            chain_id: priced.chain_id,
            token_address: priced.token_address,
            token_amount: priced.token_amount,
            approve_address: priced.approve_address,
            duration_secs: request.duration_secs,
            total_bytes: total,
            file_count: count,
            status: status::WAITING,
            created_at: now,
            expires_at: now + (self.config.dbs.quote_ttl_secs as i64).saturating_mul(1000),
            updated_at: now,
            link: None,
            paid_with: None,
            remote_url: offer.microservice_url,
            forwarded_at: None,
            owner_signature: None,
        };
        self.inserts
            .write((quote.clone(), request.file_lengths))
            .await?;
        Ok(quote)
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
    /// A quote with its status brought up to date: once handed to a storage microservice,
    /// the service's status is the quote's (asked at most once a second per quote; when the
    /// service cannot be reached, the last known status stands).
    pub async fn get_current(&self, id: &str) -> Result<Quote, QuoteError> {
        let mut quote = self.get(id).await?;
        if quote.forwarded_at.is_none() || quote.is_final() || now_ms() - quote.updated_at < 1000 {
            return Ok(quote);
        }
        let backend = self.backend(&quote).await?;
        let remote = match backend.status(&quote).await {
            Ok(remote) => remote,
            Err(e) => {
                tracing::warn!(quote = %quote.id, error = %e, "storage service status unavailable");
                None
            }
        };
        // "No such quote" from the service is not a status to adopt.
        let next = remote
            .filter(|s| *s != status::NONE)
            .unwrap_or(quote.status);
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE quotes SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
                [
                    next.into(),
                    now_ms().into(),
                    quote.id.clone().into(),
                    quote.status.into(),
                ],
            ))
            .await?;
        if next != quote.status {
            self.changed(&quote.id).await;
        }
        quote.status = next;
        Ok(quote)
    }

    /// Records that a quote's files were handed to its storage microservice.
    pub async fn mark_forwarded(&self, id: &str) -> Result<(), DbErr> {
        let now = now_ms();
        self.db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE quotes SET forwarded_at = $1, updated_at = $1 WHERE id = $2 AND forwarded_at IS NULL",
                [now.into(), id.into()],
            ))
            .await?;
        Ok(())
    }

    /// One page (1-based) of an owner's uploaded files for a storage type — a row per file,
    /// newest quote first, quotes still waiting for files left out, as the legacy storage
    /// services listed them — and the number of pages.
    pub async fn history(
        &self,
        owner: &Address,
        storage: &str,
        page: u64,
        page_size: u64,
    ) -> Result<(u64, Vec<HistoryFile>), QuoteError> {
        use sea_orm::FromQueryResult;
        let waiting = [status::WAITING, super::upload::RECEIVING];
        let filter = "FROM quote_files f JOIN quotes q ON q.id = f.quote_id \
                      WHERE q.owner = $1 AND q.storage = $2 AND q.status NOT IN ($3, $4)";
        let values = || -> Vec<sea_orm::Value> {
            vec![
                address_key(owner).into(),
                storage.into(),
                waiting[0].into(),
                waiting[1].into(),
            ]
        };
        #[derive(FromQueryResult)]
        struct Count {
            n: i64,
        }
        let total = Count::find_by_statement(sql::statement(
            &self.db,
            &format!("SELECT COUNT(*) AS n {filter}"),
            values(),
        ))
        .one(&self.db)
        .await?
        .map_or(0, |c| c.n.max(0) as u64);
        #[derive(FromQueryResult)]
        struct Row {
            quote_id: String,
            idx: i32,
            cid: Option<String>,
        }
        let offset = page.saturating_sub(1).saturating_mul(page_size);
        let rows = Row::find_by_statement(sql::statement(
            &self.db,
            &format!(
                "SELECT f.quote_id, f.idx, f.cid {filter} \
                 ORDER BY q.created_at DESC, q.id DESC, f.idx LIMIT {page_size} OFFSET {offset}"
            ),
            values(),
        ))
        .all(&self.db)
        .await?;
        let mut files = Vec::with_capacity(rows.len());
        let mut last: Option<Quote> = None;
        for row in rows {
            let quote = match last.take() {
                Some(q) if q.id == row.quote_id => q,
                _ => self.get(&row.quote_id).await?,
            };
            files.push(HistoryFile {
                quote: quote.clone(),
                index: row.idx as usize,
                cid: row.cid,
            });
            last = Some(quote);
        }
        Ok((total.div_ceil(page_size.max(1)), files))
    }
}

/// One uploaded file in an owner's history.
#[derive(Debug, Clone)]
pub struct HistoryFile {
    pub quote: Quote,
    pub index: usize,
    /// Its CID, once received (the built-in storage).
    pub cid: Option<String>,
}

/// Stores new quotes and their files in one transaction, with multi-row INSERTs.
async fn insert_quotes(
    db: DatabaseConnection,
    quotes: Vec<(Quote, Vec<u64>)>,
) -> Result<(), DbErr> {
    let txn = sql::begin_write(&db).await?;
    let mut quote_values = Vec::with_capacity(quotes.len() * 15);
    let mut file_values = Vec::new();
    for (q, lengths) in &quotes {
        quote_values.extend([
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
            q.remote_url.clone().into(),
        ]);
        for (i, length) in lengths.iter().enumerate() {
            file_values.extend([
                q.id.clone().into(),
                (i as i32).into(),
                (*length as i64).into(),
            ]);
        }
    }
    let result = async {
        sql::insert_rows(
            &txn,
            "INSERT INTO quotes (id, owner, storage, chain_id, token_address, token_amount, approve_address, duration, total_bytes, file_count, status, created_at, expires_at, updated_at, remote_url)",
            15,
            quote_values,
            "",
        )
        .await?;
        sql::insert_rows(
            &txn,
            "INSERT INTO quote_files (quote_id, idx, length)",
            3,
            file_values,
            "",
        )
        .await
    }
    .await;
    sql::settle(txn, result).await
}

#[cfg(test)]
mod tests {
    use super::new_quote_id;

    #[test]
    fn our_quote_ids_are_32_hex_digits_that_sort_by_creation_time_and_differ_within_a_millisecond()
    {
        let earlier = new_quote_id(1_764_000_000_000);
        let (a, b) = (
            new_quote_id(1_764_000_000_001),
            new_quote_id(1_764_000_000_001),
        );
        for id in [&earlier, &a, &b] {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
        }
        assert!(earlier < a && earlier < b);
        assert_ne!(a, b);
    }
}

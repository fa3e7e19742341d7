//! Everything a process of wharf needs, opened once at start-up: the API and the workers
//! share this, and nothing downstream branches on the mode.
use std::{str::FromStr, sync::Arc};

use sea_orm::DatabaseConnection;

use crate::{
    blobs::{BlobError, Blobs},
    config::Config,
    content::ContentStore,
    db::{self, DbError},
    jobs::{JobError, JobQueue},
    ledger::{Ledger, LedgerError},
    uploads::QuoteService,
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Blobs(#[from] BlobError),
    #[error(transparent)]
    Queue(#[from] JobError),
    #[error("the treasury key of chain {0} is not a valid hex private key")]
    TreasuryKey(u64),
    #[error(transparent)]
    ProviderKey(#[from] crate::provider::keys::KeyError),
    #[error(transparent)]
    Compute(#[from] crate::compute::ComputeStartError),
    #[error("provider.allow_private_networks: {0}")]
    ProviderNetworks(String),
    #[error("cannot seed promocode {code}: {source}")]
    Promocode {
        code: String,
        #[source]
        source: LedgerError,
    },
}

pub struct Services {
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    pub ledger: Ledger,
    pub blobs: Blobs,
    pub content: ContentStore,
    pub quotes: QuoteService,
    /// The Ocean Provider's data services.
    pub provider: crate::provider::ProviderService,
    /// Compute-to-data jobs.
    pub compute: crate::compute::ComputeService,
    /// web-core file hosting.
    pub hosting: crate::hosting::HostingService,
    pub queue: Arc<JobQueue>,
    /// Change announcements for subscriptions.
    pub feed: crate::feed::ChangeFeed,
    /// Database statements this process has sent.
    pub db_statements: Arc<std::sync::atomic::AtomicU64>,
    /// Subscriptions open in this process, against `graphql.max_subscriptions`.
    pub subscriptions: Arc<std::sync::atomic::AtomicUsize>,
    /// The Filecoin deal engine, when one is configured.
    pub deal_engine: Option<Arc<dyn crate::filecoin::engine::DealEngine>>,
}

impl Services {
    /// Opens the database (applying migrations), the blob store and the job queue.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let mut db = db::connect(&config.database_url()).await?;
        // Every statement this process sends, for `/metrics` and for tests that show a
        // feature's database cost.
        let db_statements = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = db_statements.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        db::count_writer_statements(&db, db_statements.clone());
        db::migrate_up(&db).await?;
        let blobs = Blobs::local(&config.blob_dir())?;
        let queue = Arc::new(JobQueue::connect(&config).await?);
        let feed = crate::feed::ChangeFeed::start(&db);
        let ledger = Ledger::new(db.clone(), &config.database_url(), feed.clone());
        for promo in &config.webcore.promocodes {
            let max = promo.max_redemptions.map(|m| m.min(i64::MAX as u64) as i64);
            ledger
                .put_promocode(&promo.code, promo.bytes as i64, max, true)
                .await
                .map_err(|source| StartError::Promocode {
                    code: promo.code.clone(),
                    source,
                })?;
        }
        let content = ContentStore::new(db.clone(), blobs.clone());
        let mut treasuries = std::collections::HashMap::new();
        for chain in &config.chains {
            if let Some(key) = &chain.treasury_key {
                let signer = alloy_signer_local::PrivateKeySigner::from_str(key.expose())
                    .map_err(|_| StartError::TreasuryKey(chain.chain_id))?;
                treasuries.insert(chain.chain_id, signer.address());
            }
        }
        let deal_engine = config.filecoin.deal_engine_url.as_ref().map(|url| {
            let token = config
                .filecoin
                .deal_engine_token
                .as_ref()
                .map(|t| t.expose().to_string())
                .unwrap_or_default();
            Arc::new(crate::filecoin::engine::Delta::new(url, &token))
                as Arc<dyn crate::filecoin::engine::DealEngine>
        });
        let provider_keys = crate::provider::keys::ProviderKeys::load(&config)?;
        let config = Arc::new(config);
        let provider = crate::provider::ProviderService::new(
            config.clone(),
            db.clone(),
            content.clone(),
            provider_keys,
        )
        .map_err(StartError::ProviderNetworks)?;
        let compute = crate::compute::ComputeService::open(
            config.clone(),
            db.clone(),
            provider.clone(),
            blobs.clone(),
            feed.clone(),
            queue.clone(),
        )
        .await?;
        let hosting = crate::hosting::HostingService::new(
            &config,
            db.clone(),
            ledger.clone(),
            content.clone(),
            feed.clone(),
        );
        let quotes = QuoteService::new(
            config.clone(),
            db.clone(),
            content.clone(),
            feed.clone(),
            treasuries,
        );
        Ok(Self {
            config,
            quotes,
            provider,
            compute,
            hosting,
            db,
            ledger,
            blobs,
            content,
            queue,
            feed,
            db_statements,
            subscriptions: Default::default(),
            deal_engine,
        })
    }
}

//! Filecoin datasets in GraphQL (operator only): datasets with their contents and
//! replications as Relay connections, providers, wallets, replication profiles, replications
//! with delta-dm's filters, every write, and `replicationUpdates(datasetId)`.

use async_graphql::{
    ComplexObject, Context, InputObject, Object, SimpleObject, Subscription,
    connection::{Connection, Edge, EmptyFields},
};
use wharf_core::feed::{Topic, next_change};
use wharf_core::filecoin::{
    self, DatasetError, contents, datasets, providers,
    replications::{self, Filters, ReplicationRequest},
    wallets,
};
use wharf_entity::{dataset_content, replication, replication_profile};

use super::{
    error::{Code, bad_input, error, internal},
    require_operator, services,
};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

fn dataset_error(e: DatasetError) -> async_graphql::Error {
    match e {
        DatasetError::Invalid(t) => bad_input(t),
        DatasetError::NotFound(t) => error(Code::NotFound, t),
        DatasetError::Conflict(t) => error(Code::Conflict, t),
        DatasetError::Db(db) => internal(db),
    }
}

fn db_error(e: sea_orm::DbErr) -> async_graphql::Error {
    internal(e)
}

/// `first`/`after` of an offset-paged connection (the cursor is the offset).
fn window(first: Option<i32>, after: Option<String>) -> async_graphql::Result<(u64, usize)> {
    let first = match first {
        None => DEFAULT_PAGE,
        Some(n) if n >= 0 && (n as usize) <= MAX_PAGE => n as usize,
        Some(_) => return Err(bad_input(format!("first must be between 0 and {MAX_PAGE}"))),
    };
    let offset = match after {
        None => 0,
        // Cursors are offsets below 2^63: anything else is not one of ours.
        Some(c) => c
            .parse::<u64>()
            .ok()
            .filter(|offset| *offset < i64::MAX as u64)
            .map(|offset| offset + 1)
            .ok_or_else(|| bad_input("after is not a cursor from this connection"))?,
    };
    Ok((offset, first))
}

#[derive(SimpleObject)]
pub struct Bytes {
    raw: i64,
    padded: i64,
}

impl From<filecoin::Bytes> for Bytes {
    fn from(b: filecoin::Bytes) -> Self {
        Bytes {
            raw: b.raw,
            padded: b.padded,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Dataset {
    id: i32,
    name: String,
    replication_quota: i64,
    /// Days each deal lasts.
    deal_duration: i64,
    bytes_replicated: Bytes,
    bytes_total: Bytes,
    count_replicated: i64,
    count_total: i64,
    wallets: Vec<String>,
    created_at: i64,
}

#[derive(SimpleObject)]
pub struct TotalCount {
    total_count: u64,
}

#[ComplexObject]
impl Dataset {
    /// The dataset's pieces in import order.
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn contents(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Content, TotalCount, EmptyFields>> {
        let (offset, first) = window(first, after)?;
        let (rows, total) = contents::page(&services(ctx)?.db, self.id, offset, first as u64)
            .await
            .map_err(dataset_error)?;
        let mut connection = Connection::with_additional_fields(
            offset > 0,
            offset + (rows.len() as u64) < total,
            TotalCount { total_count: total },
        );
        connection.edges.extend(
            rows.into_iter()
                .enumerate()
                .map(|(i, c)| Edge::new((offset + i as u64).to_string(), Content::from(c))),
        );
        Ok(connection)
    }

    /// The dataset's replications, newest first.
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn replications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Replication, TotalCount, EmptyFields>> {
        let filters = Filters {
            dataset_id: Some(self.id),
            ..Default::default()
        };
        replication_page(ctx, filters, first, after).await
    }

    async fn replication_profiles(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ReplicationProfile>> {
        Ok(providers::list_profiles(&services(ctx)?.db)
            .await
            .map_err(db_error)?
            .into_iter()
            .filter(|p| p.dataset_id == self.id)
            .map(ReplicationProfile::from)
            .collect())
    }
}

impl From<datasets::DatasetSummary> for Dataset {
    fn from(s: datasets::DatasetSummary) -> Self {
        Dataset {
            id: s.dataset.id,
            name: s.dataset.name,
            replication_quota: s.dataset.replication_quota,
            deal_duration: s.dataset.deal_duration,
            bytes_replicated: s.bytes_replicated.into(),
            bytes_total: s.bytes_total.into(),
            count_replicated: s.count_replicated,
            count_total: s.count_total,
            wallets: s.wallets,
            created_at: s.dataset.created_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct Content {
    comm_p: String,
    payload_cid: String,
    size: i64,
    padded_size: i64,
    dataset_id: i32,
    num_replications: i64,
    content_location: Option<String>,
}

impl From<dataset_content::Model> for Content {
    fn from(c: dataset_content::Model) -> Self {
        Content {
            comm_p: c.comm_p,
            payload_cid: c.payload_cid,
            size: c.size,
            padded_size: c.padded_size,
            dataset_id: c.dataset_id,
            num_replications: c.num_replications,
            content_location: c.content_location,
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct Replication {
    id: i32,
    content_comm_p: String,
    dataset_id: i32,
    provider_actor_id: String,
    status: String,
    message: String,
    deal_time: i64,
    delta_content_id: Option<i64>,
    deal_uuid: String,
    proposal_cid: String,
    on_chain_deal_id: i64,
    start_epoch: i64,
    end_epoch: i64,
    self_service: bool,
    updated_at: i64,
}

impl From<replication::Model> for Replication {
    fn from(r: replication::Model) -> Self {
        Replication {
            id: r.id,
            content_comm_p: r.content_comm_p,
            dataset_id: r.dataset_id,
            provider_actor_id: r.provider_actor_id,
            status: r.status,
            message: r.delta_message,
            deal_time: r.deal_time,
            delta_content_id: r.delta_content_id,
            deal_uuid: r.deal_uuid,
            proposal_cid: r.proposal_cid,
            on_chain_deal_id: r.on_chain_deal_id,
            start_epoch: r.start_epoch,
            end_epoch: r.end_epoch,
            self_service: r.ss_is_self_service,
            updated_at: r.updated_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct ReplicationProfile {
    provider_actor_id: String,
    dataset_id: i32,
    unsealed: bool,
    indexed: bool,
}

impl From<replication_profile::Model> for ReplicationProfile {
    fn from(p: replication_profile::Model) -> Self {
        ReplicationProfile {
            provider_actor_id: p.provider_actor_id,
            dataset_id: p.dataset_id,
            unsealed: p.unsealed,
            indexed: p.indexed,
        }
    }
}

#[derive(SimpleObject)]
pub struct Provider {
    actor_id: String,
    actor_name: String,
    allow_self_service: bool,
    bytes_replicated: Bytes,
    count_replicated: i64,
    replication_profiles: Vec<ReplicationProfile>,
}

impl From<providers::ProviderSummary> for Provider {
    fn from(s: providers::ProviderSummary) -> Self {
        Provider {
            actor_id: s.provider.actor_id,
            actor_name: s.provider.actor_name,
            allow_self_service: s.provider.allow_self_service,
            bytes_replicated: s.bytes_replicated.into(),
            count_replicated: s.count_replicated,
            replication_profiles: s.profiles.into_iter().map(Into::into).collect(),
        }
    }
}

/// A provider just added, with its self-service key (shown this once).
#[derive(SimpleObject)]
pub struct NewProvider {
    actor_id: String,
    key: String,
}

#[derive(SimpleObject)]
pub struct Wallet {
    address: String,
    key_type: String,
    dataset_ids: Vec<i32>,
}

#[derive(SimpleObject)]
pub struct ImportOutcome {
    success: Vec<String>,
    fail: Vec<String>,
}

#[derive(InputObject, Default)]
pub struct ReplicationFilter {
    statuses: Option<Vec<String>>,
    /// Dataset names.
    datasets: Option<Vec<String>>,
    providers: Option<Vec<String>>,
    self_service: Option<bool>,
    /// Unix seconds, inclusive.
    deal_time_start: Option<i64>,
    deal_time_end: Option<i64>,
    message: Option<String>,
    proposal_cid: Option<String>,
    piece_cid: Option<String>,
}

#[derive(InputObject)]
pub struct ContentInput {
    comm_p: String,
    payload_cid: String,
    size: u64,
    padded_size: u64,
    content_location: Option<String>,
}

async fn replication_page(
    ctx: &Context<'_>,
    mut filters: Filters,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<String, Replication, TotalCount, EmptyFields>> {
    let (offset, first) = window(first, after)?;
    filters.offset = offset;
    filters.limit = first as u64;
    let (rows, total) = replications::list(&services(ctx)?.db, &filters)
        .await
        .map_err(db_error)?;
    let mut connection = Connection::with_additional_fields(
        offset > 0,
        offset + (rows.len() as u64) < total,
        TotalCount { total_count: total },
    );
    connection.edges.extend(
        rows.into_iter()
            .enumerate()
            .map(|(i, (r, _))| Edge::new((offset + i as u64).to_string(), Replication::from(r))),
    );
    Ok(connection)
}

#[derive(Default)]
pub struct DatasetQuery;

#[Object]
impl DatasetQuery {
    /// Operator: every dataset with its counters.
    async fn datasets(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Dataset>> {
        require_operator(ctx)?;
        Ok(datasets::list(&services(ctx)?.db)
            .await
            .map_err(dataset_error)?
            .into_iter()
            .map(Dataset::from)
            .collect())
    }

    /// Operator: one dataset.
    async fn dataset(&self, ctx: &Context<'_>, id: i32) -> async_graphql::Result<Dataset> {
        require_operator(ctx)?;
        datasets::list(&services(ctx)?.db)
            .await
            .map_err(dataset_error)?
            .into_iter()
            .find(|s| s.dataset.id == id)
            .map(Dataset::from)
            .ok_or_else(|| error(Code::NotFound, format!("dataset {id} does not exist")))
    }

    /// Operator: storage providers.
    async fn providers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Provider>> {
        require_operator(ctx)?;
        Ok(providers::list(&services(ctx)?.db)
            .await
            .map_err(dataset_error)?
            .into_iter()
            .map(Provider::from)
            .collect())
    }

    /// Operator: which provider may replicate which dataset.
    async fn replication_profiles(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ReplicationProfile>> {
        require_operator(ctx)?;
        Ok(providers::list_profiles(&services(ctx)?.db)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Operator: wallets, optionally only those of one dataset.
    async fn wallets(
        &self,
        ctx: &Context<'_>,
        dataset_id: Option<i32>,
    ) -> async_graphql::Result<Vec<Wallet>> {
        require_operator(ctx)?;
        Ok(wallets::list(&services(ctx)?.db, dataset_id)
            .await
            .map_err(dataset_error)?
            .into_iter()
            .map(|(w, ids)| Wallet {
                address: w.addr,
                key_type: w.key_type,
                dataset_ids: ids,
            })
            .collect())
    }

    /// Operator: replications, newest first, with delta-dm's filters.
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn replications(
        &self,
        ctx: &Context<'_>,
        filter: Option<ReplicationFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Replication, TotalCount, EmptyFields>> {
        require_operator(ctx)?;
        let f = filter.unwrap_or_default();
        let filters = Filters {
            statuses: f.statuses.unwrap_or_default(),
            dataset_names: f.datasets.unwrap_or_default(),
            providers: f.providers.unwrap_or_default(),
            self_service: f.self_service,
            deal_time_start: f.deal_time_start,
            deal_time_end: f.deal_time_end,
            message: f.message.filter(|m| !m.is_empty()),
            proposal_cid: f.proposal_cid.filter(|m| !m.is_empty()),
            piece_cid: f.piece_cid.filter(|m| !m.is_empty()),
            ..Default::default()
        };
        replication_page(ctx, filters, first, after).await
    }
}

#[derive(Default)]
pub struct DatasetMutation;

#[Object]
impl DatasetMutation {
    /// Operator: a new dataset.
    async fn create_dataset(
        &self,
        ctx: &Context<'_>,
        name: String,
        replication_quota: u64,
        deal_duration: u64,
    ) -> async_graphql::Result<i32> {
        require_operator(ctx)?;
        let services = services(ctx)?;
        let bounds = services.config.filecoin.deal_bounds();
        Ok(datasets::create(
            &services.db,
            &bounds,
            &name,
            replication_quota,
            deal_duration,
        )
        .await
        .map_err(dataset_error)?
        .id)
    }

    /// Operator: changes a dataset's name, quota or deal duration.
    async fn update_dataset(
        &self,
        ctx: &Context<'_>,
        id: i32,
        name: Option<String>,
        replication_quota: Option<u64>,
        deal_duration: Option<u64>,
    ) -> async_graphql::Result<i32> {
        require_operator(ctx)?;
        let services = services(ctx)?;
        let bounds = services.config.filecoin.deal_bounds();
        let change = datasets::DatasetChange {
            name,
            replication_quota,
            deal_duration,
        };
        Ok(datasets::update(&services.db, &bounds, id, change)
            .await
            .map_err(dataset_error)?
            .id)
    }

    /// Operator: adds pieces to a dataset; each succeeds or fails alone.
    async fn import_contents(
        &self,
        ctx: &Context<'_>,
        dataset_id: i32,
        contents: Vec<ContentInput>,
    ) -> async_graphql::Result<ImportOutcome> {
        require_operator(ctx)?;
        let db = &services(ctx)?.db;
        datasets::get(db, dataset_id).await.map_err(dataset_error)?;
        if contents.len() > 10_000 {
            return Err(bad_input(
                "import at most 10000 contents per request (or use the CSV route)",
            ));
        }
        let rows = contents
            .into_iter()
            .map(|c| {
                let row = contents::ContentRow {
                    comm_p: c.comm_p,
                    payload_cid: c.payload_cid,
                    size: c.size,
                    padded_size: c.padded_size,
                    content_location: c.content_location,
                };
                let checked =
                    row.check()
                        .map(|()| row.clone())
                        .map_err(|reason| contents::BadRow {
                            id: row.comm_p.clone(),
                            reason,
                        });
                (dataset_id, checked)
            })
            .collect();
        let outcome = contents::import(db, rows).await.map_err(dataset_error)?;
        Ok(ImportOutcome {
            success: outcome.success,
            fail: outcome.fail,
        })
    }

    /// Operator: adds a provider; its self-service key is returned this once.
    async fn create_provider(
        &self,
        ctx: &Context<'_>,
        actor_id: String,
        actor_name: Option<String>,
        #[graphql(default = true)] allow_self_service: bool,
    ) -> async_graphql::Result<NewProvider> {
        require_operator(ctx)?;
        let (provider, key) = providers::create(
            &services(ctx)?.db,
            &actor_id,
            actor_name.as_deref(),
            allow_self_service,
        )
        .await
        .map_err(dataset_error)?;
        Ok(NewProvider {
            actor_id: provider.actor_id,
            key,
        })
    }

    /// Operator: renames a provider or switches its self-service.
    async fn update_provider(
        &self,
        ctx: &Context<'_>,
        actor_id: String,
        actor_name: Option<String>,
        allow_self_service: Option<bool>,
    ) -> async_graphql::Result<bool> {
        require_operator(ctx)?;
        providers::update(
            &services(ctx)?.db,
            &actor_id,
            actor_name.as_deref(),
            allow_self_service,
        )
        .await
        .map_err(dataset_error)?;
        Ok(true)
    }

    /// Operator: lets a provider replicate a dataset.
    async fn create_replication_profile(
        &self,
        ctx: &Context<'_>,
        provider_actor_id: String,
        dataset_id: i32,
        unsealed: bool,
        indexed: bool,
    ) -> async_graphql::Result<ReplicationProfile> {
        require_operator(ctx)?;
        Ok(providers::create_profile(
            &services(ctx)?.db,
            &provider_actor_id,
            dataset_id,
            unsealed,
            indexed,
        )
        .await
        .map_err(dataset_error)?
        .into())
    }

    async fn update_replication_profile(
        &self,
        ctx: &Context<'_>,
        provider_actor_id: String,
        dataset_id: i32,
        unsealed: bool,
        indexed: bool,
    ) -> async_graphql::Result<ReplicationProfile> {
        require_operator(ctx)?;
        Ok(providers::update_profile(
            &services(ctx)?.db,
            &provider_actor_id,
            dataset_id,
            unsealed,
            indexed,
        )
        .await
        .map_err(dataset_error)?
        .into())
    }

    async fn delete_replication_profile(
        &self,
        ctx: &Context<'_>,
        provider_actor_id: String,
        dataset_id: i32,
    ) -> async_graphql::Result<bool> {
        require_operator(ctx)?;
        providers::delete_profile(&services(ctx)?.db, &provider_actor_id, dataset_id)
            .await
            .map_err(dataset_error)?;
        Ok(true)
    }

    /// Operator: reserves up to `numDeals` pieces for a provider; a worker makes the deals.
    async fn create_replications(
        &self,
        ctx: &Context<'_>,
        provider: String,
        dataset_id: Option<i32>,
        num_deals: u64,
        #[graphql(default = 3)] delay_start_days: u64,
    ) -> async_graphql::Result<Vec<Replication>> {
        require_operator(ctx)?;
        let reserved = replications::request_deals(
            services(ctx)?,
            &ReplicationRequest {
                provider,
                dataset_id,
                piece_cid: None,
                num_deals,
                delay_days: delay_start_days,
                end_advance_days: 0,
                self_service: false,
                located_only: false,
            },
        )
        .await
        .map_err(|e| match e {
            replications::RequestDealsError::NoEngine => error(Code::Unavailable, e.to_string()),
            replications::RequestDealsError::Dataset(d) => dataset_error(d),
            replications::RequestDealsError::Queue(q) => internal(q),
        })?;
        Ok(reserved.into_iter().map(|(r, _)| r.into()).collect())
    }

    /// Operator: registers a wallet key with the deal engine (the key is not kept here).
    async fn add_wallet(
        &self,
        ctx: &Context<'_>,
        key_type: String,
        private_key: String,
    ) -> async_graphql::Result<String> {
        require_operator(ctx)?;
        let services = services(ctx)?;
        let engine = services
            .deal_engine
            .clone()
            .ok_or_else(|| error(Code::Unavailable, "no deal engine is configured"))?;
        let wallet = wallets::register(
            engine.as_ref(),
            &services.db,
            wallets::WalletKey::Typed {
                key_type,
                private_key,
            },
        )
        .await
        .map_err(|e| match e {
            wallets::RegisterError::Invalid(t) => bad_input(t),
            wallets::RegisterError::Engine(filecoin::engine::EngineError::Refused {
                message,
                ..
            }) => bad_input(message),
            wallets::RegisterError::Engine(other) => error(Code::Unavailable, other.to_string()),
            wallets::RegisterError::Dataset(d) => dataset_error(d),
        })?;
        Ok(wallet.addr)
    }

    /// Operator: makes `datasetIds` the wallet's datasets.
    async fn associate_wallet(
        &self,
        ctx: &Context<'_>,
        address: String,
        dataset_ids: Vec<i32>,
    ) -> async_graphql::Result<bool> {
        require_operator(ctx)?;
        wallets::associate(&services(ctx)?.db, &address, &dataset_ids)
            .await
            .map_err(dataset_error)?;
        Ok(true)
    }

    async fn delete_wallet(
        &self,
        ctx: &Context<'_>,
        address: String,
    ) -> async_graphql::Result<bool> {
        require_operator(ctx)?;
        wallets::delete(&services(ctx)?.db, &address)
            .await
            .map_err(dataset_error)?;
        Ok(true)
    }
}

#[derive(Default)]
pub struct DatasetSubscription;

#[Subscription]
impl DatasetSubscription {
    /// Operator: every change to a replication of the dataset from now on.
    async fn replication_updates(
        &self,
        ctx: &Context<'_>,
        dataset_id: i32,
    ) -> async_graphql::Result<impl futures::Stream<Item = Replication> + use<>> {
        require_operator(ctx)?;
        let services = services(ctx)?.clone();
        let changes = services.feed.subscribe();
        datasets::get(&services.db, dataset_id)
            .await
            .map_err(dataset_error)?;
        let slot = super::subscriptions::take(ctx)?;
        // Read in keyset order from the moment of subscribing, whenever replications change.
        let since = (wharf_core::time::now_ms(), 0i32);
        let key = dataset_id.to_string();
        Ok(futures::stream::unfold(
            (
                services,
                since,
                std::collections::VecDeque::<Replication>::new(),
                changes,
                slot,
            ),
            move |(services, mut since, mut queued, mut changes, slot)| {
                let key = key.clone();
                async move {
                    loop {
                        if let Some(next) = queued.pop_front() {
                            return Some((next, (services, since, queued, changes, slot)));
                        }
                        next_change(&mut changes, Topic::Replication, &key).await?;
                        let changed = replications::changed_since(
                            &services.db,
                            dataset_id,
                            since.0,
                            since.1,
                            500,
                        )
                        .await;
                        match changed {
                            Ok(rows) => {
                                if let Some(last) = rows.last() {
                                    since = (last.updated_at, last.id);
                                }
                                queued.extend(rows.into_iter().map(Replication::from));
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "replication updates stopped");
                                return None;
                            }
                        }
                    }
                }
            },
        ))
    }
}

//! Filecoin datasets in GraphQL (operator only): datasets with their contents and
//! replications as Relay connections, providers, wallets, replication profiles, replications
//! with delta-dm's filters, every write, and `replicationUpdates(datasetId)`.

use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject, Subscription};
use wharf_core::feed::{Topic, next_change};
use wharf_core::filecoin::{
    self, DatasetError, contents, datasets, providers,
    replications::{self, Filters, ReplicationRequest},
    stored_cars, wallets,
};
use wharf_entity::{dataset_content, replication, replication_profile};

use super::{
    error::{Code, bad_input, error, internal},
    require_operator,
    scalars::{Long, Timestamp},
    services,
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

/// An amount of piece data in bytes, as stored (`raw`) and as sealed on Filecoin (`padded`).
#[derive(SimpleObject)]
pub struct Bytes {
    /// Bytes of the CAR files themselves (the sum of the pieces' `size`).
    raw: Long,
    /// Bytes once padded to Filecoin piece sizes (the sum of the pieces' `paddedSize`).
    padded: Long,
}

impl From<filecoin::Bytes> for Bytes {
    fn from(b: filecoin::Bytes) -> Self {
        Bytes {
            raw: b.raw.into(),
            padded: b.padded.into(),
        }
    }
}

/// A Filecoin dataset: a named set of pieces (CAR files), each to be stored with
/// `replicationQuota` providers in deals lasting `dealDuration` days.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Dataset {
    /// The dataset's id, used by the other dataset queries and mutations.
    id: i32,
    /// Unique name: lower-case letters and digits in groups joined by single hyphens.
    name: String,
    /// How many providers should each hold a copy of every piece (1 to 1000).
    replication_quota: Long,
    /// How long each deal lasts, in days (within the server's configured bounds, by default
    /// 180 to 540).
    deal_duration: Long,
    /// Bytes in live (not failed) replications; a piece counts once per replica.
    bytes_replicated: Bytes,
    /// Bytes of all the dataset's pieces, each counted once.
    bytes_total: Bytes,
    /// Live (not failed) replications of the dataset's pieces.
    count_replicated: Long,
    /// Pieces in the dataset.
    count_total: Long,
    /// Addresses of the wallets that pay for this dataset's deals; empty until one is
    /// associated (deals cannot be made without one).
    wallets: Vec<String>,
    /// When the dataset was created.
    created_at: Timestamp,
}

super::page::connection!(
    ContentConnection,
    ContentEdge,
    Content,
    "A page of a dataset's contents (CAR pieces), in import order.",
    "One content with its cursor.",
    counted
);

super::page::connection!(
    ReplicationConnection,
    ReplicationEdge,
    Replication,
    "A page of replications (storage deals), newest first.",
    "One replication with its cursor.",
    counted
);

#[ComplexObject]
impl Dataset {
    /// The dataset's pieces in import order.
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn contents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many pieces to return, 0 to 1000 (default 100).")] first: Option<i32>,
        #[graphql(desc = "The cursor of the piece to continue after, from a previous page.")]
        after: Option<String>,
    ) -> async_graphql::Result<ContentConnection> {
        let (offset, first) = window(first, after)?;
        let (rows, total) = contents::page(&services(ctx)?.db, self.id, offset, first as u64)
            .await
            .map_err(dataset_error)?;
        let mut connection =
            ContentConnection::new(offset > 0, offset + (rows.len() as u64) < total, total);
        connection.edges.extend(
            rows.into_iter()
                .enumerate()
                .map(|(i, c)| ContentEdge::new((offset + i as u64).to_string(), Content::from(c))),
        );
        Ok(connection)
    }

    /// The dataset's replications (failed ones included), newest first.
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn replications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many replications to return, 0 to 1000 (default 100).")]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the replication to continue after, from a previous page.")]
        after: Option<String>,
    ) -> async_graphql::Result<ReplicationConnection> {
        let filters = Filters {
            dataset_id: Some(self.id),
            ..Default::default()
        };
        replication_page(ctx, filters, first, after).await
    }

    /// Stored CARs added to this dataset whose piece CID is being computed, or whose
    /// computation failed (with why); oldest first. Done ones are among `contents`.
    async fn piece_computations(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<PieceComputation>> {
        Ok(stored_cars::of_dataset(&services(ctx)?.db, self.id)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(PieceComputation::from)
            .collect())
    }

    /// The providers allowed to replicate this dataset, and how.
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
            replication_quota: s.dataset.replication_quota.into(),
            deal_duration: s.dataset.deal_duration.into(),
            bytes_replicated: s.bytes_replicated.into(),
            bytes_total: s.bytes_total.into(),
            count_replicated: s.count_replicated.into(),
            count_total: s.count_total.into(),
            wallets: s.wallets,
            created_at: s.dataset.created_at.into(),
        }
    }
}

/// Where a piece computation stands.
#[derive(async_graphql::Enum, Copy, Clone, PartialEq, Eq)]
pub enum PieceComputationStatus {
    /// Queued or running: the stored CAR is being read through CommP.
    Computing,
    /// Ended without a piece; `error` says why. Adding the CAR again starts over.
    Failed,
}

/// A CAR this server stores, added to a dataset before its piece CID (CommP) is known: a
/// background job reads it once and adds the piece, which then appears in the dataset's
/// `contents`.
#[derive(SimpleObject)]
pub struct PieceComputation {
    /// The stored CAR.
    car_id: String,
    /// The dataset the piece goes to.
    dataset_id: i32,
    /// The CAR's root CID: the piece's payload CID.
    root: String,
    /// Where providers can fetch the CAR, given when it was added.
    content_location: Option<String>,
    /// Computing, or failed.
    status: PieceComputationStatus,
    /// Why it failed, or why the last attempt did.
    error: Option<String>,
    /// Runs so far.
    attempts: i32,
    /// When the CAR was added.
    requested_at: Timestamp,
    /// Its last progress.
    updated_at: Timestamp,
}

impl From<stored_cars::PieceComputation> for PieceComputation {
    fn from(p: stored_cars::PieceComputation) -> Self {
        PieceComputation {
            car_id: p.car_id,
            dataset_id: p.dataset_id,
            root: p.root,
            content_location: p.content_location,
            status: if p.status == stored_cars::FAILED {
                PieceComputationStatus::Failed
            } else {
                PieceComputationStatus::Computing
            },
            error: p.error,
            attempts: p.attempts,
            requested_at: p.requested_at.into(),
            updated_at: p.updated_at.into(),
        }
    }
}

/// One piece of a dataset: a CAR file, identified by its piece CID.
#[derive(SimpleObject)]
pub struct Content {
    /// The piece CID (CommP, `baga…`); unique across all datasets.
    comm_p: String,
    /// The root CID of the data inside the CAR file (`bafy…`).
    payload_cid: String,
    /// Size of the CAR file in bytes.
    size: Long,
    /// Size of the piece in bytes once padded: a power of two, at least 128.
    padded_size: Long,
    /// The dataset the piece belongs to.
    dataset_id: i32,
    /// Live (not failed) replications of this piece, pending ones included; at most the
    /// dataset's `replicationQuota`.
    num_replications: Long,
    /// Where providers can download the CAR file (a URL); null when not given.
    content_location: Option<String>,
}

impl From<dataset_content::Model> for Content {
    fn from(c: dataset_content::Model) -> Self {
        Content {
            comm_p: c.comm_p,
            payload_cid: c.payload_cid,
            size: c.size.into(),
            padded_size: c.padded_size.into(),
            dataset_id: c.dataset_id,
            num_replications: c.num_replications.into(),
            content_location: c.content_location,
        }
    }
}

/// One storage deal of a piece with a provider, from reservation to the chain.
#[derive(SimpleObject, Clone)]
pub struct Replication {
    /// The replication's id.
    id: i32,
    /// The piece CID (CommP) of the piece being stored.
    content_comm_p: String,
    /// The dataset the piece belongs to.
    dataset_id: i32,
    /// The provider's Filecoin actor address, e.g. `f01234`.
    provider_actor_id: String,
    /// Where the deal is. Ours: `ddm-pending` (reserved, or handed to the deal engine and
    /// waiting for it) and `ddm-submitting` (being handed over); after that the deal engine's
    /// own status, e.g. `deal-proposal-sent`, `StorageDealSealing`, `StorageDealActive`.
    /// Failed, after which the piece may be replicated again: `StorageDealProposalRejected`,
    /// `StorageDealError`, `transfer-failed`, `deal-proposal-failed` and `ddm-timed-out`.
    status: String,
    /// The deal engine's latest message, or why the deal failed; empty when there is none.
    message: String,
    /// When the replication was reserved.
    deal_time: Timestamp,
    /// The deal engine's (Delta's) content id for this deal; null until the engine has
    /// accepted it.
    delta_content_id: Option<Long>,
    /// The deal's UUID from the engine; a `PENDING_…` placeholder until known.
    deal_uuid: String,
    /// The CID of the deal proposal; a `PENDING_…` placeholder until known.
    proposal_cid: String,
    /// The deal id on chain; 0 until the deal is published.
    on_chain_deal_id: Long,
    /// Filecoin epoch (30 s each) by which the provider must have sealed the piece.
    start_epoch: Long,
    /// Filecoin epoch at which the deal ends.
    end_epoch: Long,
    /// Whether the provider requested this deal itself, through the self-service API.
    self_service: bool,
    /// When the replication last changed.
    updated_at: Timestamp,
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
            deal_time: r.deal_time.into(),
            delta_content_id: r.delta_content_id.map(Long::from),
            deal_uuid: r.deal_uuid,
            proposal_cid: r.proposal_cid,
            on_chain_deal_id: r.on_chain_deal_id.into(),
            start_epoch: r.start_epoch.into(),
            end_epoch: r.end_epoch.into(),
            self_service: r.ss_is_self_service,
            updated_at: r.updated_at.into(),
        }
    }
}

/// Permission for one provider to replicate one dataset, and how its deals are made.
#[derive(SimpleObject)]
pub struct ReplicationProfile {
    /// The provider's Filecoin actor address.
    provider_actor_id: String,
    /// The dataset it may replicate.
    dataset_id: i32,
    /// Whether the provider keeps an unsealed copy of the pieces (for fast retrieval).
    unsealed: bool,
    /// Whether the deals are announced to IPNI, so the content can be found on the network.
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

/// A Filecoin storage provider that deals can be made with.
#[derive(SimpleObject)]
pub struct Provider {
    /// The provider's Filecoin actor address, e.g. `f01234`.
    actor_id: String,
    /// A display name; empty when none was given.
    actor_name: String,
    /// Whether the provider may request deals itself with its self-service key.
    allow_self_service: bool,
    /// Bytes in the provider's live (not failed) replications.
    bytes_replicated: Bytes,
    /// The provider's live (not failed) replications.
    count_replicated: Long,
    /// The datasets the provider may replicate, and how.
    replication_profiles: Vec<ReplicationProfile>,
}

impl From<providers::ProviderSummary> for Provider {
    fn from(s: providers::ProviderSummary) -> Self {
        Provider {
            actor_id: s.provider.actor_id,
            actor_name: s.provider.actor_name,
            allow_self_service: s.provider.allow_self_service,
            bytes_replicated: s.bytes_replicated.into(),
            count_replicated: s.count_replicated.into(),
            replication_profiles: s.profiles.into_iter().map(Into::into).collect(),
        }
    }
}

/// A provider just added, with its self-service key (shown this once).
#[derive(SimpleObject)]
pub struct NewProvider {
    /// The provider's Filecoin actor address.
    actor_id: String,
    /// The provider's self-service key (a UUID). Returned only here: it cannot be read again.
    key: String,
}

/// A wallet registered with the deal engine; it pays for the deals of its datasets. Only the
/// address is kept here, never the key.
#[derive(SimpleObject)]
pub struct Wallet {
    /// The wallet's Filecoin address.
    address: String,
    /// The key's type: `secp256k1` or `bls`, or `hex` for a key imported from a lotus export.
    key_type: String,
    /// The datasets whose deals this wallet makes.
    dataset_ids: Vec<i32>,
}

/// The result of a content import: every piece was stored or refused on its own.
#[derive(SimpleObject)]
pub struct ImportOutcome {
    /// Piece CIDs stored.
    success: Vec<String>,
    /// Piece CIDs refused (`row N` when a row had none): invalid, repeated in the import, or
    /// already in a dataset.
    fail: Vec<String>,
}

/// Which replications to list; the conditions given all apply. `proposalCid`, or failing that
/// `pieceCid`, selects on its own: the other conditions are then ignored.
#[derive(InputObject, Default)]
pub struct ReplicationFilter {
    /// Only these statuses, exactly as in `Replication.status` (e.g. `ddm-pending`,
    /// `transfer-failed`).
    statuses: Option<Vec<String>>,
    /// Only replications of these datasets, by name.
    datasets: Option<Vec<String>>,
    /// Only replications with these providers, by actor address.
    providers: Option<Vec<String>>,
    /// Only self-service replications (true) or only operator-made ones (false).
    self_service: Option<bool>,
    /// Only replications reserved at or after this time; compared to the second, so any time
    /// within a second includes that whole second.
    deal_time_start: Option<Timestamp>,
    /// Only replications reserved at or before this time; compared to the second, so any time
    /// within a second includes that whole second.
    deal_time_end: Option<Timestamp>,
    /// Only replications whose message contains this text; ignored when empty.
    message: Option<String>,
    /// Only the replication with this deal proposal CID; ignored when empty.
    proposal_cid: Option<String>,
    /// Only replications of the piece with this piece CID; ignored when empty.
    piece_cid: Option<String>,
}

/// One piece to import into a dataset.
#[derive(InputObject)]
pub struct ContentInput {
    /// The piece CID (CommP, `baga…`).
    comm_p: String,
    /// The root CID of the data inside the CAR file (`bafy…`).
    payload_cid: String,
    /// Size of the CAR file in bytes; positive, and it must fit the padded size.
    size: Long,
    /// Size of the piece in bytes once padded: a power of two, at least 128.
    padded_size: Long,
    /// Where providers can download the CAR file (a URL, at most 2048 characters).
    content_location: Option<String>,
}

async fn replication_page(
    ctx: &Context<'_>,
    mut filters: Filters,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<ReplicationConnection> {
    let (offset, first) = window(first, after)?;
    filters.offset = offset;
    filters.limit = first as u64;
    let (rows, total) = replications::list(&services(ctx)?.db, &filters)
        .await
        .map_err(db_error)?;
    let mut connection =
        ReplicationConnection::new(offset > 0, offset + (rows.len() as u64) < total, total);
    connection
        .edges
        .extend(rows.into_iter().enumerate().map(|(i, (r, _))| {
            ReplicationEdge::new((offset + i as u64).to_string(), Replication::from(r))
        }));
    Ok(connection)
}

#[derive(Default)]
pub struct DatasetQuery;

/// Filecoin datasets, providers, wallets and replications (operator only).
#[Object]
impl DatasetQuery {
    /// Operator: every dataset with its counters, by id.
    async fn datasets(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Dataset>> {
        require_operator(ctx)?;
        Ok(datasets::list(&services(ctx)?.db)
            .await
            .map_err(dataset_error)?
            .into_iter()
            .map(Dataset::from)
            .collect())
    }

    /// Operator: one dataset; a NOT_FOUND error when there is none with this id.
    async fn dataset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The dataset's id.")] id: i32,
    ) -> async_graphql::Result<Dataset> {
        require_operator(ctx)?;
        datasets::list(&services(ctx)?.db)
            .await
            .map_err(dataset_error)?
            .into_iter()
            .find(|s| s.dataset.id == id)
            .map(Dataset::from)
            .ok_or_else(|| error(Code::NotFound, format!("dataset {id} does not exist")))
    }

    /// Operator: storage providers, by actor address.
    async fn providers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Provider>> {
        require_operator(ctx)?;
        Ok(providers::list(&services(ctx)?.db)
            .await
            .map_err(dataset_error)?
            .into_iter()
            .map(Provider::from)
            .collect())
    }

    /// Operator: which provider may replicate which dataset, by dataset then provider.
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

    /// Operator: wallets by address, optionally only those of one dataset.
    async fn wallets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the wallets of this dataset; all wallets when absent.")]
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
        #[graphql(desc = "Which replications to list; all of them when absent.")] filter: Option<
            ReplicationFilter,
        >,
        #[graphql(desc = "How many replications to return, 0 to 1000 (default 100).")]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the replication to continue after, from a previous page.")]
        after: Option<String>,
    ) -> async_graphql::Result<ReplicationConnection> {
        require_operator(ctx)?;
        let f = filter.unwrap_or_default();
        let filters = Filters {
            statuses: f.statuses.unwrap_or_default(),
            dataset_names: f.datasets.unwrap_or_default(),
            providers: f.providers.unwrap_or_default(),
            self_service: f.self_service,
            // The core filters compare whole seconds; a bound inside a second takes all of it.
            deal_time_start: f.deal_time_start.map(|t| t.0.div_euclid(1000)),
            deal_time_end: f.deal_time_end.map(|t| t.0.div_euclid(1000)),
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

/// Changes to Filecoin datasets, providers, wallets and replications (operator only).
#[Object]
impl DatasetMutation {
    /// Operator: creates a dataset and returns its id; a CONFLICT error when the name is taken.
    async fn create_dataset(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Unique name: lower-case letters and digits in groups joined by single hyphens, at most 254 characters."
        )]
        name: String,
        #[graphql(desc = "How many providers should each hold a copy of every piece, 1 to 1000.")]
        replication_quota: Long,
        #[graphql(
            desc = "How long each deal lasts, in days, within the server's bounds (by default 180 to 540)."
        )]
        deal_duration: Long,
    ) -> async_graphql::Result<i32> {
        require_operator(ctx)?;
        let replication_quota = replication_quota.non_negative("replicationQuota")?;
        let deal_duration = deal_duration.non_negative("dealDuration")?;
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

    /// Operator: changes a dataset's name, quota or deal duration (at least one) and returns
    /// its id. Existing deals keep their terms.
    async fn update_dataset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The dataset's id.")] id: i32,
        #[graphql(desc = "The new name, with the same rules as in `createDataset`.")] name: Option<
            String,
        >,
        #[graphql(desc = "The new replication quota, 1 to 1000.")] replication_quota: Option<Long>,
        #[graphql(desc = "The new deal duration in days.")] deal_duration: Option<Long>,
    ) -> async_graphql::Result<i32> {
        require_operator(ctx)?;
        let replication_quota = replication_quota
            .map(|q| q.non_negative("replicationQuota"))
            .transpose()?;
        let deal_duration = deal_duration
            .map(|d| d.non_negative("dealDuration"))
            .transpose()?;
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

    /// Operator: adds pieces to a dataset; each is stored or refused on its own.
    async fn import_contents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The dataset to add the pieces to.")] dataset_id: i32,
        #[graphql(desc = "The pieces, at most 10000 per request.")] contents: Vec<ContentInput>,
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
                // A negative size becomes 0, which the row's check refuses like any bad size.
                let row = contents::ContentRow {
                    comm_p: c.comm_p,
                    payload_cid: c.payload_cid,
                    size: u64::try_from(c.size.0).unwrap_or(0),
                    padded_size: u64::try_from(c.padded_size.0).unwrap_or(0),
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

    /// Operator: adds a CAR this server stores (an upload, a hosted file, a gateway import),
    /// found by its root CID, to a dataset. Its piece CID is computed by a background job;
    /// the piece then appears in the dataset's `contents`. NOT_FOUND when no such CAR is
    /// stored, CONFLICT when its payload is already a piece of a dataset or it is being
    /// added to another one.
    async fn add_stored_car(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The dataset to add the piece to.")] dataset_id: i32,
        #[graphql(desc = "The CAR's root CID (the file's CID).")] root: String,
        #[graphql(desc = "Where providers can fetch the CAR, at most 2048 characters.")]
        content_location: Option<String>,
    ) -> async_graphql::Result<PieceComputation> {
        require_operator(ctx)?;
        let services = services(ctx)?;
        let added = stored_cars::add(
            &services.db,
            &services.content,
            &services.queue,
            dataset_id,
            &root,
            content_location,
        )
        .await
        .map_err(dataset_error)?;
        Ok(added.into())
    }

    /// Operator: adds a provider; its self-service key is returned this once. A CONFLICT
    /// error when it exists already.
    async fn create_provider(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider's Filecoin actor address, e.g. `f01234`.")] actor_id: String,
        #[graphql(desc = "A display name, at most 254 characters; empty when absent.")]
        actor_name: Option<String>,
        #[graphql(
            default = true,
            desc = "Whether the provider may request deals itself with its self-service key."
        )]
        allow_self_service: bool,
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

    /// Operator: renames a provider or switches its self-service; returns true.
    async fn update_provider(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider's Filecoin actor address.")] actor_id: String,
        #[graphql(desc = "The new display name; unchanged when absent.")] actor_name: Option<
            String,
        >,
        #[graphql(desc = "Whether the provider may self-serve; unchanged when absent.")]
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

    /// Operator: lets a provider replicate a dataset; a CONFLICT error when it may already.
    async fn create_replication_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider's Filecoin actor address.")] provider_actor_id: String,
        #[graphql(desc = "The dataset it may replicate.")] dataset_id: i32,
        #[graphql(desc = "Whether the provider keeps an unsealed copy of the pieces.")]
        unsealed: bool,
        #[graphql(desc = "Whether the deals are announced to IPNI.")] indexed: bool,
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

    /// Operator: changes how a provider replicates a dataset, for deals not yet handed to the
    /// deal engine.
    async fn update_replication_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider's Filecoin actor address.")] provider_actor_id: String,
        #[graphql(desc = "The dataset of the profile.")] dataset_id: i32,
        #[graphql(desc = "Whether the provider keeps an unsealed copy of the pieces.")]
        unsealed: bool,
        #[graphql(desc = "Whether the deals are announced to IPNI.")] indexed: bool,
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

    /// Operator: stops a provider from replicating a dataset (existing deals stay); returns
    /// true.
    async fn delete_replication_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider's Filecoin actor address.")] provider_actor_id: String,
        #[graphql(desc = "The dataset of the profile.")] dataset_id: i32,
    ) -> async_graphql::Result<bool> {
        require_operator(ctx)?;
        providers::delete_profile(&services(ctx)?.db, &provider_actor_id, dataset_id)
            .await
            .map_err(dataset_error)?;
        Ok(true)
    }

    /// Operator: reserves up to `numDeals` pieces for a provider and returns the new
    /// replications (`ddm-pending`); a worker then hands them to the deal engine. Pieces come
    /// from the datasets the provider has a profile for, under their quota and not already
    /// with this provider.
    async fn create_replications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider's Filecoin actor address.")] provider: String,
        #[graphql(desc = "Only pieces of this dataset; any of the provider's when absent.")]
        dataset_id: Option<i32>,
        #[graphql(desc = "Most deals to make, 1 to 10000.")] num_deals: i32,
        #[graphql(
            default = 3,
            desc = "Days from now until the deals start (the provider's time to seal), 1 to 14."
        )]
        delay_start_days: i32,
    ) -> async_graphql::Result<Vec<Replication>> {
        require_operator(ctx)?;
        let num_deals = u64::try_from(num_deals)
            .map_err(|_| bad_input("numDeals must be between 1 and 10000"))?;
        let delay_start_days = u64::try_from(delay_start_days)
            .map_err(|_| bad_input("delayStartDays must not be negative"))?;
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

    /// Operator: registers a wallet key with the deal engine and returns the wallet's address
    /// (the key is not kept here).
    async fn add_wallet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "`secp256k1` or `bls`.")] key_type: String,
        #[graphql(desc = "The private key in base64, as in a lotus key info.")] private_key: String,
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

    /// Operator: makes `datasetIds` the wallet's datasets, replacing the previous ones;
    /// returns true.
    async fn associate_wallet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The wallet's Filecoin address.")] address: String,
        #[graphql(desc = "All the datasets the wallet should pay for; empty to detach it.")]
        dataset_ids: Vec<i32>,
    ) -> async_graphql::Result<bool> {
        require_operator(ctx)?;
        wallets::associate(&services(ctx)?.db, &address, &dataset_ids)
            .await
            .map_err(dataset_error)?;
        Ok(true)
    }

    /// Operator: forgets a wallet and its dataset links (it stays registered with the deal
    /// engine); returns true.
    async fn delete_wallet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The wallet's Filecoin address.")] address: String,
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

/// Live changes to Filecoin replications (operator only).
#[Subscription]
impl DatasetSubscription {
    /// Operator: every change to a replication of the dataset from now on: the replication as
    /// it is after the change, in the order of the changes.
    async fn replication_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The dataset whose replications to follow.")] dataset_id: i32,
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

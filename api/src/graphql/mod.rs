//! The GraphQL API: one module per domain, merged into one schema.
mod auth;
mod balances;
mod compute;
mod datasets;
pub mod error;
mod hosting;
pub mod http;
mod operations;
mod page;
mod parse_cache;
mod provider;
pub mod scalars;
pub mod subscriptions;
mod uploads;

use std::sync::Arc;

use async_graphql::{
    BatchRequest, BatchResponse, Context, MergedObject, MergedSubscription, Schema, SchemaBuilder,
    ValidationMode,
};
use wharf_core::{auth::Principal, services::Services};

use self::error::{Code, error};

/// What can be read: storages and quotes, balances, datasets and replications, compute jobs,
/// hosted files, Ocean Provider lookups, and who is signed in.
#[derive(MergedObject, Default)]
pub struct Query(
    auth::AuthQuery,
    balances::BalanceQuery,
    compute::ComputeQuery,
    datasets::DatasetQuery,
    hosting::HostingQuery,
    provider::ProviderQuery,
    uploads::UploadQuery,
);

/// What can be changed: sign-in, quotes and uploads, credit, datasets and deals, compute jobs,
/// Ocean Provider publishing, and operator chores.
#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutation,
    balances::BalanceMutation,
    compute::ComputeMutation,
    datasets::DatasetMutation,
    operations::OperationsMutation,
    provider::ProviderMutation,
    uploads::UploadMutation,
);

/// What can be followed live over `/graphql/ws` (graphql-ws): a quote's status, a balance,
/// replications of a dataset, a compute job's status.
#[derive(MergedSubscription, Default)]
pub struct Subscription(
    balances::BalanceSubscription,
    compute::ComputeSubscription,
    datasets::DatasetSubscription,
    uploads::UploadSubscription,
);

pub type WharfSchema = Schema<Query, Mutation, Subscription>;

/// The schema without runtime data or limits: what `wharf schema` prints.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
}

/// The SDL committed as `schema.graphql`.
pub fn sdl() -> String {
    schema_builder()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().sorted_fields())
}

/// The serving schemas. Both share the services, the limits and one cache of parsed
/// documents. `full` runs every validation rule; `known` runs only those that depend on a
/// request's variables (complexity, depth, upload files) and serves query documents that ran
/// through `full` without an error: a web app sends the same few documents over and over, and
/// the document-only rules cost a small query a fifth of its time (decision 138).
#[derive(Clone)]
pub struct Schemas {
    pub full: WharfSchema,
    known: WharfSchema,
    documents: parse_cache::ParseCache,
}

impl Schemas {
    /// Executes `batch` with its documents from the cache, on `known` when every document in
    /// it has passed `full` before.
    pub async fn execute(&self, mut batch: BatchRequest) -> BatchResponse {
        // The text of each document not yet known, to mark it once it has passed.
        let mut unknown: Vec<Option<String>> = Vec::new();
        for request in batch.iter_mut() {
            let known = self.documents.prepare(request);
            unknown.push((!known).then(|| request.query.clone()));
        }
        if unknown.iter().all(Option::is_none) {
            return self.known.execute_batch(batch).await;
        }
        let response = self.full.execute_batch(batch).await;
        let responses: Vec<&async_graphql::Response> = match &response {
            BatchResponse::Single(one) => vec![one],
            BatchResponse::Batch(all) => all.iter().collect(),
        };
        for (query, response) in unknown.iter().zip(responses) {
            if let Some(query) = query
                && response.errors.is_empty()
            {
                self.documents.mark_validated(query);
            }
        }
        response
    }
}

/// The serving schemas, with services and the configured limits.
pub fn build(services: Arc<Services>) -> Schemas {
    Schemas {
        full: build_one(services.clone(), ValidationMode::Strict),
        known: build_one(services, ValidationMode::Fast),
        documents: parse_cache::ParseCache::default(),
    }
}

fn build_one(services: Arc<Services>, mode: ValidationMode) -> WharfSchema {
    let limits = services.config.graphql.clone();
    let builder = schema_builder()
        .data(services)
        .validation_mode(mode)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(8);
    // Spans per request, stage and field cost a small query a tenth of its time, and the
    // extension renders the whole document for its `parse` span even when nothing records
    // it; with no extension at all, fields resolve without going through a chain. It is
    // installed only where the log filter asks for its spans
    // (`RUST_LOG=async_graphql::graphql=info`; decision 137).
    if tracing::enabled!(target: "async_graphql::graphql", tracing::Level::INFO) {
        builder
            .extension(async_graphql::extensions::Tracing)
            .finish()
    } else {
        builder.finish()
    }
}

/// The complexity of a page of `first` items (default 20, at most 100), so that the
/// `graphql.max_complexity` limit grows with what a query can fetch.
pub(crate) fn page_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let items = first.unwrap_or(20).clamp(1, 100) as usize;
    items.saturating_mul(child_complexity).saturating_add(1)
}

/// The authenticated caller of this request, if any (set by the HTTP and WebSocket layers).
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Principal>);

pub(crate) fn services<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<Services>> {
    ctx.data::<Arc<Services>>()
}

pub(crate) fn caller(ctx: &Context<'_>) -> Option<Principal> {
    ctx.data_opt::<Caller>().and_then(|c| c.0.clone())
}

pub(crate) fn require_operator(ctx: &Context<'_>) -> async_graphql::Result<()> {
    match caller(ctx) {
        Some(Principal::Operator) => Ok(()),
        Some(Principal::Wallet(_)) => Err(error(Code::Forbidden, "operator access required")),
        None => Err(error(
            Code::Unauthenticated,
            "send the operator API key as a bearer token",
        )),
    }
}

pub(crate) fn require_wallet(
    ctx: &Context<'_>,
) -> async_graphql::Result<wharf_core::auth::Address> {
    match caller(ctx) {
        Some(Principal::Wallet(address)) => Ok(address),
        Some(Principal::Operator) => Err(error(
            Code::Forbidden,
            "this needs a wallet session, not the operator key",
        )),
        None => Err(error(Code::Unauthenticated, "sign in with Ethereum first")),
    }
}

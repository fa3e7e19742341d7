//! Uploads over GraphQL: storages, quotes (owner-only via the signed-in wallet).
use std::str::FromStr;

use async_graphql::{
    Context, InputObject, Object, SimpleObject,
    connection::{Connection, Edge, EmptyFields},
};
use wharf_core::{
    auth::{Address, Principal},
    feed::{Topic, next_change},
    uploads::{Quote, QuoteError, QuoteRequest, microservice::RemoteError, status},
};

use super::{
    caller,
    error::{Code, bad_input, error, internal},
    require_wallet, services,
};

#[derive(SimpleObject)]
pub struct AcceptedToken {
    /// Token symbol.
    title: String,
    /// Token contract address.
    value: String,
    /// Price of one GiB stored for 30 days, in whole tokens (a decimal string), when wharf
    /// prices this storage itself; none for a free storage or one a microservice prices.
    price_per_gib_month: Option<String>,
}

#[derive(SimpleObject)]
pub struct PaymentOption {
    chain_id: String,
    accepted_tokens: Vec<AcceptedToken>,
}

#[derive(SimpleObject)]
pub struct Storage {
    #[graphql(name = "type")]
    kind: String,
    description: String,
    payment: Vec<PaymentOption>,
}

#[derive(SimpleObject)]
#[graphql(name = "Quote")]
pub struct QuoteObject {
    id: String,
    owner: String,
    storage: String,
    chain_id: u64,
    token_address: String,
    /// Decimal string in the token's smallest unit.
    token_amount: String,
    /// Approve this address to spend `tokenAmount` before uploading.
    approve_address: String,
    duration: u64,
    total_bytes: u64,
    file_count: u64,
    /// 1 waiting for files, 100-199 payment, 200-299 payment failed, 300-399 storing,
    /// 400 done, 401-499 storing failed.
    status: i32,
    /// Unix milliseconds.
    created_at: i64,
    /// Unix milliseconds; uploads after this are refused.
    expires_at: i64,
    /// JSON of what the storage produced (CIDs, deal ids), once done.
    link: Option<String>,
    /// Paid with web-core byte credits instead of tokens.
    paid_with_credits: bool,
}

impl From<Quote> for QuoteObject {
    fn from(q: Quote) -> Self {
        Self {
            owner: format!("{:#x}", q.owner),
            token_address: q.token_address.to_checksum(None),
            token_amount: q.token_amount.to_string(),
            approve_address: q.approve_address.to_checksum(None),
            chain_id: q.chain_id,
            duration: q.duration_secs,
            total_bytes: q.total_bytes,
            file_count: q.file_count as u64,
            status: q.status,
            created_at: q.created_at,
            expires_at: q.expires_at,
            link: q.link,
            paid_with_credits: q.paid_with.is_some(),
            storage: q.storage,
            id: q.id,
        }
    }
}

#[derive(InputObject)]
pub struct CreateQuoteInput {
    /// A storage type from `storages`.
    storage: String,
    /// Byte length of each file, in upload order.
    file_lengths: Vec<u64>,
    /// Seconds to store the files for.
    duration: u64,
    chain_id: u64,
    token_address: String,
}

fn quote_error(e: QuoteError) -> async_graphql::Error {
    match e {
        QuoteError::UnknownStorage => error(Code::NotFound, "chosen storage type does not exist"),
        QuoteError::Invalid(t) => bad_input(t),
        QuoteError::NotFound => error(Code::NotFound, "quote does not exist"),
        QuoteError::Remote(RemoteError::Refused { status, body }) => bad_input(format!(
            "the storage service refused (HTTP {status}): {body}"
        )),
        QuoteError::Remote(remote) => {
            tracing::warn!(error = %remote, "storage service failed");
            error(Code::Unavailable, "the storage service is not available")
        }
        QuoteError::Db(db) => internal(db),
    }
}

/// Only the quote's owner (or the operator) sees it.
fn visible(ctx: &Context<'_>, quote: &Quote) -> bool {
    match caller(ctx) {
        Some(Principal::Operator) => true,
        Some(Principal::Wallet(a)) => a == quote.owner,
        None => false,
    }
}

#[derive(Default)]
pub struct UploadQuery;

#[Object]
impl UploadQuery {
    /// Storages on offer and how each can be paid.
    async fn storages(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Storage>> {
        let services = services(ctx)?;
        let offers = services.quotes.offered().await.map_err(internal)?;
        let price = |kind: &str, chain: &str, symbol: &str| {
            services
                .config
                .storages
                .iter()
                .find(|s| s.kind == kind)
                .and_then(|s| s.price_per_gib_month.get(&format!("{chain}:{symbol}")))
                .cloned()
        };
        Ok(offers
            .into_iter()
            .map(|o| Storage {
                payment: o
                    .payment
                    .into_iter()
                    .map(|p| PaymentOption {
                        accepted_tokens: p
                            .accepted_tokens
                            .into_iter()
                            .map(|t| AcceptedToken {
                                price_per_gib_month: price(&o.kind, &p.chain_id, &t.title),
                                title: t.title,
                                value: t.value,
                            })
                            .collect(),
                        chain_id: p.chain_id,
                    })
                    .collect(),
                kind: o.kind,
                description: o.description,
            })
            .collect())
    }

    /// A quote of the signed-in wallet.
    async fn quote(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<QuoteObject> {
        if caller(ctx).is_none() {
            return Err(error(Code::Unauthenticated, "sign in with Ethereum first"));
        }
        let quote = services(ctx)?
            .quotes
            .get_current(&id)
            .await
            .map_err(quote_error)?;
        if !visible(ctx, &quote) {
            // Not found rather than forbidden: quote ids of others are not disclosed.
            return Err(error(Code::NotFound, "quote does not exist"));
        }
        Ok(quote.into())
    }

    /// Quotes of the signed-in wallet, newest first.
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn quotes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, QuoteObject, EmptyFields, EmptyFields>> {
        let owner = require_wallet(ctx)?;
        let first = match first {
            None => 20,
            Some(n) if (0..=100).contains(&n) => n as u64,
            Some(_) => return Err(bad_input("first must be between 0 and 100")),
        };
        let before = match &after {
            Some(cursor) => Some(
                cursor
                    .split_once(':')
                    .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_string())))
                    .ok_or_else(|| bad_input("after is not a cursor from this connection"))?,
            ),
            None => None,
        };
        let mut rows = services(ctx)?
            .quotes
            .list(&owner, before, first + 1)
            .await
            .map_err(quote_error)?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|q| Edge::new(format!("{}:{}", q.created_at, q.id), QuoteObject::from(q))),
        );
        Ok(connection)
    }
}

/// Files async-graphql received into temporary files, handed to the upload flow in order.
struct ReceivedFiles(std::vec::IntoIter<(String, tokio::fs::File)>);

#[async_trait::async_trait]
impl wharf_core::uploads::upload::FileSource for ReceivedFiles {
    type Error = std::convert::Infallible;

    async fn next_file(
        &mut self,
    ) -> Result<Option<wharf_core::uploads::upload::IncomingFile<'_>>, Self::Error> {
        Ok(self
            .0
            .next()
            .map(|(name, file)| wharf_core::uploads::upload::IncomingFile {
                name: Some(name),
                reader: Box::new(file),
            }))
    }
}

#[derive(Default)]
pub struct UploadMutation;

#[Object]
impl UploadMutation {
    /// Prices files for a storage and records the quote for the signed-in wallet.
    async fn create_quote(
        &self,
        ctx: &Context<'_>,
        input: CreateQuoteInput,
    ) -> async_graphql::Result<QuoteObject> {
        let owner = require_wallet(ctx)?;
        let token = Address::from_str(&input.token_address)
            .map_err(|_| bad_input("tokenAddress is not an address"))?;
        let quote = services(ctx)?
            .quotes
            .create(QuoteRequest {
                storage: input.storage,
                file_lengths: input.file_lengths,
                duration_secs: input.duration,
                chain_id: input.chain_id,
                token_address: token,
                owner,
            })
            .await
            .map_err(quote_error)?;
        Ok(quote.into())
    }

    /// Uploads the files of a quote of the signed-in wallet (GraphQL multipart request spec;
    /// send an `apollo-require-preflight` header). Files must come in the quoted order with
    /// their quoted lengths; the worker then pays and stores, as after `POST /upload`.
    async fn upload_files(
        &self,
        ctx: &Context<'_>,
        quote_id: String,
        files: Vec<async_graphql::Upload>,
    ) -> async_graphql::Result<QuoteObject> {
        use std::io::Seek;
        use wharf_core::uploads::upload::{AcceptError, FileError, UploadError};
        let owner = require_wallet(ctx)?;
        let services = services(ctx)?;
        // async-graphql has already received every file into a temporary file.
        let mut received = Vec::with_capacity(files.len());
        for upload in &files {
            let mut value = upload
                .value(ctx)
                .map_err(|_| bad_input("an uploaded file could not be read"))?;
            value
                .content
                .rewind()
                .map_err(|_| bad_input("an uploaded file could not be read"))?;
            received.push((value.filename, tokio::fs::File::from_std(value.content)));
        }
        let claim = services
            .quotes
            .begin_upload_as(&quote_id, &owner)
            .await
            .map_err(|e| match e {
                UploadError::NotFound => error(Code::NotFound, "quote does not exist"),
                UploadError::AlreadyUploaded => error(Code::Conflict, "files already uploaded"),
                UploadError::Expired => bad_input(e.to_string()),
                UploadError::Db(db) => internal(db),
                other => bad_input(other.to_string()),
            })?;
        let mut source = ReceivedFiles(received.into_iter());
        services
            .quotes
            .accept_upload(claim, &mut source, &services.queue, None)
            .await
            .map_err(|e| match e {
                AcceptError::File(FileError::Store(store)) => internal(store),
                AcceptError::Db(db) => internal(db),
                AcceptError::Abandoned => error(Code::Conflict, e.to_string()),
                AcceptError::TooManyFiles | AcceptError::TooFewFiles | AcceptError::NoFiles => {
                    bad_input(format!("the quote is for a different number of files: {e}"))
                }
                other => bad_input(other.to_string()),
            })?;
        Ok(services
            .quotes
            .get(&quote_id)
            .await
            .map_err(quote_error)?
            .into())
    }

    /// Pays a waiting quote of the signed-in wallet with byte credits of one of its linked
    /// access tokens: `total bytes × started months` are charged, and the upload then skips
    /// the on-chain payment. Refunded if the quote expires without an upload.
    async fn pay_quote_with_credits(
        &self,
        ctx: &Context<'_>,
        quote_id: String,
        access_token: String,
    ) -> async_graphql::Result<QuoteObject> {
        use wharf_core::uploads::credits::CreditError;
        let owner = require_wallet(ctx)?;
        let quote = services(ctx)?
            .quotes
            .pay_with_credits(&quote_id, &owner, &access_token)
            .await
            .map_err(|e| match e {
                CreditError::NotFound => error(Code::NotFound, "quote does not exist"),
                CreditError::NotPayable | CreditError::InsufficientCredit => {
                    error(Code::Conflict, e.to_string())
                }
                CreditError::Expired | CreditError::TooLarge => bad_input(e.to_string()),
                CreditError::NotYourToken => error(Code::Forbidden, e.to_string()),
                CreditError::Db(db) => internal(db),
            })?;
        Ok(quote.into())
    }
}

#[derive(Default)]
pub struct UploadSubscription;

#[async_graphql::Subscription]
impl UploadSubscription {
    /// The status of a quote now and at every change, ending after a final status (400 done,
    /// 200-299 payment failed, 401-499 storing failed). Owner only: authenticate in
    /// `connection_init`.
    async fn quote_status(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<impl futures::Stream<Item = i32> + use<>> {
        if caller(ctx).is_none() {
            return Err(error(
                Code::Unauthenticated,
                "authenticate in connection_init first",
            ));
        }
        let services = services(ctx)?.clone();
        // Listen before reading, so no change falls between the read and the listening.
        let changes = services.feed.subscribe();
        let quote = services.quotes.get(&id).await.map_err(quote_error)?;
        if !visible(ctx, &quote) {
            return Err(error(Code::NotFound, "quote does not exist"));
        }
        let slot = super::subscriptions::take(ctx)?;
        // A quote handed to a storage microservice changes at the service: ask it now and then.
        let ask_every = quote
            .remote_url
            .is_some()
            .then_some(std::time::Duration::from_secs(2));
        let state = QuoteWatch {
            services,
            id,
            changes,
            last: None,
            current: quote.status,
            ask_every,
            _slot: slot,
        };
        Ok(futures::stream::unfold(state, |mut watch| async move {
            if watch.last.is_some_and(status::is_final) {
                return None;
            }
            if watch.last.is_some() {
                loop {
                    let changed = match watch.ask_every {
                        Some(every) => tokio::select! {
                            c = next_change(&mut watch.changes, Topic::Quote, &watch.id) => c,
                            () = tokio::time::sleep(every) => Some(None),
                        },
                        None => next_change(&mut watch.changes, Topic::Quote, &watch.id).await,
                    };
                    changed?;
                    match watch.services.quotes.get_current(&watch.id).await {
                        Ok(q) if Some(q.status) != watch.last => {
                            watch.current = q.status;
                            break;
                        }
                        Ok(_) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "quote status subscription stopped");
                            return None;
                        }
                    }
                }
            }
            watch.last = Some(watch.current);
            Some((watch.current, watch))
        }))
    }
}

/// What a `quoteStatus` subscription keeps between changes.
struct QuoteWatch {
    services: std::sync::Arc<wharf_core::services::Services>,
    id: String,
    changes: tokio::sync::broadcast::Receiver<wharf_core::feed::Change>,
    last: Option<i32>,
    current: i32,
    ask_every: Option<std::time::Duration>,
    _slot: super::subscriptions::Slot,
}

//! Uploads over GraphQL: storages, quotes (owner-only via the signed-in wallet).
use std::str::FromStr;

use async_graphql::{Context, InputObject, Object, SimpleObject};
use wharf_core::{
    auth::{Address, Principal},
    feed::{Topic, next_change},
    uploads::{Quote, QuoteError, QuoteRequest, microservice::RemoteError, status},
};

use super::{
    caller,
    error::{Code, bad_input, error, internal},
    require_wallet,
    scalars::{ChainId, Long, Timestamp},
    services,
};

/// A token a storage accepts as payment on one chain.
#[derive(SimpleObject)]
pub struct AcceptedToken {
    /// Token symbol, for example `OCEAN`.
    title: String,
    /// Token contract address (`0x…`, EIP-55 checksummed where wharf knows it); pass it as
    /// `tokenAddress` to `createQuote`.
    value: String,
    /// Price of one GiB stored for 30 days, in whole tokens (a decimal string), when wharf
    /// prices this storage itself; null for a free storage or one a microservice prices.
    price_per_gib_month: Option<String>,
}

/// A chain a storage accepts payment on, with the tokens it takes there.
#[derive(SimpleObject)]
pub struct PaymentOption {
    /// The chain; pass it as `chainId` to `createQuote`.
    chain_id: ChainId,
    /// Tokens accepted on this chain.
    accepted_tokens: Vec<AcceptedToken>,
}

/// A kind of storage files can be uploaded to (IPFS, Filecoin, Arweave, …), built into wharf
/// or served by a registered storage microservice.
#[derive(SimpleObject)]
pub struct Storage {
    /// The storage's name, for example `ipfs`; pass it as `storage` to `createQuote`.
    #[graphql(name = "type")]
    kind: String,
    /// What the storage is, for people.
    description: String,
    /// The chains and tokens a quote for this storage can be paid with. A free storage lists
    /// the chains it lets through; its quotes cost nothing.
    payment: Vec<PaymentOption>,
}

super::page::connection!(
    QuoteConnection,
    QuoteEdge,
    QuoteObject,
    "A page of the signed-in wallet's quotes, newest first.",
    "One quote with its cursor."
);

/// The price of storing a set of files, and then the state of their upload: created by
/// `createQuote`, paid (on-chain when the files are uploaded, or with `payQuoteWithCredits`),
/// then stored by the worker.
#[derive(SimpleObject)]
#[graphql(name = "Quote")]
pub struct QuoteObject {
    /// The quote's id, used by `quote`, `uploadFiles`, `payQuoteWithCredits` and `quoteStatus`.
    id: String,
    /// The wallet that asked for the quote and alone may upload its files (lowercase `0x…`).
    owner: String,
    /// The storage `type` the files go to.
    storage: String,
    /// The chain the quote is paid on.
    chain_id: ChainId,
    /// Contract address of the payment token (EIP-55 checksummed).
    token_address: String,
    /// The price, in the token's smallest unit, as a decimal string (it can exceed 2^53).
    token_amount: String,
    /// Approve this address to spend `tokenAmount` of the token before uploading; the payment
    /// is taken from the owner's wallet once the files arrive.
    approve_address: String,
    /// How long the files are stored, in seconds.
    duration: Long,
    /// Bytes of all files together.
    total_bytes: Long,
    /// How many files the quote is for (at most the configured `dbs.max_files`).
    file_count: i32,
    /// Upload status code, as the legacy uploader clients read it: 1 waiting for files;
    /// 100-199 paying (100 payment started, 101 payment sent); 200-299 payment failed (201
    /// no allowance, 202 insufficient balance, 203 transaction reverted, 299 expired before
    /// upload, credits refunded); 300-399 storing; 400 done (see `link`); 401-499 storing
    /// failed. 200-299 and 400 and above are final.
    status: i32,
    /// When the quote was created.
    created_at: Timestamp,
    /// Files uploaded after this time are refused.
    expires_at: Timestamp,
    /// JSON text of what the storage produced for the files (for example
    /// `[{"type":"ipfs","cid":"…"}]`), once done; null before.
    link: Option<String>,
    /// Whether the quote was paid with web-core byte credits instead of tokens.
    paid_with_credits: bool,
}

impl From<Quote> for QuoteObject {
    fn from(q: Quote) -> Self {
        Self {
            owner: format!("{:#x}", q.owner),
            token_address: q.token_address.to_checksum(None),
            token_amount: q.token_amount.to_string(),
            approve_address: q.approve_address.to_checksum(None),
            chain_id: ChainId(q.chain_id),
            duration: q.duration_secs.into(),
            total_bytes: q.total_bytes.into(),
            file_count: i32::try_from(q.file_count).unwrap_or(i32::MAX),
            status: q.status,
            created_at: Timestamp(q.created_at),
            expires_at: Timestamp(q.expires_at),
            link: q.link,
            paid_with_credits: q.paid_with.is_some(),
            storage: q.storage,
            id: q.id,
        }
    }
}

/// What to price: files, storage, duration and the token to pay with.
#[derive(InputObject)]
pub struct CreateQuoteInput {
    /// A storage `type` from `storages`.
    storage: String,
    /// Byte length of each file, in upload order; at least one, at most the configured
    /// `dbs.max_files`, together at most `dbs.max_total_bytes`.
    file_lengths: Vec<Long>,
    /// Seconds to store the files for, from 1 to the configured `dbs.max_duration_secs`.
    duration: Long,
    /// The chain to pay on, one of the storage's `payment` options.
    chain_id: ChainId,
    /// Contract address of the token to pay with, one of that chain's `acceptedTokens`.
    token_address: String,
}

/// A chain id as registrations store it: decimal, or `0x` hexadecimal.
fn parse_chain_id(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
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

/// Storages on offer and the signed-in wallet's quotes.
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
                    .filter_map(|p| {
                        // A microservice registers its chain ids as strings; one that is no
                        // chain id cannot be paid on, so it is left out.
                        let Some(chain_id) = parse_chain_id(&p.chain_id) else {
                            tracing::warn!(
                                storage = %o.kind,
                                chain_id = %p.chain_id,
                                "payment option left out: its chain id is not a number"
                            );
                            return None;
                        };
                        Some(PaymentOption {
                            accepted_tokens: p
                                .accepted_tokens
                                .into_iter()
                                .map(|t| AcceptedToken {
                                    price_per_gib_month: price(&o.kind, &p.chain_id, &t.title),
                                    title: t.title,
                                    value: t.value,
                                })
                                .collect(),
                            chain_id: ChainId(chain_id),
                        })
                    })
                    .collect(),
                kind: o.kind,
                description: o.description,
            })
            .collect())
    }

    /// A quote of the signed-in wallet (any quote for the operator), with its status read
    /// fresh from the storage microservice when one handles it. NOT_FOUND for a quote of
    /// another wallet.
    async fn quote(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The quote's id, as `createQuote` returned it.")] id: String,
    ) -> async_graphql::Result<QuoteObject> {
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
        #[graphql(desc = "How many quotes to return, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return the quotes after this cursor (an `endCursor` of this list).")]
        after: Option<String>,
    ) -> async_graphql::Result<QuoteConnection> {
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
        let mut connection = QuoteConnection::new(after.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter().map(|q| {
                QuoteEdge::new(format!("{}:{}", q.created_at, q.id), QuoteObject::from(q))
            }),
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

/// Creating, uploading and paying quotes.
#[Object]
impl UploadMutation {
    /// Prices files for a storage and records the quote for the signed-in wallet (status 1,
    /// waiting for files until `expiresAt`).
    async fn create_quote(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The files, storage, duration and payment token to price.")]
        input: CreateQuoteInput,
    ) -> async_graphql::Result<QuoteObject> {
        let owner = require_wallet(ctx)?;
        let token = Address::from_str(&input.token_address)
            .map_err(|_| bad_input("tokenAddress is not an address"))?;
        let file_lengths = input
            .file_lengths
            .into_iter()
            .map(|length| length.non_negative("fileLengths"))
            .collect::<async_graphql::Result<Vec<u64>>>()?;
        let duration_secs = input.duration.non_negative("duration")?;
        let quote = services(ctx)?
            .quotes
            .create(QuoteRequest {
                storage: input.storage,
                file_lengths,
                duration_secs,
                chain_id: input.chain_id.0,
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
        #[graphql(desc = "The id of a quote of the signed-in wallet, still waiting for files.")]
        quote_id: String,
        #[graphql(desc = "The files, in the order and with the lengths of `fileLengths`.")]
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
        #[graphql(desc = "The id of a quote of the signed-in wallet, still waiting for files.")]
        quote_id: String,
        #[graphql(desc = "A web-core access token linked to the signed-in wallet.")]
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

/// Following a quote's upload status.
#[async_graphql::Subscription]
impl UploadSubscription {
    /// The status code of a quote (as `Quote.status`) now and at every change, ending after a
    /// final status (400 done, 200-299 payment failed, 401-499 storing failed). Owner only:
    /// authenticate in `connection_init`.
    async fn quote_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id of a quote of the authenticated wallet.")] id: String,
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

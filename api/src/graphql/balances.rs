//! Byte-credit balances: the GraphQL face of the ledger behind `/accounts/token`.

use async_graphql::{Context, Object, SimpleObject, Subscription};
use futures::Stream;
use wharf_core::{
    feed::{Topic, next_change},
    ledger::{EntryKind, LedgerError, positive_amount},
};
use wharf_entity::{access_token, ledger_entry};

use super::{
    caller,
    error::{bad_input, internal, ledger_error},
    require_operator, require_wallet,
    scalars::{Long, Timestamp},
    services,
};

super::page::connection!(
    LedgerEntryConnection,
    LedgerEntryEdge,
    LedgerEntry,
    "A page of an access token's ledger, oldest entry first.",
    "One ledger entry with its cursor."
);

const MAX_PAGE: usize = 100;
const DEFAULT_PAGE: usize = 20;

/// One offer of the price list: an amount of byte credit and what it costs.
#[derive(SimpleObject)]
pub struct PriceTier {
    /// Bytes of credit this tier buys.
    amount: Long,
    /// What the tier costs, in the operator's currency unit.
    cost: Long,
}

/// One movement of an access token's byte credit.
#[derive(SimpleObject)]
pub struct LedgerEntry {
    /// The entry's id, increasing in the order entries were written.
    id: Long,
    /// What moved the credit: `deposit`, `withdraw`, `charge`, `refund` or `promocode`.
    kind: String,
    /// Bytes of credit moved: positive for credits, negative for debits.
    amount: Long,
    /// The token's balance in bytes right after this entry.
    balance_after: Long,
    /// What the entry is for: `upload:<filehash>` or `download:<transfer>` (hosting),
    /// `quote:<quoteId>` (storage uploads), or the promocode redeemed; null when nothing is
    /// recorded, as for operator deposits and withdrawals.
    reference: Option<String>,
    /// When the entry was written.
    created_at: Timestamp,
}

impl From<ledger_entry::Model> for LedgerEntry {
    fn from(m: ledger_entry::Model) -> Self {
        Self {
            id: m.id.into(),
            kind: m.kind,
            amount: m.amount.into(),
            balance_after: m.balance_after.into(),
            reference: m.reference,
            created_at: m.created_at.into(),
        }
    }
}

/// An access token: the credential that holds byte credit and pays for hosting.
#[derive(SimpleObject)]
pub struct AccessToken {
    /// The token itself; keep it secret, as anyone holding it can spend its credit.
    token: String,
    /// Its current balance, in bytes of credit.
    balance: Long,
    /// When the token was issued.
    created_at: Timestamp,
}

/// A promocode that adds byte credit to the access token redeeming it.
#[derive(SimpleObject)]
pub struct Promocode {
    /// The code to pass to `redeemPromocode`.
    code: String,
    /// Bytes of credit one redemption adds.
    bytes: Long,
    /// How many access tokens may redeem it in all; null for no limit.
    max_redemptions: Option<Long>,
    /// How many access tokens have redeemed it so far.
    redemptions: Long,
}

#[derive(Default)]
pub struct BalanceQuery;

/// Byte-credit balances, ledgers, prices and access tokens.
#[Object]
impl BalanceQuery {
    /// Balance of an access token, in bytes of credit.
    async fn balance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The access token whose balance to read.")] token: String,
    ) -> async_graphql::Result<Long> {
        let services = services(ctx)?;
        services
            .ledger
            .balance(&token)
            .await
            .map_err(ledger_error)?
            .map(Long)
            .ok_or_else(|| ledger_error(LedgerError::UnknownToken))
    }

    /// Ledger entries of an access token, oldest first.
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn ledger(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The access token whose ledger to read; it is the credential.")]
        token: String,
        #[graphql(desc = "How many entries to return, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The cursor of the entry to continue after, from a previous page.")]
        after: Option<String>,
    ) -> async_graphql::Result<LedgerEntryConnection> {
        let services = services(ctx)?;
        let first = page_size(first)?;
        let after = match after {
            Some(cursor) => Some(
                cursor
                    .parse::<i64>()
                    .map_err(|_| bad_input("after is not a cursor from this connection"))?,
            ),
            None => None,
        };
        if !services
            .ledger
            .token_exists(&token)
            .await
            .map_err(ledger_error)?
        {
            return Err(ledger_error(LedgerError::UnknownToken));
        }
        let mut rows = services
            .ledger
            .entries(&token, after, first as u64 + 1)
            .await
            .map_err(ledger_error)?;
        let has_next = rows.len() > first;
        rows.truncate(first);
        let mut connection = LedgerEntryConnection::new(after.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|row| LedgerEntryEdge::new(row.id.to_string(), LedgerEntry::from(row))),
        );
        Ok(connection)
    }

    /// The price list of byte credit.
    async fn prices(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PriceTier>> {
        Ok(services(ctx)?
            .config
            .webcore
            .prices
            .iter()
            .map(|p| PriceTier {
                amount: p.amount.into(),
                cost: p.cost.into(),
            })
            .collect())
    }

    /// Access tokens linked to the signed-in wallet.
    async fn access_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AccessToken>> {
        let owner = require_wallet(ctx)?;
        let services = services(ctx)?;
        let tokens = services
            .ledger
            .tokens_of(&owner)
            .await
            .map_err(ledger_error)?;
        let mut out = Vec::with_capacity(tokens.len());
        for t in tokens {
            out.push(with_balance(services, t).await?);
        }
        Ok(out)
    }
}

fn page_size(first: Option<i32>) -> async_graphql::Result<usize> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if n >= 0 && (n as usize) <= MAX_PAGE => Ok(n as usize),
        Some(_) => Err(bad_input(format!("first must be between 0 and {MAX_PAGE}"))),
    }
}

async fn with_balance(
    services: &wharf_core::services::Services,
    token: access_token::Model,
) -> async_graphql::Result<AccessToken> {
    let balance = services
        .ledger
        .balance(&token.token)
        .await
        .map_err(ledger_error)?
        .unwrap_or(0);
    Ok(AccessToken {
        token: token.token,
        balance: balance.into(),
        created_at: token.created_at.into(),
    })
}

fn amount(bytes: i64) -> async_graphql::Result<i64> {
    positive_amount(i128::from(bytes)).map_err(ledger_error)
}

#[derive(Default)]
pub struct BalanceMutation;

/// Issuing and linking access tokens, redeeming promocodes and (operator) moving credit.
#[Object]
impl BalanceMutation {
    /// Issues a new access token. A signed-in wallet gets it linked.
    async fn create_access_token(&self, ctx: &Context<'_>) -> async_graphql::Result<AccessToken> {
        let services = services(ctx)?;
        let token = services.ledger.new_token().await.map_err(ledger_error)?;
        if let Some(wharf_core::auth::Principal::Wallet(owner)) = caller(ctx) {
            services
                .ledger
                .link_token(&token, &owner)
                .await
                .map_err(ledger_error)?;
        }
        Ok(AccessToken {
            token,
            balance: Long(0),
            created_at: wharf_core::time::now_ms().into(),
        })
    }

    /// Links an existing access token to the signed-in wallet.
    async fn link_access_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The access token to link to the signed-in wallet.")] token: String,
    ) -> async_graphql::Result<AccessToken> {
        let owner = require_wallet(ctx)?;
        let services = services(ctx)?;
        services
            .ledger
            .link_token(&token, &owner)
            .await
            .map_err(ledger_error)?;
        let linked = services
            .ledger
            .tokens_of(&owner)
            .await
            .map_err(ledger_error)?
            .into_iter()
            .find(|t| t.token == token)
            .ok_or_else(|| internal("linked token vanished"))?;
        with_balance(services, linked).await
    }

    /// Redeems a promocode for an access token; returns its new balance in bytes.
    async fn redeem_promocode(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The access token to credit.")] token: String,
        #[graphql(desc = "The promocode to redeem (once per access token).")] code: String,
    ) -> async_graphql::Result<Long> {
        services(ctx)?
            .ledger
            .redeem(&token, &code)
            .await
            .map(Long)
            .map_err(ledger_error)
    }

    /// Operator: adds bytes of credit; returns the new balance in bytes.
    async fn deposit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The access token to credit.")] token: String,
        #[graphql(desc = "Bytes of credit to add; must be positive.")] bytes: Long,
    ) -> async_graphql::Result<Long> {
        require_operator(ctx)?;
        services(ctx)?
            .ledger
            .credit(&token, amount(bytes.0)?, EntryKind::Deposit, None)
            .await
            .map(Long)
            .map_err(ledger_error)
    }

    /// Operator: removes bytes of credit, never below zero; returns the new balance in bytes.
    async fn withdraw(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The access token to debit.")] token: String,
        #[graphql(desc = "Bytes of credit to remove; must be positive and at most the balance.")]
        bytes: Long,
    ) -> async_graphql::Result<Long> {
        require_operator(ctx)?;
        services(ctx)?
            .ledger
            .debit(&token, amount(bytes.0)?, EntryKind::Withdraw, None)
            .await
            .map(Long)
            .map_err(ledger_error)
    }

    /// Operator: creates a promocode worth `bytes`, redeemable once per token and, if
    /// `maxRedemptions` is given, by at most that many tokens.
    async fn create_promocode(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new code: 1 to 64 printable characters, not yet in use.")]
        code: String,
        #[graphql(desc = "Bytes of credit each redemption adds; must be positive.")] bytes: Long,
        #[graphql(
            desc = "How many access tokens may redeem it in all, at least 1; omit for no limit."
        )]
        max_redemptions: Option<Long>,
    ) -> async_graphql::Result<Promocode> {
        let bytes = bytes.0;
        let max_redemptions = max_redemptions.map(|m| m.0);
        require_operator(ctx)?;
        if code.is_empty() || code.len() > 64 || code.chars().any(char::is_control) {
            return Err(bad_input("code must be 1 to 64 printable characters"));
        }
        let services = services(ctx)?;
        services
            .ledger
            .put_promocode(&code, amount(bytes)?, max_redemptions, false)
            .await
            .map_err(ledger_error)?;
        Ok(Promocode {
            code,
            bytes: bytes.into(),
            max_redemptions: max_redemptions.map(Long),
            redemptions: Long(0),
        })
    }
}

#[derive(Default)]
pub struct BalanceSubscription;

/// Live balances.
#[Subscription]
impl BalanceSubscription {
    /// The balance of an access token in bytes, now and after every change. The access token is
    /// the credential, as for the REST balance route; open subscriptions are capped per
    /// connection and in all (`graphql.max_subscriptions*`).
    async fn balance_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The access token whose balance to follow.")] token: String,
    ) -> async_graphql::Result<impl Stream<Item = Long> + use<>> {
        let services = services(ctx)?.clone();
        // Listen before reading, so no change falls between the read and the listening.
        let changes = services.feed.subscribe();
        let first = services
            .ledger
            .balance(&token)
            .await
            .map_err(ledger_error)?
            .ok_or_else(|| ledger_error(LedgerError::UnknownToken))?;
        let slot = super::subscriptions::take(ctx)?;
        Ok(futures::stream::unfold(
            (services, token, changes, None::<i64>, first, slot),
            |(services, token, mut changes, last, current, slot)| async move {
                let mut current = current;
                if last.is_some() {
                    loop {
                        // The writer's new balance when it gave one, else read it.
                        if let Some(balance) =
                            next_change(&mut changes, Topic::Balance, &token).await?
                        {
                            if Some(balance) != last {
                                current = balance;
                                break;
                            }
                            continue;
                        }
                        match services.ledger.balance(&token).await {
                            Ok(Some(b)) if Some(b) != last => {
                                current = b;
                                break;
                            }
                            Ok(_) => continue,
                            Err(e) => {
                                tracing::warn!(error = %e, "balance subscription stopped");
                                return None;
                            }
                        }
                    }
                }
                Some((
                    Long(current),
                    (services, token, changes, Some(current), current, slot),
                ))
            },
        ))
    }
}

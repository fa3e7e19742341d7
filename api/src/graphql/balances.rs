//! Byte-credit balances: the GraphQL face of the ledger behind `/accounts/token`.

use async_graphql::{
    Context, Object, SimpleObject, Subscription,
    connection::{Connection, Edge, EmptyFields},
};
use futures::Stream;
use wharf_core::{
    feed::{Topic, next_change},
    ledger::{EntryKind, LedgerError, positive_amount},
};
use wharf_entity::{access_token, ledger_entry};

use super::{
    caller,
    error::{bad_input, internal, ledger_error},
    require_operator, require_wallet, services,
};

const MAX_PAGE: usize = 100;
const DEFAULT_PAGE: usize = 20;

#[derive(SimpleObject)]
pub struct PriceTier {
    /// Bytes of credit.
    amount: u64,
    cost: u64,
}

#[derive(SimpleObject)]
pub struct LedgerEntry {
    id: i64,
    /// deposit, withdraw, charge, refund or promocode.
    kind: String,
    /// Bytes; negative for debits.
    amount: i64,
    balance_after: i64,
    reference: Option<String>,
    /// Unix milliseconds.
    created_at: i64,
}

impl From<ledger_entry::Model> for LedgerEntry {
    fn from(m: ledger_entry::Model) -> Self {
        Self {
            id: m.id,
            kind: m.kind,
            amount: m.amount,
            balance_after: m.balance_after,
            reference: m.reference,
            created_at: m.created_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct AccessToken {
    token: String,
    balance: i64,
    /// Unix milliseconds.
    created_at: i64,
}

#[derive(SimpleObject)]
pub struct Promocode {
    code: String,
    bytes: i64,
    max_redemptions: Option<i64>,
    redemptions: i64,
}

#[derive(Default)]
pub struct BalanceQuery;

#[Object]
impl BalanceQuery {
    /// Balance of an access token, in bytes.
    async fn balance(&self, ctx: &Context<'_>, token: String) -> async_graphql::Result<i64> {
        let services = services(ctx)?;
        services
            .ledger
            .balance(&token)
            .await
            .map_err(ledger_error)?
            .ok_or_else(|| ledger_error(LedgerError::UnknownToken))
    }

    /// Ledger entries of an access token, oldest first.
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn ledger(
        &self,
        ctx: &Context<'_>,
        token: String,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, LedgerEntry, EmptyFields, EmptyFields>> {
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
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|row| Edge::new(row.id.to_string(), LedgerEntry::from(row))),
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
                amount: p.amount,
                cost: p.cost,
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
        balance,
        created_at: token.created_at,
    })
}

fn amount(bytes: i64) -> async_graphql::Result<i64> {
    positive_amount(i128::from(bytes)).map_err(ledger_error)
}

#[derive(Default)]
pub struct BalanceMutation;

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
            balance: 0,
            created_at: wharf_core::time::now_ms(),
        })
    }

    /// Links an existing access token to the signed-in wallet.
    async fn link_access_token(
        &self,
        ctx: &Context<'_>,
        token: String,
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

    /// Redeems a promocode; returns the new balance.
    async fn redeem_promocode(
        &self,
        ctx: &Context<'_>,
        token: String,
        code: String,
    ) -> async_graphql::Result<i64> {
        services(ctx)?
            .ledger
            .redeem(&token, &code)
            .await
            .map_err(ledger_error)
    }

    /// Operator: adds bytes of credit; returns the new balance.
    async fn deposit(
        &self,
        ctx: &Context<'_>,
        token: String,
        bytes: i64,
    ) -> async_graphql::Result<i64> {
        require_operator(ctx)?;
        services(ctx)?
            .ledger
            .credit(&token, amount(bytes)?, EntryKind::Deposit, None)
            .await
            .map_err(ledger_error)
    }

    /// Operator: removes bytes of credit, never below zero; returns the new balance.
    async fn withdraw(
        &self,
        ctx: &Context<'_>,
        token: String,
        bytes: i64,
    ) -> async_graphql::Result<i64> {
        require_operator(ctx)?;
        services(ctx)?
            .ledger
            .debit(&token, amount(bytes)?, EntryKind::Withdraw, None)
            .await
            .map_err(ledger_error)
    }

    /// Operator: creates a promocode worth `bytes`, redeemable once per token and, if
    /// `maxRedemptions` is given, by at most that many tokens.
    async fn create_promocode(
        &self,
        ctx: &Context<'_>,
        code: String,
        bytes: i64,
        max_redemptions: Option<i64>,
    ) -> async_graphql::Result<Promocode> {
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
            bytes,
            max_redemptions,
            redemptions: 0,
        })
    }
}

#[derive(Default)]
pub struct BalanceSubscription;

#[Subscription]
impl BalanceSubscription {
    /// The balance of an access token now and after every change. The access token is the
    /// credential, as for the REST balance route; open subscriptions are capped per connection
    /// and in all (`graphql.max_subscriptions*`).
    async fn balance_updates(
        &self,
        ctx: &Context<'_>,
        token: String,
    ) -> async_graphql::Result<impl Stream<Item = i64> + use<>> {
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
                    current,
                    (services, token, changes, Some(current), current, slot),
                ))
            },
        ))
    }
}

//! Paying a quote with web-core byte credits instead of tokens: the owner's linked access
//! token is charged `total bytes × months` (at least one month) in the same transaction that
//! marks the quote paid. A paid quote that expires without an upload is refunded.
use alloy_primitives::Address;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};

use super::{Quote, QuoteService, status};
use crate::feed::Topic;
use crate::{
    auth::address_key,
    ledger::{self, EntryKind, LedgerError},
    pricing::MONTH_SECS,
    sql,
    time::now_ms,
};

#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    #[error("quote does not exist")]
    NotFound,
    #[error("the quote is already paid or uploaded, or its storage service collects payment")]
    NotPayable,
    #[error("quote already expired, please create a new one")]
    Expired,
    #[error("the access token is not linked to this wallet")]
    NotYourToken,
    #[error("the access token's balance is insufficient")]
    InsufficientCredit,
    #[error("the quote is too large to pay with credits")]
    TooLarge,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Bytes of credit a quote costs: its bytes for each started month.
pub fn credit_cost(total_bytes: u64, duration_secs: u64) -> Option<i64> {
    let months = duration_secs.div_ceil(MONTH_SECS).max(1);
    total_bytes
        .checked_mul(months)
        .and_then(|c| i64::try_from(c).ok())
        .map(|c| c.max(1))
}

fn reference(quote_id: &str) -> String {
    format!("quote:{quote_id}")
}

impl QuoteService {
    /// Charges `token` for the quote and marks it paid; all or nothing.
    pub async fn pay_with_credits(
        &self,
        quote_id: &str,
        owner: &Address,
        token: &str,
    ) -> Result<Quote, CreditError> {
        let quote = match self.get(quote_id).await {
            Ok(q) if q.owner == *owner => q,
            Ok(_) | Err(super::QuoteError::NotFound) => return Err(CreditError::NotFound),
            Err(super::QuoteError::Db(db)) => return Err(CreditError::Db(db)),
            Err(other) => return Err(CreditError::Db(DbErr::Custom(other.to_string()))),
        };
        // A storage microservice collects its own payment on chain.
        if quote.status != status::WAITING
            || quote.paid_with.is_some()
            || quote.remote_url.is_some()
        {
            return Err(CreditError::NotPayable);
        }
        if now_ms() > quote.expires_at {
            return Err(CreditError::Expired);
        }
        let cost =
            credit_cost(quote.total_bytes, quote.duration_secs).ok_or(CreditError::TooLarge)?;
        let txn = sql::begin_write(self.db()).await?;
        match charge(&txn, &quote, owner, token, cost).await {
            Ok(()) => {
                txn.commit().await?;
                self.feed().publish(Topic::Balance, token).await;
                self.changed(quote_id).await;
                Ok(self
                    .get(quote_id)
                    .await
                    .map_err(|_| CreditError::NotFound)?)
            }
            Err(e) => {
                txn.rollback().await?;
                Err(e)
            }
        }
    }

    /// Refunds credit-paid quotes that expired without an upload; returns how many.
    pub async fn refund_expired_credits(&self) -> Result<u64, DbErr> {
        let rows = self
            .db()
            .query_all_raw(sql::statement(
                self.db(),
                "SELECT id, paid_with, total_bytes, duration FROM quotes \
                 WHERE status = $1 AND paid_with IS NOT NULL AND expires_at < $2 LIMIT 500",
                [status::WAITING.into(), now_ms().into()],
            ))
            .await?;
        let mut refunded = 0;
        for row in rows {
            let id: String = row.try_get("", "id")?;
            let token: String = row.try_get("", "paid_with")?;
            let bytes: i64 = row.try_get("", "total_bytes")?;
            let duration: i64 = row.try_get("", "duration")?;
            let Some(cost) = credit_cost(bytes as u64, duration as u64) else {
                continue;
            };
            let txn = sql::begin_write(self.db()).await?;
            let marked = txn
                .execute_raw(sql::statement(
                    &txn,
                    "UPDATE quotes SET status = $1, failure = $2, updated_at = $3 WHERE id = $4 AND status = $5",
                    [
                        status::EXPIRED.into(),
                        "expired before upload; credits refunded".into(),
                        now_ms().into(),
                        id.clone().into(),
                        status::WAITING.into(),
                    ],
                ))
                .await?;
            if marked.rows_affected() != 1 {
                txn.rollback().await?;
                continue;
            }
            match ledger::credit_in(&txn, &token, cost, EntryKind::Refund, Some(&reference(&id)))
                .await
            {
                Ok(_) => {
                    txn.commit().await?;
                    self.feed().publish(Topic::Balance, &token).await;
                    self.changed(&id).await;
                    refunded += 1;
                }
                Err(e) => {
                    txn.rollback().await?;
                    tracing::error!(quote = %id, error = %e, "refunding credits failed");
                }
            }
        }
        Ok(refunded)
    }
}

async fn charge(
    txn: &DatabaseTransaction,
    quote: &Quote,
    owner: &Address,
    token: &str,
    cost: i64,
) -> Result<(), CreditError> {
    let linked = txn
        .query_one_raw(sql::statement(
            txn,
            "SELECT owner_address FROM access_tokens WHERE token = $1",
            [token.into()],
        ))
        .await?
        .and_then(|row| {
            row.try_get::<Option<String>>("", "owner_address")
                .ok()
                .flatten()
        });
    if linked.as_deref() != Some(address_key(owner).as_str()) {
        return Err(CreditError::NotYourToken);
    }
    ledger::debit_in(
        txn,
        token,
        cost,
        EntryKind::Charge,
        Some(&reference(&quote.id)),
    )
    .await
    .map_err(|e| match e {
        LedgerError::InsufficientBalance => CreditError::InsufficientCredit,
        LedgerError::UnknownToken => CreditError::NotYourToken,
        LedgerError::Db(db) => CreditError::Db(db),
        other => CreditError::Db(DbErr::Custom(other.to_string())),
    })?;
    let marked = txn
        .execute_raw(sql::statement(
            txn,
            "UPDATE quotes SET paid_with = $1, updated_at = $2 WHERE id = $3 AND status = $4 AND paid_with IS NULL",
            [token.into(), now_ms().into(), quote.id.clone().into(), status::WAITING.into()],
        ))
        .await?;
    if marked.rows_affected() != 1 {
        return Err(CreditError::NotPayable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_cost_bytes_per_started_month() {
        assert_eq!(credit_cost(1000, 1), Some(1000));
        assert_eq!(credit_cost(1000, MONTH_SECS), Some(1000));
        assert_eq!(credit_cost(1000, MONTH_SECS + 1), Some(2000));
        assert_eq!(credit_cost(0, 10), Some(1));
        assert_eq!(credit_cost(u64::MAX, MONTH_SECS * 2), None);
    }
}

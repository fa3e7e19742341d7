//! Byte-credit balances of access tokens: an append-only ledger of entries, with the running
//! balance kept beside it. Every change is one transaction whose balance update is conditional
//! (`amount >= x` for debits, no overflow for credits), so the balance can never go negative,
//! whatever the concurrency.
pub mod token;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use wharf_entity::{access_token, ledger_entry, promocode};

use crate::{auth::Address, auth::address_key, sql, time::now_ms};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("unknown access token")]
    UnknownToken,
    #[error("amount must be a positive whole number of bytes below 2^63")]
    InvalidAmount,
    #[error("balance insufficient")]
    InsufficientBalance,
    #[error("the balance would exceed 2^63-1 bytes")]
    Overflow,
    #[error("unknown promocode")]
    UnknownPromocode,
    #[error("this token already redeemed that promocode")]
    AlreadyRedeemed,
    #[error("the promocode has no redemptions left")]
    PromocodeExhausted,
    #[error("a promocode with that code exists")]
    PromocodeExists,
    #[error("the access token belongs to another wallet")]
    TokenOwnedByOther,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Why credit moved; stored in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Deposit,
    Withdraw,
    Charge,
    Refund,
    Promocode,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Deposit => "deposit",
            EntryKind::Withdraw => "withdraw",
            EntryKind::Charge => "charge",
            EntryKind::Refund => "refund",
            EntryKind::Promocode => "promocode",
        }
    }

    fn is_credit(self) -> bool {
        matches!(
            self,
            EntryKind::Deposit | EntryKind::Refund | EntryKind::Promocode
        )
    }
}

/// Converts a client-supplied byte count, refusing zero and anything a BIGINT cannot hold.
pub fn positive_amount(bytes: i128) -> Result<i64, LedgerError> {
    match i64::try_from(bytes) {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(LedgerError::InvalidAmount),
    }
}

#[derive(Clone)]
pub struct Ledger {
    db: DatabaseConnection,
    /// Balances are the hottest read: one row by key, without a driver thread on SQLite.
    reads: crate::point_reads::PointReads,
    feed: crate::feed::ChangeFeed,
}

impl Ledger {
    /// A ledger on `db`, which `url` names (for its point reads).
    pub fn new(db: DatabaseConnection, url: &str, feed: crate::feed::ChangeFeed) -> Self {
        let reads = crate::point_reads::PointReads::new(&db, url);
        Self { db, reads, feed }
    }

    /// Announces a balance change, with the new balance, to subscribers once committed.
    async fn announce(
        &self,
        token: &str,
        result: Result<i64, LedgerError>,
    ) -> Result<i64, LedgerError> {
        if let Ok(balance) = &result {
            self.feed
                .publish_value(crate::feed::Topic::Balance, token, Some(*balance))
                .await;
        }
        result
    }

    /// Issues a new access token with a zero balance.
    pub async fn new_token(&self) -> Result<String, LedgerError> {
        let token = token::generate();
        let now = now_ms();
        let txn = sql::begin_write(&self.db).await?;
        txn.execute_raw(sql::statement(
            &txn,
            "INSERT INTO access_tokens (token, owner_address, created_at) VALUES ($1, NULL, $2)",
            [token.clone().into(), now.into()],
        ))
        .await?;
        txn.execute_raw(sql::statement(
            &txn,
            "INSERT INTO balances (token, amount, updated_at) VALUES ($1, 0, $2)",
            [token.clone().into(), now.into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(token)
    }

    /// Takes on a token this ledger did not issue (with a zero balance), as the legacy
    /// accounts service did for any token it was given; a known token is left as it is.
    pub async fn adopt(&self, token: &str) -> Result<(), LedgerError> {
        if !token::is_acceptable(token) {
            return Err(LedgerError::UnknownToken);
        }
        let now = now_ms();
        let txn = sql::begin_write(&self.db).await?;
        txn.execute_raw(sql::statement(
            &txn,
            "INSERT INTO access_tokens (token, owner_address, created_at) VALUES ($1, NULL, $2) \
             ON CONFLICT (token) DO NOTHING",
            [token.into(), now.into()],
        ))
        .await?;
        txn.execute_raw(sql::statement(
            &txn,
            "INSERT INTO balances (token, amount, updated_at) VALUES ($1, 0, $2) \
             ON CONFLICT (token) DO NOTHING",
            [token.into(), now.into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn token_exists(&self, token: &str) -> Result<bool, LedgerError> {
        Ok(token_exists_in(&self.db, token).await?)
    }

    /// The balance in bytes; `None` for a token that was never issued.
    pub async fn balance(&self, token: &str) -> Result<Option<i64>, LedgerError> {
        Ok(self
            .reads
            .i64_by_key("SELECT amount FROM balances WHERE token = $1", token)
            .await?)
    }

    /// Adds credit. Returns the new balance.
    pub async fn credit(
        &self,
        token: &str,
        bytes: i64,
        kind: EntryKind,
        reference: Option<&str>,
    ) -> Result<i64, LedgerError> {
        debug_assert!(kind.is_credit());
        let txn = sql::begin_write(&self.db).await?;
        let result = credit_in(&txn, token, bytes, kind, reference).await;
        self.announce(token, sql::settle(txn, result).await).await
    }

    /// Takes credit away, refusing to go below zero. Returns the new balance.
    pub async fn debit(
        &self,
        token: &str,
        bytes: i64,
        kind: EntryKind,
        reference: Option<&str>,
    ) -> Result<i64, LedgerError> {
        debug_assert!(!kind.is_credit());
        let txn = sql::begin_write(&self.db).await?;
        let result = debit_in(&txn, token, bytes, kind, reference).await;
        self.announce(token, sql::settle(txn, result).await).await
    }

    /// Redeems a promocode for a token, once per (code, token), all in one transaction.
    pub async fn redeem(&self, token: &str, code: &str) -> Result<i64, LedgerError> {
        let txn = sql::begin_write(&self.db).await?;
        let result = redeem_in(&txn, token, code).await;
        self.announce(token, sql::settle(txn, result).await).await
    }

    /// Creates a promocode; `replace` updates an existing one instead of refusing.
    pub async fn put_promocode(
        &self,
        code: &str,
        bytes: i64,
        max_redemptions: Option<i64>,
        replace: bool,
    ) -> Result<(), LedgerError> {
        if bytes <= 0 || max_redemptions.is_some_and(|m| m <= 0) {
            return Err(LedgerError::InvalidAmount);
        }
        let on_conflict = if replace {
            "ON CONFLICT (code) DO UPDATE SET bytes = excluded.bytes, max_redemptions = excluded.max_redemptions"
        } else {
            "ON CONFLICT (code) DO NOTHING"
        };
        let result = self
            .db
            .execute_raw(sql::statement(
                &self.db,
                &format!(
                    "INSERT INTO promocodes (code, bytes, max_redemptions, redemptions, created_at) \
                     VALUES ($1, $2, $3, 0, $4) {on_conflict}"
                ),
                [code.into(), bytes.into(), max_redemptions.into(), now_ms().into()],
            ))
            .await?;
        if result.rows_affected() == 0 {
            return Err(LedgerError::PromocodeExists);
        }
        Ok(())
    }

    pub async fn promocode(&self, code: &str) -> Result<Option<promocode::Model>, LedgerError> {
        Ok(promocode::Entity::find_by_id(code.to_string())
            .one(&self.db)
            .await?)
    }

    /// Ledger entries of a token, oldest first, after the entry id `after`.
    pub async fn entries(
        &self,
        token: &str,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<ledger_entry::Model>, LedgerError> {
        let mut query = ledger_entry::Entity::find()
            .filter(ledger_entry::Column::Token.eq(token))
            .order_by_asc(ledger_entry::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(ledger_entry::Column::Id.gt(after));
        }
        Ok(query.all(&self.db).await?)
    }

    /// Links an access token to a wallet. A token already linked to another wallet is refused.
    pub async fn link_token(&self, token: &str, owner: &Address) -> Result<(), LedgerError> {
        let owner = address_key(owner);
        let result = self
            .db
            .execute_raw(sql::statement(
                &self.db,
                "UPDATE access_tokens SET owner_address = $1 \
                 WHERE token = $2 AND (owner_address IS NULL OR owner_address = $1)",
                [owner.into(), token.into()],
            ))
            .await?;
        if result.rows_affected() == 1 {
            return Ok(());
        }
        Err(if self.token_exists(token).await? {
            LedgerError::TokenOwnedByOther
        } else {
            LedgerError::UnknownToken
        })
    }

    /// Access tokens linked to a wallet, oldest first.
    pub async fn tokens_of(
        &self,
        owner: &Address,
    ) -> Result<Vec<access_token::Model>, LedgerError> {
        Ok(access_token::Entity::find()
            .filter(access_token::Column::OwnerAddress.eq(address_key(owner)))
            .order_by_asc(access_token::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }
}

/// Takes credit away inside a caller's transaction, refusing to go below zero.
pub(crate) async fn debit_in(
    txn: &DatabaseTransaction,
    token: &str,
    bytes: i64,
    kind: EntryKind,
    reference: Option<&str>,
) -> Result<i64, LedgerError> {
    if bytes <= 0 {
        return Err(LedgerError::InvalidAmount);
    }
    let row = txn
        .query_one_raw(sql::statement(
            txn,
            "UPDATE balances SET amount = amount - $1, updated_at = $2 \
             WHERE token = $3 AND amount >= $1 RETURNING amount",
            [bytes.into(), now_ms().into(), token.into()],
        ))
        .await?;
    let Some(row) = row else {
        let exists = token_exists_in(txn, token).await?;
        return Err(if exists {
            LedgerError::InsufficientBalance
        } else {
            LedgerError::UnknownToken
        });
    };
    let balance: i64 = row.try_get("", "amount")?;
    append_entry(txn, token, kind, -bytes, balance, reference).await?;
    Ok(balance)
}

async fn redeem_in(txn: &DatabaseTransaction, token: &str, code: &str) -> Result<i64, LedgerError> {
    let Some(promo) = promocode::Entity::find_by_id(code.to_string())
        .one(txn)
        .await?
    else {
        return Err(LedgerError::UnknownPromocode);
    };
    // Claim first: the unique (code, token) row is what makes a second redemption fail, even
    // when two arrive at once.
    let claimed = txn
        .execute_raw(sql::statement(
            txn,
            "INSERT INTO promocode_redemptions (code, token, created_at) \
             SELECT $1, token, $3 FROM access_tokens WHERE token = $2 \
             ON CONFLICT (code, token) DO NOTHING",
            [code.into(), token.into(), now_ms().into()],
        ))
        .await?;
    if claimed.rows_affected() != 1 {
        let exists = token_exists_in(txn, token).await?;
        return Err(if exists {
            LedgerError::AlreadyRedeemed
        } else {
            LedgerError::UnknownToken
        });
    }
    let counted = txn
        .execute_raw(sql::statement(
            txn,
            "UPDATE promocodes SET redemptions = redemptions + 1 \
             WHERE code = $1 AND (max_redemptions IS NULL OR redemptions < max_redemptions)",
            [code.into()],
        ))
        .await?;
    if counted.rows_affected() != 1 {
        return Err(LedgerError::PromocodeExhausted);
    }
    credit_in(txn, token, promo.bytes, EntryKind::Promocode, Some(code)).await
}

pub(crate) async fn credit_in(
    txn: &DatabaseTransaction,
    token: &str,
    bytes: i64,
    kind: EntryKind,
    reference: Option<&str>,
) -> Result<i64, LedgerError> {
    if bytes <= 0 {
        return Err(LedgerError::InvalidAmount);
    }
    let row = txn
        .query_one_raw(sql::statement(
            txn,
            "UPDATE balances SET amount = amount + $1, updated_at = $2 \
             WHERE token = $3 AND amount <= $4 RETURNING amount",
            [
                bytes.into(),
                now_ms().into(),
                token.into(),
                (i64::MAX - bytes).into(),
            ],
        ))
        .await?;
    let Some(row) = row else {
        let exists = token_exists_in(txn, token).await?;
        return Err(if exists {
            LedgerError::Overflow
        } else {
            LedgerError::UnknownToken
        });
    };
    let balance: i64 = row.try_get("", "amount")?;
    append_entry(txn, token, kind, bytes, balance, reference).await?;
    Ok(balance)
}

/// Whether an access token was ever issued.
pub(crate) async fn token_exists_in<C: ConnectionTrait>(
    conn: &C,
    token: &str,
) -> Result<bool, DbErr> {
    Ok(access_token::Entity::find_by_id(token.to_string())
        .one(conn)
        .await?
        .is_some())
}

async fn append_entry(
    txn: &DatabaseTransaction,
    token: &str,
    kind: EntryKind,
    amount: i64,
    balance_after: i64,
    reference: Option<&str>,
) -> Result<(), DbErr> {
    txn.execute_raw(sql::statement(
        txn,
        "INSERT INTO ledger_entries (token, kind, amount, balance_after, reference, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        [
            token.into(),
            kind.as_str().into(),
            amount.into(),
            balance_after.into(),
            reference.map(str::to_string).into(),
            now_ms().into(),
        ],
    ))
    .await?;
    Ok(())
}

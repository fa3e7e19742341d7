//! Per-address nonces for signed requests. A nonce must be strictly greater than the last one
//! the address used; the check and the store are one conditional upsert, so of two requests
//! carrying the same nonce exactly one passes, on SQLite and on PostgreSQL alike.
//!
//! Legacy clients send integer seconds, milliseconds, nanoseconds or decimal fractions, so a
//! nonce is a non-negative decimal of up to 30 integer and 18 fraction digits. It is stored as a
//! fixed-width digit string whose text order equals its numeric order.
use alloy_primitives::Address;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use crate::{auth::address_key, sql, time::now_ms};

const INT_DIGITS: usize = 30;
const FRACTION_DIGITS: usize = 18;

#[derive(Debug, thiserror::Error)]
pub enum NonceError {
    #[error("nonce must be a non-negative decimal number")]
    Malformed,
    #[error("nonce must be greater than the last one used ({last})")]
    NotIncreasing { last: String },
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A parsed nonce with its sortable key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nonce {
    key: String,
}

impl Nonce {
    pub fn parse(text: &str) -> Result<Self, NonceError> {
        let text = text.trim();
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        let int = if int.is_empty() && !frac.is_empty() {
            "0"
        } else {
            int
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !all_digits(int) || !all_digits(frac) {
            return Err(NonceError::Malformed);
        }
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        if int.len() > INT_DIGITS || frac.len() > FRACTION_DIGITS {
            return Err(NonceError::Malformed);
        }
        Ok(Self {
            key: format!("{int:0>INT_DIGITS$}{frac:0<FRACTION_DIGITS$}"),
        })
    }

    /// The nonce as a plain decimal, for messages.
    pub fn display(&self) -> String {
        Self::display_key(&self.key)
    }

    fn display_key(key: &str) -> String {
        let (int, frac) = key.split_at(INT_DIGITS.min(key.len()));
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            int.to_string()
        } else {
            format!("{int}.{frac}")
        }
    }
}

/// Records `nonce` as the address's latest, if it is greater than the stored one.
pub async fn consume(
    db: &DatabaseConnection,
    address: &Address,
    nonce: &Nonce,
) -> Result<(), NonceError> {
    let address = address_key(address);
    let result = db
        .execute_raw(sql::statement(
            db,
            "INSERT INTO address_nonces (address, nonce, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (address) DO UPDATE SET nonce = excluded.nonce, updated_at = excluded.updated_at \
             WHERE address_nonces.nonce < excluded.nonce",
            [address.clone().into(), nonce.key.clone().into(), now_ms().into()],
        ))
        .await?;
    if result.rows_affected() == 1 {
        return Ok(());
    }
    let last = current(db, &address).await?.unwrap_or_default();
    Err(NonceError::NotIncreasing { last })
}

/// The last nonce an address used, as a decimal.
pub async fn last_used(
    db: &DatabaseConnection,
    address: &Address,
) -> Result<Option<String>, DbErr> {
    current(db, &address_key(address)).await
}

async fn current(db: &DatabaseConnection, address: &str) -> Result<Option<String>, DbErr> {
    let row = db
        .query_one_raw(sql::statement(
            db,
            "SELECT nonce FROM address_nonces WHERE address = $1",
            [address.into()],
        ))
        .await?;
    match row {
        Some(row) => Ok(Some(Nonce::display_key(
            &row.try_get::<String>("", "nonce")?,
        ))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_order_is_text_order() {
        let n = |s: &str| Nonce::parse(s).unwrap();
        assert!(n("9") < n("10"), "legacy compared these as strings");
        assert!(n("1768214571") < n("1768214571.5"));
        assert!(n("1768214571.5") < n("1768214572"));
        assert!(n("1768214571000") > n("1768214571"));
        assert_eq!(n("0010"), n("10"));
        assert_eq!(n("10.500"), n("10.5"));
        assert_eq!(n(".5"), n("0.5"));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "0",
            "1",
            "1768214571",
            "1.25",
            "123456789012345678901234567890",
        ] {
            assert_eq!(Nonce::parse(s).unwrap().display(), s);
        }
    }

    #[test]
    fn malformed_nonces_are_refused() {
        for s in [
            "",
            "-1",
            "1e5",
            "abc",
            "1.2.3",
            "0x10",
            " ",
            "1_000",
            &"9".repeat(31),
        ] {
            assert!(Nonce::parse(s).is_err(), "{s:?} accepted");
        }
    }
}

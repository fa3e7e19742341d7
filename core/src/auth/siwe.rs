//! Sign-In with Ethereum (EIP-4361) for the GraphQL API: server-issued single-use nonces,
//! message checks, and bearer sessions stored only as their sha256.
use std::str::FromStr;

use alloy_primitives::Address;
use rand::{Rng, distributions::Alphanumeric};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use sha2::{Digest, Sha256};

use crate::{
    auth::{address_key, signature},
    sql,
    time::now_ms,
};

#[derive(Debug, thiserror::Error)]
pub enum SiweError {
    #[error("the message is not a valid EIP-4361 message: {0}")]
    Malformed(String),
    #[error("the message is for domain {got}, expected {expected}")]
    WrongDomain { got: String, expected: String },
    #[error("the message has expired or is not yet valid")]
    OutsideValidity,
    #[error("the nonce is unknown, used or expired; ask siweNonce for a new one")]
    BadNonce,
    #[error(transparent)]
    Signature(#[from] signature::SignatureError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

#[derive(Debug, Clone)]
pub struct Session {
    /// The bearer token; shown to the client once.
    pub token: String,
    pub address: Address,
    pub expires_at_ms: i64,
}

/// Issues a fresh nonce valid for `ttl_secs`.
pub async fn issue_nonce(db: &DatabaseConnection, ttl_secs: u64) -> Result<String, DbErr> {
    let nonce: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    db.execute_raw(sql::statement(
        db,
        "INSERT INTO siwe_nonces (nonce, expires_at) VALUES ($1, $2)",
        [
            nonce.clone().into(),
            (now_ms() + secs_to_ms(ttl_secs)).into(),
        ],
    ))
    .await?;
    Ok(nonce)
}

/// Verifies a signed EIP-4361 message and opens a session for its address.
pub async fn sign_in(
    db: &DatabaseConnection,
    expected_domain: &str,
    message_text: &str,
    signature_hex: &str,
    session_ttl_secs: u64,
) -> Result<Session, SiweError> {
    let message =
        siwe::Message::from_str(message_text).map_err(|e| SiweError::Malformed(e.to_string()))?;
    let domain = message.domain.to_string();
    if domain != expected_domain {
        return Err(SiweError::WrongDomain {
            got: domain,
            expected: expected_domain.to_string(),
        });
    }
    if !message.valid_now() {
        return Err(SiweError::OutsideValidity);
    }
    let address = Address::from(message.address);
    signature::verify_signer(message_text.as_bytes(), signature_hex, &address)?;
    // Consuming the nonce is the last check, so a bad signature does not burn it.
    let used = db
        .execute_raw(sql::statement(
            db,
            "DELETE FROM siwe_nonces WHERE nonce = $1 AND expires_at > $2",
            [message.nonce.clone().into(), now_ms().into()],
        ))
        .await?;
    if used.rows_affected() != 1 {
        return Err(SiweError::BadNonce);
    }
    let mut expires_at_ms = now_ms() + secs_to_ms(session_ttl_secs);
    if let Some(exp) = &message.expiration_time {
        // A session never outlives the message that opened it.
        if let Ok(exp) = chrono::DateTime::parse_from_rfc3339(&exp.to_string()) {
            expires_at_ms = expires_at_ms.min(exp.timestamp_millis());
        }
    }
    let token = hex::encode(rand::thread_rng().r#gen::<[u8; 32]>());
    db.execute_raw(sql::statement(
        db,
        "INSERT INTO sessions (id, address, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        [
            token_id(&token).into(),
            address_key(&address).into(),
            now_ms().into(),
            expires_at_ms.into(),
        ],
    ))
    .await?;
    Ok(Session {
        token,
        address,
        expires_at_ms,
    })
}

/// The wallet a live session token belongs to.
pub async fn session_address(
    db: &DatabaseConnection,
    token: &str,
) -> Result<Option<Address>, DbErr> {
    let row = db
        .query_one_raw(sql::statement(
            db,
            "SELECT address FROM sessions WHERE id = $1 AND expires_at > $2",
            [token_id(token).into(), now_ms().into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let text: String = row.try_get("", "address")?;
    Ok(Address::from_str(&text).ok())
}

/// Ends a session. Returns whether one was open.
pub async fn sign_out(db: &DatabaseConnection, token: &str) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(sql::statement(
            db,
            "DELETE FROM sessions WHERE id = $1",
            [token_id(token).into()],
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Counts of rows removed by [`purge_expired`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub nonces: u64,
}

/// Deletes expired sessions and sign-in nonces.
pub async fn purge_expired(db: &DatabaseConnection, now_ms: i64) -> Result<Purged, DbErr> {
    let sessions = db
        .execute_raw(sql::statement(
            db,
            "DELETE FROM sessions WHERE expires_at <= $1",
            [now_ms.into()],
        ))
        .await?
        .rows_affected();
    let nonces = db
        .execute_raw(sql::statement(
            db,
            "DELETE FROM siwe_nonces WHERE expires_at <= $1",
            [now_ms.into()],
        ))
        .await?
        .rows_affected();
    Ok(Purged { sessions, nonces })
}

fn token_id(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX / 2)
}

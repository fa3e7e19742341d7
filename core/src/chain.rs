//! Payments on EVM chains through alloy: read allowance and balance, send
//! `transferFrom(owner, treasury, quotedAmount)` from the treasury key, wait for confirmations.
//!
//! Crash safety: the signed transaction (hash and raw bytes) is recorded on the quote before it
//! is broadcast. A re-run finds it and checks or re-broadcasts that same transaction instead of
//! paying again; only if its nonce was taken by another transaction (so it can never be mined)
//! is a new one signed.
use std::{
    collections::HashMap,
    str::FromStr,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use alloy_network::{EthereumWallet, TransactionBuilder, eip2718::Encodable2718};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_provider::{Provider, ProviderBuilder, SendableTx};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, sol};
use sea_orm::{ConnectionTrait, DbErr};

use crate::{
    config::ChainConfig,
    services::Services,
    sql,
    time::now_ms,
    uploads::{Quote, status},
};

sol! {
    interface IERC20 {
        function balanceOf(address owner) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
        function transferFrom(address from, address to, uint256 value) external returns (bool);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("chain {0} is not configured or has no treasury key")]
    NotConfigured(u64),
    #[error("RPC of chain {chain}: {detail}")]
    Rpc { chain: u64, detail: String },
    #[error("payment transaction {0} is not confirmed yet")]
    Pending(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// How a payment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    Paid,
    Failed { status: i32, reason: String },
}

/// An RPC error of a chain. The node's URL is cut out of the text: it may carry an API key
/// (`https://…/v3/<key>`), and these errors are logged.
fn rpc(config: &ChainConfig) -> impl Fn(String) -> ChainError + use<> {
    let chain = config.chain_id;
    let url = config.rpc_url.clone();
    move |detail| ChainError::Rpc {
        chain,
        detail: detail.replace(&url, "<rpc_url>"),
    }
}

/// One sender at a time per chain in this process, so two payments never take the same
/// treasury nonce.
fn send_lock(chain_id: u64) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<u64, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(Default::default);
    let mut map = match locks.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    map.entry(chain_id).or_default().clone()
}

/// Collects the payment of a quote whose files were received.
pub async fn collect_payment(
    services: &Services,
    quote: &Quote,
) -> Result<PaymentOutcome, ChainError> {
    if quote.token_amount.is_zero() || quote.paid_with.is_some() {
        return Ok(PaymentOutcome::Paid);
    }
    let chain = services
        .config
        .chains
        .iter()
        .find(|c| c.chain_id == quote.chain_id)
        .ok_or(ChainError::NotConfigured(quote.chain_id))?;
    let key = chain
        .treasury_key
        .as_ref()
        .ok_or(ChainError::NotConfigured(quote.chain_id))?;
    let signer = PrivateKeySigner::from_str(key.expose())
        .map_err(|_| ChainError::NotConfigured(chain.chain_id))?;
    let treasury = signer.address();
    let url = chain
        .rpc_url
        .parse()
        .map_err(|_| ChainError::NotConfigured(chain.chain_id))?;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url);
    let err = rpc(chain);
    let wait = Duration::from_secs(services.config.jobs.payment_wait_secs);

    let recorded = recorded_payment(services, &quote.id).await?;
    if let Some((hash, raw)) = recorded {
        match follow(&provider, chain, hash, &raw, wait).await? {
            Some(outcome) => return Ok(outcome),
            // The recorded transaction can never be mined: its nonce went to another.
            None => {
                tracing::warn!(quote = %quote.id, tx = %hash, "recorded payment was superseded; paying anew")
            }
        }
    }

    let token = quote.token_address;
    let allowance = call_u256(
        &provider,
        token,
        IERC20::allowanceCall {
            owner: quote.owner,
            spender: treasury,
        }
        .abi_encode(),
    )
    .await
    .map_err(&err)?;
    if allowance < quote.token_amount {
        return Ok(PaymentOutcome::Failed {
            status: status::PAYMENT_NO_ALLOWANCE,
            reason: format!(
                "allowance {allowance} is below the quoted {}",
                quote.token_amount
            ),
        });
    }
    let balance = call_u256(
        &provider,
        token,
        IERC20::balanceOfCall { owner: quote.owner }.abi_encode(),
    )
    .await
    .map_err(&err)?;
    if balance < quote.token_amount {
        return Ok(PaymentOutcome::Failed {
            status: status::PAYMENT_NO_BALANCE,
            reason: format!(
                "balance {balance} is below the quoted {}",
                quote.token_amount
            ),
        });
    }

    let call = IERC20::transferFromCall {
        from: quote.owner,
        to: treasury,
        value: quote.token_amount,
    };
    let request = TransactionRequest::default()
        .with_from(treasury)
        .with_to(token)
        .with_chain_id(chain.chain_id)
        .with_input(Bytes::from(call.abi_encode()));
    // One sender at a time per treasury (see `TreasuryLock`), so that two payments never
    // take the same nonce.
    let lock = TreasuryLock::acquire(&services.db, &services.config.data_dir, chain.chain_id)
        .await
        .map_err(|e| err(format!("taking the treasury lock: {e}")))?;
    // Another run of this quote's job may have paid while this one waited for the lock.
    if let Some((hash, raw)) = recorded_payment(services, &quote.id).await? {
        lock.release().await;
        return match follow(&provider, chain, hash, &raw, wait).await? {
            Some(outcome) => Ok(outcome),
            None => Err(ChainError::Pending(hash.to_string())),
        };
    }
    // Sign, record on the quote, then broadcast.
    let sent: Result<Sent, ChainError> = async {
        let envelope = match provider.fill(request).await {
            Ok(SendableTx::Envelope(envelope)) => envelope,
            Ok(SendableTx::Builder(_)) => {
                return Err(err("the wallet did not sign the payment".into()));
            }
            Err(e) => {
                let text = e.to_string();
                // Gas estimation runs the call: a revert shows here, before anything is spent.
                if text.contains("revert") {
                    return Ok(Sent::WouldRevert(format!(
                        "transferFrom would revert: {text}"
                    )));
                }
                return Err(err(text));
            }
        };
        let hash = *envelope.tx_hash();
        let raw = envelope.encoded_2718();
        record_payment(services, &quote.id, hash, &raw).await?;
        if let Err(e) = provider.send_raw_transaction(&raw).await {
            // Recorded already: the next run re-broadcasts or replaces it.
            return Err(err(format!("broadcasting {hash}: {e}")));
        }
        Ok(Sent::Broadcast { hash, raw })
    }
    .await;
    lock.release().await;
    let (hash, raw) = match sent? {
        Sent::Broadcast { hash, raw } => (hash, raw),
        Sent::WouldRevert(reason) => {
            return Ok(PaymentOutcome::Failed {
                status: status::PAYMENT_REVERTED,
                reason,
            });
        }
    };
    tracing::info!(quote = %quote.id, tx = %hash, amount = %quote.token_amount, "payment sent");
    match follow(&provider, chain, hash, &raw, wait).await? {
        Some(outcome) => Ok(outcome),
        None => Err(ChainError::Pending(hash.to_string())),
    }
}

/// An arbitrary base for the advisory-lock keys of treasury senders (plus the chain id).
const SEND_LOCK_KEY: i64 = 0x7768_6172_6600_1000;

/// The right to sign and record a payment from one chain's treasury: a mutex in this process,
/// and across processes a PostgreSQL advisory lock (on its own session) or a file lock in the
/// shared data directory on SQLite. Dropping it releases every part, whatever the reason (a
/// cancelled job, a panic): a PostgreSQL session still holding the lock is closed rather than
/// returned to the pool, and the server frees its locks with it.
pub struct TreasuryLock {
    _local: tokio::sync::OwnedMutexGuard<()>,
    held: Held,
}

enum Held {
    /// `None` once handed back to the pool unlocked.
    Postgres(Option<sea_orm::sqlx::pool::PoolConnection<sea_orm::sqlx::Postgres>>),
    File(#[allow(dead_code)] crate::filelock::FileLock),
}

impl TreasuryLock {
    pub async fn acquire(
        db: &sea_orm::DatabaseConnection,
        data_dir: &std::path::Path,
        chain_id: u64,
    ) -> Result<TreasuryLock, DbErr> {
        let local = send_lock(chain_id).lock_owned().await;
        let held = match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                let conn = db
                    .get_postgres_connection_pool()
                    .acquire()
                    .await
                    .map_err(|e| DbErr::Custom(e.to_string()))?;
                // Held from here: if the wait below is cancelled, dropping the lock closes
                // the session, so a lock granted late cannot linger on a pooled connection.
                let mut lock = TreasuryLock {
                    _local: local,
                    held: Held::Postgres(Some(conn)),
                };
                if let Held::Postgres(Some(conn)) = &mut lock.held {
                    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
                        .bind(SEND_LOCK_KEY.wrapping_add(chain_id as i64))
                        .execute(&mut **conn)
                        .await
                        .map_err(|e| DbErr::Custom(e.to_string()))?;
                }
                return Ok(lock);
            }
            _ => {
                let path = data_dir.join(format!("treasury-{chain_id}.lock"));
                Held::File(
                    crate::filelock::FileLock::acquire(&path)
                        .await
                        .map_err(|e| DbErr::Custom(format!("locking {}: {e}", path.display())))?,
                )
            }
        };
        Ok(TreasuryLock {
            _local: local,
            held,
        })
    }

    /// Releases the lock, keeping the PostgreSQL connection for the pool when it unlocks
    /// cleanly.
    pub async fn release(mut self) {
        if let Held::Postgres(slot) = &mut self.held
            && let Some(mut conn) = slot.take()
        {
            let unlocked = sea_orm::sqlx::query("SELECT pg_advisory_unlock_all()")
                .execute(&mut *conn)
                .await;
            match unlocked {
                Ok(_) => drop(conn),
                // Closing the session releases the lock.
                Err(_) => drop(conn.detach()),
            }
        }
    }
}

impl Drop for TreasuryLock {
    fn drop(&mut self) {
        if let Held::Postgres(slot) = &mut self.held
            && let Some(conn) = slot.take()
        {
            // Not released cleanly (cancelled, panicked, or the lock query failed): end the
            // session instead of returning it to the pool still holding the lock.
            drop(conn.detach());
        }
    }
}

enum Sent {
    Broadcast { hash: B256, raw: Vec<u8> },
    WouldRevert(String),
}

async fn call_u256<P: Provider>(provider: &P, to: Address, data: Vec<u8>) -> Result<U256, String> {
    let request = TransactionRequest::default()
        .with_to(to)
        .with_input(Bytes::from(data));
    let out = provider.call(request).await.map_err(|e| e.to_string())?;
    if out.len() < 32 {
        return Err(format!("token {to} answered {} bytes", out.len()));
    }
    Ok(U256::from_be_slice(&out[..32]))
}

/// Follows a recorded payment: its outcome once confirmed, `None` if it can never be mined.
async fn follow<P: Provider>(
    provider: &P,
    chain: &ChainConfig,
    hash: B256,
    raw: &[u8],
    wait: Duration,
) -> Result<Option<PaymentOutcome>, ChainError> {
    let err = rpc(chain);
    let deadline = tokio::time::Instant::now() + wait;
    let mut rebroadcast = true;
    loop {
        if let Some(receipt) = provider
            .get_transaction_receipt(hash)
            .await
            .map_err(|e| err(e.to_string()))?
        {
            if !receipt.status() {
                return Ok(Some(PaymentOutcome::Failed {
                    status: status::PAYMENT_REVERTED,
                    reason: format!("transaction {hash} reverted"),
                }));
            }
            let mined = receipt.block_number.unwrap_or(0);
            let latest = provider
                .get_block_number()
                .await
                .map_err(|e| err(e.to_string()))?;
            if latest + 1 >= mined + chain.confirmations {
                return Ok(Some(PaymentOutcome::Paid));
            }
        } else if rebroadcast
            && provider
                .get_transaction_by_hash(hash)
                .await
                .map_err(|e| err(e.to_string()))?
                .is_none()
        {
            // Recorded but unknown to the node: it was never broadcast (a crash in between)
            // or was dropped. Send the very same bytes again.
            rebroadcast = false;
            if let Err(e) = provider.send_raw_transaction(raw).await {
                let text = e.to_string().to_lowercase();
                if text.contains("nonce too low") || text.contains("nonce is too low") {
                    return Ok(None);
                }
                if !text.contains("already known") {
                    return Err(err(format!("re-broadcasting {hash}: {e}")));
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ChainError::Pending(hash.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn recorded_payment(
    services: &Services,
    quote_id: &str,
) -> Result<Option<(B256, Vec<u8>)>, DbErr> {
    let row = services
        .db
        .query_one_raw(sql::statement(
            &services.db,
            "SELECT payment_tx, payment_raw FROM quotes WHERE id = $1",
            [quote_id.into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let hash: Option<String> = row.try_get("", "payment_tx")?;
    let raw: Option<String> = row.try_get("", "payment_raw")?;
    Ok(match (hash, raw) {
        (Some(h), Some(r)) => match (B256::from_str(&h), hex::decode(r.trim_start_matches("0x"))) {
            (Ok(h), Ok(r)) => Some((h, r)),
            _ => None,
        },
        _ => None,
    })
}

async fn record_payment(
    services: &Services,
    quote_id: &str,
    hash: B256,
    raw: &[u8],
) -> Result<(), DbErr> {
    services
        .db
        .execute_raw(sql::statement(
            &services.db,
            "UPDATE quotes SET payment_tx = $1, payment_raw = $2, status = $3, updated_at = $4 WHERE id = $5",
            [
                format!("{hash:#x}").into(),
                format!("0x{}", hex::encode(raw)).into(),
                status::PAYMENT_SENT.into(),
                now_ms().into(),
                quote_id.into(),
            ],
        ))
        .await?;
    services.quotes.changed(quote_id).await;
    Ok(())
}

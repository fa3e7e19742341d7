//! Wallets that pay for a dataset's deals. The key goes to the deal engine; wharf keeps only
//! the address and which datasets it serves.
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryOrder};
use wharf_entity::wallet;

use super::{DatasetError, datasets};
use crate::{sql, time::now_ms};

pub async fn add(
    db: &DatabaseConnection,
    address: &str,
    key_type: &str,
) -> Result<wallet::Model, DatasetError> {
    let inserted = db
        .execute_raw(sql::statement(
            db,
            "INSERT INTO wallets (addr, key_type, created_at) VALUES ($1, $2, $3) ON CONFLICT (addr) DO NOTHING",
            [address.into(), key_type.into(), now_ms().into()],
        ))
        .await?;
    if inserted.rows_affected() == 0 {
        return Err(DatasetError::Conflict(format!(
            "wallet {address} already exists"
        )));
    }
    get(db, address).await
}

pub async fn get(db: &DatabaseConnection, address: &str) -> Result<wallet::Model, DatasetError> {
    wallet::Entity::find_by_id(address.to_string())
        .one(db)
        .await?
        .ok_or_else(|| DatasetError::NotFound(format!("wallet {address} does not exist")))
}

/// Every wallet with the ids of its datasets, optionally only those serving one dataset.
pub async fn list(
    db: &DatabaseConnection,
    dataset: Option<i32>,
) -> Result<Vec<(wallet::Model, Vec<i32>)>, DatasetError> {
    #[derive(FromQueryResult)]
    struct Link {
        wallet_addr: String,
        dataset_id: i32,
    }
    let links = Link::find_by_statement(sql::statement(
        db,
        "SELECT wallet_addr, dataset_id FROM wallet_datasets ORDER BY dataset_id",
        [],
    ))
    .all(db)
    .await?;
    let wallets = wallet::Entity::find()
        .order_by_asc(wallet::Column::Addr)
        .all(db)
        .await?;
    Ok(wallets
        .into_iter()
        .map(|w| {
            let ids: Vec<i32> = links
                .iter()
                .filter(|l| l.wallet_addr == w.addr)
                .map(|l| l.dataset_id)
                .collect();
            (w, ids)
        })
        .filter(|(_, ids)| dataset.is_none_or(|d| ids.contains(&d)))
        .collect())
}

/// Removes a wallet and its dataset links.
pub async fn delete(db: &DatabaseConnection, address: &str) -> Result<(), DatasetError> {
    let txn = sql::begin_write(db).await?;
    txn.execute_raw(sql::statement(
        &txn,
        "DELETE FROM wallet_datasets WHERE wallet_addr = $1",
        [address.into()],
    ))
    .await?;
    let deleted = txn
        .execute_raw(sql::statement(
            &txn,
            "DELETE FROM wallets WHERE addr = $1",
            [address.into()],
        ))
        .await?;
    if deleted.rows_affected() == 0 {
        txn.rollback().await?;
        return Err(DatasetError::NotFound(format!(
            "wallet {address} does not exist"
        )));
    }
    txn.commit().await?;
    Ok(())
}

/// Makes `datasets` the wallet's datasets (replacing the previous set).
pub async fn associate(
    db: &DatabaseConnection,
    address: &str,
    dataset_ids: &[i32],
) -> Result<(), DatasetError> {
    get(db, address).await?;
    for id in dataset_ids {
        datasets::get(db, *id).await?;
    }
    let txn = sql::begin_write(db).await?;
    txn.execute_raw(sql::statement(
        &txn,
        "DELETE FROM wallet_datasets WHERE wallet_addr = $1",
        [address.into()],
    ))
    .await?;
    let mut unique = dataset_ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    for id in unique {
        txn.execute_raw(sql::statement(
            &txn,
            "INSERT INTO wallet_datasets (wallet_addr, dataset_id) VALUES ($1, $2)",
            [address.into(), id.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// A wallet key as the operator gives it.
pub enum WalletKey {
    /// `secp256k1` or `bls`, with the base64 private key (lotus keyinfo).
    Typed {
        key_type: String,
        private_key: String,
    },
    /// The hex of a lotus wallet export.
    Hex(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Engine(#[from] super::engine::EngineError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
}

/// Registers a key with the deal engine and records the wallet's address (not the key).
pub async fn register(
    engine: &dyn super::engine::DealEngine,
    db: &DatabaseConnection,
    key: WalletKey,
) -> Result<wallet::Model, RegisterError> {
    let (address, key_type) = match key {
        WalletKey::Typed {
            key_type,
            private_key,
        } => {
            if key_type != "secp256k1" && key_type != "bls" {
                return Err(RegisterError::Invalid(
                    "Type must be secp256k1 or bls".into(),
                ));
            }
            if private_key.is_empty() || private_key.len() > 4096 {
                return Err(RegisterError::Invalid(
                    "PrivateKey (base64) is required".into(),
                ));
            }
            (
                engine.register_wallet(&key_type, &private_key).await?,
                key_type,
            )
        }
        WalletKey::Hex(hex_key) => {
            if hex_key.is_empty()
                || hex_key.len() > 4096
                || !hex_key.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(RegisterError::Invalid(
                    "hex_key must be the hex of a lotus wallet export".into(),
                ));
            }
            (
                engine.register_wallet_hex(&hex_key).await?,
                "hex".to_string(),
            )
        }
    };
    Ok(add(db, &address, &key_type).await?)
}

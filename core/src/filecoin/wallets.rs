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

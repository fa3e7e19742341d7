//! Datasets: a name, how many replicas each piece should get, and how long deals last.
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult};
use serde::Serialize;
use wharf_entity::dataset;

use super::{Bytes, DatasetError, epoch::DealBounds};
use crate::{sql, time::now_ms};

/// A dataset name: lower-case letters and digits in groups joined by single hyphens, at most
/// 254 characters.
pub fn check_name(name: &str) -> Result<(), DatasetError> {
    let valid = !name.is_empty()
        && name.len() <= 254
        && name.split('-').all(|group| {
            !group.is_empty()
                && group
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if valid {
        Ok(())
    } else {
        Err(DatasetError::Invalid(format!(
            "invalid dataset name {name:?}: use lower-case letters and digits, groups joined by single hyphens, at most 254 characters"
        )))
    }
}

/// Most replicas a dataset may ask for.
pub const MAX_REPLICATION_QUOTA: u64 = 1000;

fn check_quota(quota: u64) -> Result<(), DatasetError> {
    if quota == 0 || quota > MAX_REPLICATION_QUOTA {
        return Err(DatasetError::Invalid(format!(
            "replication_quota must be between 1 and {MAX_REPLICATION_QUOTA}"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct DatasetChange {
    pub name: Option<String>,
    pub replication_quota: Option<u64>,
    pub deal_duration: Option<u64>,
}

/// A dataset with what has been replicated of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSummary {
    pub dataset: dataset::Model,
    pub bytes_replicated: Bytes,
    pub bytes_total: Bytes,
    pub count_replicated: i64,
    pub count_total: i64,
    pub wallets: Vec<String>,
}

#[derive(Debug, FromQueryResult, Serialize)]
struct WalletLink {
    dataset_id: i32,
    wallet_addr: String,
}

pub async fn create(
    db: &DatabaseConnection,
    bounds: &DealBounds,
    name: &str,
    replication_quota: u64,
    deal_duration: u64,
) -> Result<dataset::Model, DatasetError> {
    check_name(name)?;
    check_quota(replication_quota)?;
    bounds
        .check_duration(deal_duration)
        .map_err(|e| DatasetError::Invalid(e.to_string()))?;
    let now = now_ms();
    let inserted = db
        .execute_raw(sql::statement(
            db,
            "INSERT INTO datasets (name, replication_quota, deal_duration, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING",
            [
                name.into(),
                (replication_quota as i64).into(),
                (deal_duration as i64).into(),
                now.into(),
            ],
        ))
        .await?;
    if inserted.rows_affected() == 0 {
        return Err(DatasetError::Conflict(format!(
            "dataset with name {name} already exists"
        )));
    }
    by_name(db, name)
        .await?
        .ok_or_else(|| DatasetError::Db(DbErr::RecordNotFound(name.to_string())))
}

pub async fn by_name(db: &DatabaseConnection, name: &str) -> Result<Option<dataset::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    dataset::Entity::find()
        .filter(dataset::Column::Name.eq(name))
        .one(db)
        .await
}

pub async fn get(db: &DatabaseConnection, id: i32) -> Result<dataset::Model, DatasetError> {
    dataset::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| DatasetError::NotFound(format!("dataset {id} does not exist")))
}

pub async fn update(
    db: &DatabaseConnection,
    bounds: &DealBounds,
    id: i32,
    change: DatasetChange,
) -> Result<dataset::Model, DatasetError> {
    if change.name.is_none() && change.replication_quota.is_none() && change.deal_duration.is_none()
    {
        return Err(DatasetError::Invalid(
            "give at least one of name, replication_quota, deal_duration".into(),
        ));
    }
    let current = get(db, id).await?;
    if let Some(name) = &change.name {
        check_name(name)?;
        if *name != current.name && by_name(db, name).await?.is_some() {
            return Err(DatasetError::Conflict(format!(
                "dataset with name {name} already exists"
            )));
        }
    }
    if let Some(quota) = change.replication_quota {
        check_quota(quota)?;
    }
    if let Some(days) = change.deal_duration {
        bounds
            .check_duration(days)
            .map_err(|e| DatasetError::Invalid(e.to_string()))?;
    }
    let result = db
        .execute_raw(sql::statement(
            db,
            "UPDATE datasets SET name = $1, replication_quota = $2, deal_duration = $3, updated_at = $4 WHERE id = $5",
            [
                change.name.unwrap_or(current.name).into(),
                change
                    .replication_quota
                    .map_or(current.replication_quota, |q| q as i64)
                    .into(),
                change
                    .deal_duration
                    .map_or(current.deal_duration, |d| d as i64)
                    .into(),
                now_ms().into(),
                id.into(),
            ],
        ))
        .await;
    match result {
        Ok(_) => get(db, id).await,
        // A rename racing another to the same name.
        Err(e) if e.to_string().to_lowercase().contains("unique") => Err(DatasetError::Conflict(
            "dataset with that name already exists".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Every dataset with its counters, by id.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<DatasetSummary>, DatasetError> {
    use sea_orm::QueryOrder;
    let datasets = dataset::Entity::find()
        .order_by_asc(dataset::Column::Id)
        .all(db)
        .await?;
    let totals = super::content_bytes_by_dataset(db).await?;
    let replicated = super::replicated_bytes_by(db, "dataset_id").await?;
    let wallets = WalletLink::find_by_statement(sql::statement(
        db,
        "SELECT dataset_id, wallet_addr FROM wallet_datasets ORDER BY wallet_addr",
        [],
    ))
    .all(db)
    .await?;
    let find = |rows: &std::collections::HashMap<String, (Bytes, i64)>, id: i32| {
        rows.get(&id.to_string()).copied().unwrap_or_default()
    };
    Ok(datasets
        .into_iter()
        .map(|dataset| {
            let (bytes_total, count_total) = find(&totals, dataset.id);
            let (bytes_replicated, count_replicated) = find(&replicated, dataset.id);
            let wallets = wallets
                .iter()
                .filter(|w| w.dataset_id == dataset.id)
                .map(|w| w.wallet_addr.clone())
                .collect();
            DatasetSummary {
                dataset,
                bytes_replicated,
                bytes_total,
                count_replicated,
                count_total,
                wallets,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_follow_the_upstream_cases() {
        for valid in ["valid", "valid-dash", "123-this-is-valid", "1-2-3-4"] {
            assert!(check_name(valid).is_ok(), "{valid}");
        }
        let long = "a".repeat(300);
        for invalid in [
            "spaces are invalid",
            "--",
            "-",
            "",
            "Invalid",
            "@nvalid",
            "-invalid-",
            "doubledash--is-invalid",
            long.as_str(),
        ] {
            assert!(check_name(invalid).is_err(), "{invalid}");
        }
    }
}

//! Storage providers, their self-service key, and the replication profiles that say which
//! datasets each may replicate and how.
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use wharf_entity::{provider, replication_profile};

use super::{Bytes, DatasetError, datasets};
use crate::{auth::secret_matches, sql, time::now_ms};

/// A Filecoin actor address as text: `f`/`t`, a protocol digit, then the payload of that
/// protocol (ID digits; base32 for secp256k1, actor and BLS addresses; `<namespace>f<base32>`
/// for delegated ones). The checksum is not verified.
pub fn check_actor_id(id: &str) -> Result<(), DatasetError> {
    let invalid = || DatasetError::Invalid(format!("{id:?} is not a Filecoin address"));
    let rest = id
        .strip_prefix('f')
        .or_else(|| id.strip_prefix('t'))
        .ok_or_else(invalid)?;
    let base32 =
        |s: &str| !s.is_empty() && s.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'));
    let valid = match rest.split_at_checked(1) {
        Some(("0", digits)) => {
            !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
        }
        Some(("1" | "2", payload)) => payload.len() == 39 && base32(payload),
        Some(("3", payload)) => payload.len() == 84 && base32(payload),
        Some(("4", payload)) => payload.split_once('f').is_some_and(|(namespace, sub)| {
            !namespace.is_empty()
                && namespace.bytes().all(|b| b.is_ascii_digit())
                && base32(sub)
                && sub.len() <= 100
        }),
        _ => false,
    };
    if valid { Ok(()) } else { Err(invalid()) }
}

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A provider with what it has replicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSummary {
    pub provider: provider::Model,
    pub bytes_replicated: Bytes,
    pub count_replicated: i64,
    pub profiles: Vec<replication_profile::Model>,
}

/// Adds a provider; returns it with its self-service key, shown this once.
pub async fn create(
    db: &DatabaseConnection,
    actor_id: &str,
    actor_name: Option<&str>,
    allow_self_service: bool,
) -> Result<(provider::Model, String), DatasetError> {
    check_actor_id(actor_id)?;
    let name = actor_name.unwrap_or("");
    if name.len() > 254 {
        return Err(DatasetError::Invalid(
            "actor_name is longer than 254 characters".into(),
        ));
    }
    let key = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let inserted = db
        .execute_raw(sql::statement(
            db,
            "INSERT INTO providers (actor_id, actor_name, key_hash, allow_self_service, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (actor_id) DO NOTHING",
            [
                actor_id.into(),
                name.into(),
                key_hash(&key).into(),
                allow_self_service.into(),
                now.into(),
            ],
        ))
        .await?;
    if inserted.rows_affected() == 0 {
        return Err(DatasetError::Conflict(format!(
            "provider {actor_id} already exists"
        )));
    }
    Ok((get(db, actor_id).await?, key))
}

pub async fn get(db: &DatabaseConnection, actor_id: &str) -> Result<provider::Model, DatasetError> {
    provider::Entity::find_by_id(actor_id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| DatasetError::NotFound(format!("provider {actor_id} does not exist")))
}

pub async fn update(
    db: &DatabaseConnection,
    actor_id: &str,
    actor_name: Option<&str>,
    allow_self_service: Option<bool>,
) -> Result<provider::Model, DatasetError> {
    let current = get(db, actor_id).await?;
    if actor_name.is_some_and(|n| n.len() > 254) {
        return Err(DatasetError::Invalid(
            "actor_name is longer than 254 characters".into(),
        ));
    }
    db.execute_raw(sql::statement(
        db,
        "UPDATE providers SET actor_name = $1, allow_self_service = $2, updated_at = $3 WHERE actor_id = $4",
        [
            actor_name.map_or(current.actor_name, str::to_string).into(),
            allow_self_service.unwrap_or(current.allow_self_service).into(),
            now_ms().into(),
            actor_id.into(),
        ],
    ))
    .await?;
    get(db, actor_id).await
}

/// Why a self-service request is refused.
#[derive(Debug, thiserror::Error)]
pub enum SelfServiceError {
    #[error("missing provider self-service token")]
    Missing,
    #[error("invalid provider self-service token")]
    Invalid,
    #[error("provider is not allowed to self-serve, please contact administrator to enable it")]
    NotAllowed,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The provider whose self-service key this is (keys are compared by hash, in constant time).
pub async fn by_key(
    db: &DatabaseConnection,
    key: Option<&str>,
) -> Result<provider::Model, SelfServiceError> {
    let key = key
        .filter(|k| !k.is_empty())
        .ok_or(SelfServiceError::Missing)?;
    let hash = key_hash(key);
    let found = provider::Entity::find()
        .filter(provider::Column::KeyHash.eq(hash.clone()))
        .one(db)
        .await?
        .filter(|p| secret_matches(&p.key_hash, &hash))
        .ok_or(SelfServiceError::Invalid)?;
    if !found.allow_self_service {
        return Err(SelfServiceError::NotAllowed);
    }
    Ok(found)
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<ProviderSummary>, DatasetError> {
    let providers = provider::Entity::find()
        .order_by_asc(provider::Column::ActorId)
        .all(db)
        .await?;
    let counters = super::replicated_bytes_by(db, "provider_actor_id").await?;
    let profiles = list_profiles(db).await?;
    Ok(providers
        .into_iter()
        .map(|provider| {
            let (bytes_replicated, count_replicated) = counters
                .get(&provider.actor_id)
                .copied()
                .unwrap_or_default();
            let profiles = profiles
                .iter()
                .filter(|p| p.provider_actor_id == provider.actor_id)
                .cloned()
                .collect();
            ProviderSummary {
                provider,
                bytes_replicated,
                count_replicated,
                profiles,
            }
        })
        .collect())
}

pub async fn list_profiles(
    db: &DatabaseConnection,
) -> Result<Vec<replication_profile::Model>, DbErr> {
    replication_profile::Entity::find()
        .order_by_asc(replication_profile::Column::DatasetId)
        .order_by_asc(replication_profile::Column::ProviderActorId)
        .all(db)
        .await
}

/// Lets a provider replicate a dataset (`unsealed`: keep an unsealed copy; `indexed`:
/// announce to IPNI).
pub async fn create_profile(
    db: &DatabaseConnection,
    actor_id: &str,
    dataset_id: i32,
    unsealed: bool,
    indexed: bool,
) -> Result<replication_profile::Model, DatasetError> {
    get(db, actor_id).await?;
    datasets::get(db, dataset_id).await?;
    let now = now_ms();
    let inserted = db
        .execute_raw(sql::statement(
            db,
            "INSERT INTO replication_profiles (provider_actor_id, dataset_id, unsealed, indexed, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (provider_actor_id, dataset_id) DO NOTHING",
            [
                actor_id.into(),
                dataset_id.into(),
                unsealed.into(),
                indexed.into(),
                now.into(),
            ],
        ))
        .await?;
    if inserted.rows_affected() == 0 {
        return Err(DatasetError::Conflict(format!(
            "replication profile for provider {actor_id} and dataset {dataset_id} already exists"
        )));
    }
    profile(db, actor_id, dataset_id).await
}

async fn profile(
    db: &DatabaseConnection,
    actor_id: &str,
    dataset_id: i32,
) -> Result<replication_profile::Model, DatasetError> {
    replication_profile::Entity::find_by_id((actor_id.to_string(), dataset_id))
        .one(db)
        .await?
        .ok_or_else(|| {
            DatasetError::NotFound(format!(
                "replication profile for provider {actor_id} and dataset {dataset_id} does not exist"
            ))
        })
}

pub async fn update_profile(
    db: &DatabaseConnection,
    actor_id: &str,
    dataset_id: i32,
    unsealed: bool,
    indexed: bool,
) -> Result<replication_profile::Model, DatasetError> {
    let updated = db
        .execute_raw(sql::statement(
            db,
            "UPDATE replication_profiles SET unsealed = $1, indexed = $2, updated_at = $3 \
             WHERE provider_actor_id = $4 AND dataset_id = $5",
            [
                unsealed.into(),
                indexed.into(),
                now_ms().into(),
                actor_id.into(),
                dataset_id.into(),
            ],
        ))
        .await?;
    if updated.rows_affected() == 0 {
        return Err(DatasetError::NotFound(format!(
            "replication profile for provider {actor_id} and dataset {dataset_id} does not exist"
        )));
    }
    profile(db, actor_id, dataset_id).await
}

pub async fn delete_profile(
    db: &DatabaseConnection,
    actor_id: &str,
    dataset_id: i32,
) -> Result<(), DatasetError> {
    let deleted = db
        .execute_raw(sql::statement(
            db,
            "DELETE FROM replication_profiles WHERE provider_actor_id = $1 AND dataset_id = $2",
            [actor_id.into(), dataset_id.into()],
        ))
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(DatasetError::NotFound(format!(
            "replication profile for provider {actor_id} and dataset {dataset_id} does not exist"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_ids_are_filecoin_addresses() {
        for valid in [
            "f01963614",
            "t01000",
            "f1abjxfbp274xpdqcpuaykwkfb43omjotacm2p3za",
            "f410fabcdefghijklmnopqrstuvwxyz234567",
        ] {
            assert!(check_actor_id(valid).is_ok(), "{valid}");
        }
        for invalid in ["", "f0", "x01234", "f0abc", "f9123", "f1short", "01234"] {
            assert!(check_actor_id(invalid).is_err(), "{invalid}");
        }
    }
}

//! Registrations of legacy storage microservices (`POST /register`): signed by the configured
//! signer, refreshed by every registration, live for a TTL after the last one.
use std::str::FromStr;

use alloy_primitives::Address;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};
use wharf_entity::storage_service;

use super::storages::PaymentOption;
use crate::{auth::signature::recover_signer, config::Config, sql, time::now_ms};

/// A registration as a microservice sends it.
#[derive(Debug, Clone)]
pub struct Registration {
    pub kind: String,
    pub description: String,
    pub url: String,
    pub payment: Vec<PaymentOption>,
    /// EIP-191 `personal_sign` over the `url` string.
    pub signature: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// It was live: its last-seen time (and details) were refreshed.
    AlreadyActive,
    /// It had expired and is live again.
    Reactivated,
    Created,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("Invalid signature.")]
    BadSignature,
    #[error("Registration request received from non-approved address.")]
    NotApproved,
    #[error("Enter a valid URL.")]
    BadUrl,
    #[error("Chosen storage type is served by this gateway itself.")]
    ServedHere,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A base URL the legacy protocol can append paths to: http(s), no query, ends with `/`.
pub fn normalise_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || url.len() > 2048
    {
        return None;
    }
    let mut text = parsed.to_string();
    if !text.ends_with('/') {
        text.push('/');
    }
    Some(text)
}

pub async fn register(
    config: &Config,
    db: &DatabaseConnection,
    registration: Registration,
) -> Result<Registered, RegistrationError> {
    let signer = recover_signer(registration.url.as_bytes(), &registration.signature)
        .map_err(|_| RegistrationError::BadSignature)?;
    let approved = config
        .dbs
        .registration_signer
        .as_deref()
        .and_then(|a| Address::from_str(a).ok());
    if approved != Some(signer) {
        return Err(RegistrationError::NotApproved);
    }
    if config.storages.iter().any(|s| s.kind == registration.kind) {
        return Err(RegistrationError::ServedHere);
    }
    let url = normalise_url(&registration.url).ok_or(RegistrationError::BadUrl)?;
    let now = now_ms();
    let live_after = now - (config.dbs.registration_ttl_secs as i64).saturating_mul(1000);
    let before = storage_service::Entity::find_by_id(registration.kind.clone())
        .one(db)
        .await?;
    let payment =
        serde_json::to_string(&registration.payment).map_err(|e| DbErr::Custom(e.to_string()))?;
    // One statement, so two registrations racing for a new type both succeed.
    db.execute_raw(sql::statement(
        db,
        "INSERT INTO storage_services (kind, description, url, payment, registered_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (kind) DO UPDATE SET description = $2, url = $3, payment = $4, last_seen_at = $5",
        [
            registration.kind.into(),
            registration.description.into(),
            url.into(),
            payment.into(),
            now.into(),
        ],
    ))
    .await?;
    super::storages::registry_changed();
    Ok(match before {
        None => Registered::Created,
        Some(s) if s.last_seen_at > live_after => Registered::AlreadyActive,
        Some(_) => Registered::Reactivated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_a_trailing_slash_and_must_be_http() {
        assert_eq!(
            normalise_url("http://host:8081").as_deref(),
            Some("http://host:8081/")
        );
        assert_eq!(
            normalise_url("https://h/api/").as_deref(),
            Some("https://h/api/")
        );
        assert_eq!(normalise_url("ftp://h/"), None);
        assert_eq!(normalise_url("not a url"), None);
        assert_eq!(normalise_url("http://h/?a=1"), None);
    }
}

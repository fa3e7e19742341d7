//! A registered legacy storage microservice; live while it re-registers within the TTL.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "storage_services")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    pub description: String,
    pub url: String,
    /// JSON `[{"chainId": "...", "acceptedTokens": [{"title": "...", "value": "0x..."}]}]`.
    pub payment: String,
    pub registered_at: i64,
    pub last_seen_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

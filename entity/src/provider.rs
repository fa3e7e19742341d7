//! A Filecoin storage provider; `key_hash` is the sha256 of its self-service key (the key
//! itself is shown once, when the provider is added).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "providers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub actor_id: String,
    pub actor_name: String,
    pub key_hash: String,
    pub allow_self_service: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

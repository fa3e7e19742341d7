//! Permission for a provider to replicate a dataset, and how (unsealed copy, IPNI announce).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "replication_profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_actor_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub dataset_id: i32,
    pub unsealed: bool,
    pub indexed: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

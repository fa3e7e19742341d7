//! Which wallet makes the deals of which dataset.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wallet_datasets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub wallet_addr: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub dataset_id: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Where a block's bytes are: a range of a CAR body blob. A block held by several CARs has a
//! row for each.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "block_locations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub cid: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub car_id: String,
    pub offset: i64,
    pub length: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

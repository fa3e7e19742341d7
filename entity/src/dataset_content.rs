//! One piece (CAR) of a dataset: its piece CID (CommP), payload root CID and sizes.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub comm_p: String,
    pub payload_cid: String,
    pub size: i64,
    pub padded_size: i64,
    pub dataset_id: i32,
    /// Replications of this piece that are not failed.
    pub num_replications: i64,
    pub content_location: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! One file of a quote: its quoted length, then what the upload made of it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quote_files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub quote_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idx: i32,
    pub length: i64,
    pub name: Option<String>,
    pub cid: Option<String>,
    pub car_id: Option<String>,
    /// Not computed by uploads: nothing reads a quote file's sha256 (decision 142).
    pub sha256: Option<String>,
    pub piece_cid: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! An imported CAR: its body blob, root and the identities of the payload.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "car_files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub root: String,
    /// Blob-store key of the CAR body (sections only; the header is made from `root`).
    pub body_key: String,
    pub body_bytes: i64,
    pub car_bytes: i64,
    pub blocks: i64,
    pub payload_bytes: i64,
    /// Lower-case hex sha256 of the payload, or empty where the import did not compute it
    /// (only web-core's hosting reads it).
    pub sha256: String,
    /// v1 piece CID of the payload.
    pub piece_cid: String,
    pub padded_piece_size: i64,
    pub created_at: i64,
    /// While the import runs: when it last made progress. NULL once complete; only complete
    /// CARs are served.
    pub staged_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! An upload quote: what storing some files costs, who owes it, and where the upload stands
//! (status codes of the legacy uploader: 1 waiting, 100-199 payment, 200-299 payment failed,
//! 300-399 storing, 400 done, 401-499 storing failed).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quotes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Lower-case 0x address of the wallet that asked for it.
    pub owner: String,
    pub storage: String,
    pub chain_id: i64,
    pub token_address: String,
    /// Decimal string in the token's smallest unit.
    pub token_amount: String,
    pub approve_address: String,
    pub duration: i64,
    pub total_bytes: i64,
    pub file_count: i32,
    pub status: i32,
    pub payment_tx: Option<String>,
    /// The signed payment transaction, recorded before it is broadcast.
    pub payment_raw: Option<String>,
    /// A web-core access token the quote was paid from, instead of a chain payment.
    pub paid_with: Option<String>,
    /// JSON of what the storage backend produced (CIDs, deal ids, transaction ids).
    pub link: Option<String>,
    pub failure: Option<String>,
    /// The registered storage microservice that priced the quote and stores its files.
    pub remote_url: Option<String>,
    /// When the received files were handed to that microservice (its status counts from then).
    pub forwarded_at: Option<i64>,
    /// JSON `{nonce, signature}` of the upload, for a storage microservice that checks the
    /// owner's signature itself (kept so a lost job can be queued again).
    pub owner_signature: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! One deal of a piece with one provider, as the deal engine reports it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "replications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub content_comm_p: String,
    pub dataset_id: i32,
    pub provider_actor_id: String,
    pub deal_time: i64,
    pub delta_content_id: Option<i64>,
    pub deal_uuid: String,
    pub on_chain_deal_id: i64,
    pub proposal_cid: String,
    pub status: String,
    pub delta_message: String,
    pub start_epoch: i64,
    pub end_epoch: i64,
    pub ss_is_self_service: bool,
    pub ss_last_update: i64,
    pub ss_status: String,
    pub ss_message: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

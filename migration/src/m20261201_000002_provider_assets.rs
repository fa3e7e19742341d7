//! The Ocean Provider's own asset registry: DDOs an operator published to wharf, served at
//! `/api/aquarius/assets/ddo/{did}` and resolved by the Provider routes.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProviderAssets {
    Table,
    Did,
    ChainId,
    NftAddress,
    Ddo,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProviderAssets::Table)
                    .col(string_len(ProviderAssets::Did, 80).primary_key())
                    .col(big_integer(ProviderAssets::ChainId))
                    .col(string_len(ProviderAssets::NftAddress, 42))
                    .col(text(ProviderAssets::Ddo))
                    .col(big_integer(ProviderAssets::CreatedAt))
                    .col(big_integer(ProviderAssets::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProviderAssets::Table).to_owned())
            .await
    }
}

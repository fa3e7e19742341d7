//! Upload quotes, their files, and registered storage microservices.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Quotes {
    Table,
    Id,
    Owner,
    Storage,
    ChainId,
    TokenAddress,
    TokenAmount,
    ApproveAddress,
    Duration,
    TotalBytes,
    FileCount,
    Status,
    PaymentTx,
    PaymentRaw,
    PaidWith,
    Link,
    Failure,
    CreatedAt,
    ExpiresAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum QuoteFiles {
    Table,
    QuoteId,
    Idx,
    Length,
    Name,
    Cid,
    CarId,
    Sha256,
    PieceCid,
}

#[derive(DeriveIden)]
enum StorageServices {
    Table,
    Kind,
    Description,
    Url,
    Payment,
    RegisteredAt,
    LastSeenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Quotes::Table)
                    .col(string_len(Quotes::Id, 64).primary_key())
                    .col(string_len(Quotes::Owner, 42))
                    .col(string_len(Quotes::Storage, 64))
                    .col(big_integer(Quotes::ChainId))
                    .col(string_len(Quotes::TokenAddress, 42))
                    .col(string_len(Quotes::TokenAmount, 80))
                    .col(string_len(Quotes::ApproveAddress, 42))
                    .col(big_integer(Quotes::Duration))
                    .col(big_integer(Quotes::TotalBytes))
                    .col(integer(Quotes::FileCount))
                    .col(integer(Quotes::Status))
                    .col(string_len_null(Quotes::PaymentTx, 66))
                    .col(text_null(Quotes::PaymentRaw))
                    .col(string_len_null(Quotes::PaidWith, 32))
                    .col(text_null(Quotes::Link))
                    .col(text_null(Quotes::Failure))
                    .col(big_integer(Quotes::CreatedAt))
                    .col(big_integer(Quotes::ExpiresAt))
                    .col(big_integer(Quotes::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_quotes_owner_created")
                    .table(Quotes::Table)
                    .col(Quotes::Owner)
                    .col(Quotes::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(QuoteFiles::Table)
                    .col(string_len(QuoteFiles::QuoteId, 64))
                    .col(integer(QuoteFiles::Idx))
                    .col(big_integer(QuoteFiles::Length))
                    .col(string_len_null(QuoteFiles::Name, 255))
                    .col(string_len_null(QuoteFiles::Cid, 128))
                    .col(string_len_null(QuoteFiles::CarId, 32))
                    .col(string_len_null(QuoteFiles::Sha256, 64))
                    .col(string_len_null(QuoteFiles::PieceCid, 128))
                    .primary_key(
                        Index::create()
                            .col(QuoteFiles::QuoteId)
                            .col(QuoteFiles::Idx),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StorageServices::Table)
                    .col(string_len(StorageServices::Kind, 64).primary_key())
                    .col(text(StorageServices::Description))
                    .col(string_len(StorageServices::Url, 2048))
                    .col(text(StorageServices::Payment))
                    .col(big_integer(StorageServices::RegisteredAt))
                    .col(big_integer(StorageServices::LastSeenAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            StorageServices::Table.into_iden(),
            QuoteFiles::Table.into_iden(),
            Quotes::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

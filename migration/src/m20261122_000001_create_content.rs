//! Content-addressed storage: each imported CAR body is one blob; every block is indexed by
//! CID with its place in that blob.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CarFiles {
    Table,
    Id,
    Root,
    BodyKey,
    BodyBytes,
    CarBytes,
    Blocks,
    PayloadBytes,
    Sha256,
    PieceCid,
    PaddedPieceSize,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Blocks {
    Table,
    Cid,
    CarId,
    Offset,
    Length,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CarFiles::Table)
                    .col(string_len(CarFiles::Id, 32).primary_key())
                    .col(string_len(CarFiles::Root, 128))
                    .col(string_len(CarFiles::BodyKey, 256))
                    .col(big_integer(CarFiles::BodyBytes))
                    .col(big_integer(CarFiles::CarBytes))
                    .col(big_integer(CarFiles::Blocks))
                    .col(big_integer(CarFiles::PayloadBytes))
                    .col(string_len(CarFiles::Sha256, 64))
                    .col(string_len(CarFiles::PieceCid, 128))
                    .col(big_integer(CarFiles::PaddedPieceSize))
                    .col(big_integer(CarFiles::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_car_files_root")
                    .table(CarFiles::Table)
                    .col(CarFiles::Root)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Blocks::Table)
                    .col(string_len(Blocks::Cid, 128).primary_key())
                    .col(string_len(Blocks::CarId, 32))
                    .col(big_integer(Blocks::Offset))
                    .col(big_integer(Blocks::Length))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Blocks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CarFiles::Table).to_owned())
            .await
    }
}

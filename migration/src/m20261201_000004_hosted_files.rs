//! web-core file hosting: the files (ciphertexts in the content store), who uploaded them,
//! the downloads charged and not yet settled, and the monthly transfer meter of
//! `GET /api/status`.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum HostedFiles {
    Table,
    Filehash,
    KeyFingerprint,
    Name,
    Size,
    Cid,
    CarId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum HostedUploads {
    Table,
    Id,
    Filehash,
    Token,
    Charged,
    CreatedAt,
}

#[derive(DeriveIden)]
enum HostedTransfers {
    Table,
    Id,
    Filehash,
    Token,
    Amount,
    State,
    SentBytes,
    TouchedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum HostingMeter {
    Table,
    Month,
    Incoming,
    Outgoing,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HostedFiles::Table)
                    .col(string_len(HostedFiles::Filehash, 64).primary_key())
                    .col(string_len(HostedFiles::KeyFingerprint, 64).unique_key())
                    .col(string_len(HostedFiles::Name, 300))
                    .col(big_integer(HostedFiles::Size))
                    .col(string_len(HostedFiles::Cid, 128))
                    .col(string_len(HostedFiles::CarId, 64))
                    .col(big_integer(HostedFiles::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HostedUploads::Table)
                    .col(big_pk_auto(HostedUploads::Id))
                    .col(string_len(HostedUploads::Filehash, 64))
                    .col(string_len(HostedUploads::Token, 64))
                    .col(big_integer(HostedUploads::Charged))
                    .col(big_integer(HostedUploads::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_hosted_uploads_token")
                    .table(HostedUploads::Table)
                    .col(HostedUploads::Token)
                    .col(HostedUploads::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HostedTransfers::Table)
                    .col(string_len(HostedTransfers::Id, 32).primary_key())
                    .col(string_len(HostedTransfers::Filehash, 64))
                    .col(string_len(HostedTransfers::Token, 64))
                    .col(big_integer(HostedTransfers::Amount))
                    .col(string_len(HostedTransfers::State, 16))
                    .col(big_integer(HostedTransfers::SentBytes))
                    .col(big_integer(HostedTransfers::TouchedAt))
                    .col(big_integer(HostedTransfers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_hosted_transfers_open")
                    .table(HostedTransfers::Table)
                    .col(HostedTransfers::State)
                    .col(HostedTransfers::TouchedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HostingMeter::Table)
                    .col(string_len(HostingMeter::Month, 7).primary_key())
                    .col(big_integer(HostingMeter::Incoming))
                    .col(big_integer(HostingMeter::Outgoing))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(HostingMeter::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(HostedTransfers::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(HostedUploads::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(HostedFiles::Table).to_owned())
            .await
    }
}

//! Filecoin datasets (delta-dm): datasets, their contents (pieces), storage providers, which
//! provider may replicate which dataset, the replications (deals), and wallets.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Datasets {
    Table,
    Id,
    Name,
    ReplicationQuota,
    DealDuration,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Contents {
    Table,
    CommP,
    PayloadCid,
    Size,
    PaddedSize,
    DatasetId,
    NumReplications,
    ContentLocation,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    ActorId,
    ActorName,
    KeyHash,
    AllowSelfService,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ReplicationProfiles {
    Table,
    ProviderActorId,
    DatasetId,
    Unsealed,
    Indexed,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Replications {
    Table,
    Id,
    ContentCommP,
    DatasetId,
    ProviderActorId,
    DealTime,
    DeltaContentId,
    DealUuid,
    OnChainDealId,
    ProposalCid,
    Status,
    DeltaMessage,
    StartEpoch,
    EndEpoch,
    SsIsSelfService,
    SsLastUpdate,
    SsStatus,
    SsMessage,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Wallets {
    Table,
    Addr,
    KeyType,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WalletDatasets {
    Table,
    WalletAddr,
    DatasetId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Datasets::Table)
                    .col(pk_auto(Datasets::Id))
                    .col(string_len_uniq(Datasets::Name, 254))
                    .col(big_integer(Datasets::ReplicationQuota))
                    .col(big_integer(Datasets::DealDuration))
                    .col(big_integer(Datasets::CreatedAt))
                    .col(big_integer(Datasets::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Contents::Table)
                    .col(string_len(Contents::CommP, 128).primary_key())
                    .col(string_len(Contents::PayloadCid, 128))
                    .col(big_integer(Contents::Size))
                    .col(big_integer(Contents::PaddedSize))
                    .col(integer(Contents::DatasetId))
                    .col(big_integer(Contents::NumReplications).default(0))
                    .col(text_null(Contents::ContentLocation))
                    .col(big_integer(Contents::CreatedAt))
                    .col(big_integer(Contents::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contents_dataset")
                    .table(Contents::Table)
                    .col(Contents::DatasetId)
                    .col(Contents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Providers::Table)
                    .col(string_len(Providers::ActorId, 128).primary_key())
                    .col(string_len(Providers::ActorName, 254).default(""))
                    .col(string_len(Providers::KeyHash, 64))
                    .col(boolean(Providers::AllowSelfService).default(false))
                    .col(big_integer(Providers::CreatedAt))
                    .col(big_integer(Providers::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReplicationProfiles::Table)
                    .col(string_len(ReplicationProfiles::ProviderActorId, 128))
                    .col(integer(ReplicationProfiles::DatasetId))
                    .col(boolean(ReplicationProfiles::Unsealed))
                    .col(boolean(ReplicationProfiles::Indexed))
                    .col(big_integer(ReplicationProfiles::CreatedAt))
                    .col(big_integer(ReplicationProfiles::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ReplicationProfiles::ProviderActorId)
                            .col(ReplicationProfiles::DatasetId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Replications::Table)
                    .col(pk_auto(Replications::Id))
                    .col(string_len(Replications::ContentCommP, 128))
                    .col(integer(Replications::DatasetId))
                    .col(string_len(Replications::ProviderActorId, 128))
                    .col(big_integer(Replications::DealTime))
                    .col(big_integer_null(Replications::DeltaContentId))
                    .col(string_len(Replications::DealUuid, 128))
                    .col(big_integer(Replications::OnChainDealId).default(0))
                    .col(string_len(Replications::ProposalCid, 128))
                    .col(string_len(Replications::Status, 64))
                    .col(text(Replications::DeltaMessage).default(""))
                    .col(big_integer(Replications::StartEpoch))
                    .col(big_integer(Replications::EndEpoch))
                    .col(boolean(Replications::SsIsSelfService).default(false))
                    .col(big_integer(Replications::SsLastUpdate).default(0))
                    .col(string_len(Replications::SsStatus, 128).default(""))
                    .col(text(Replications::SsMessage).default(""))
                    .col(big_integer(Replications::CreatedAt))
                    .col(big_integer(Replications::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // The filters of GET /replications and the selection of contents for a provider.
        for (name, columns) in [
            (
                "idx_replications_provider_content",
                vec![Replications::ProviderActorId, Replications::ContentCommP],
            ),
            ("idx_replications_content", vec![Replications::ContentCommP]),
            (
                "idx_replications_status_provider",
                vec![
                    Replications::Status,
                    Replications::ProviderActorId,
                    Replications::Id,
                ],
            ),
            (
                "idx_replications_provider_time",
                vec![Replications::ProviderActorId, Replications::DealTime],
            ),
            (
                "idx_replications_dataset_self_service",
                vec![
                    Replications::DatasetId,
                    Replications::SsIsSelfService,
                    Replications::Id,
                ],
            ),
            ("idx_replications_deal_time", vec![Replications::DealTime]),
            ("idx_replications_proposal", vec![Replications::ProposalCid]),
            (
                "idx_replications_delta_content",
                vec![Replications::DeltaContentId],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Replications::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Wallets::Table)
                    .col(string_len(Wallets::Addr, 128).primary_key())
                    .col(string_len(Wallets::KeyType, 16))
                    .col(big_integer(Wallets::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WalletDatasets::Table)
                    .col(string_len(WalletDatasets::WalletAddr, 128))
                    .col(integer(WalletDatasets::DatasetId))
                    .primary_key(
                        Index::create()
                            .col(WalletDatasets::WalletAddr)
                            .col(WalletDatasets::DatasetId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WalletDatasets::Table.into_iden(),
            Wallets::Table.into_iden(),
            Replications::Table.into_iden(),
            ReplicationProfiles::Table.into_iden(),
            Providers::Table.into_iden(),
            Contents::Table.into_iden(),
            Datasets::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

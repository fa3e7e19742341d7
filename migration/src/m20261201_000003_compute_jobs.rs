//! Compute-to-data jobs: what was asked, where the job stands (the Ocean status table), who
//! runs it (a lease), and what it produced (results and logs in the blob store).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ComputeJobs {
    Table,
    Id,
    AgreementId,
    Owner,
    ChainId,
    Environment,
    DatasetDid,
    AlgorithmDid,
    Request,
    Status,
    StatusText,
    Stopreq,
    Removed,
    Results,
    Error,
    ExecutorRef,
    LeaseUntil,
    MaxDurationSecs,
    CreatedAt,
    StartedAt,
    FinishedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ComputeJobs::Table)
                    .col(string_len(ComputeJobs::Id, 64).primary_key())
                    .col(string_len(ComputeJobs::AgreementId, 80))
                    .col(string_len(ComputeJobs::Owner, 42))
                    .col(big_integer(ComputeJobs::ChainId))
                    .col(string_len(ComputeJobs::Environment, 128))
                    .col(string_len(ComputeJobs::DatasetDid, 80))
                    .col(string_len_null(ComputeJobs::AlgorithmDid, 80))
                    .col(text(ComputeJobs::Request))
                    .col(integer(ComputeJobs::Status))
                    .col(text(ComputeJobs::StatusText))
                    .col(integer(ComputeJobs::Stopreq))
                    .col(integer(ComputeJobs::Removed))
                    .col(text(ComputeJobs::Results))
                    .col(text_null(ComputeJobs::Error))
                    .col(string_len_null(ComputeJobs::ExecutorRef, 128))
                    .col(big_integer_null(ComputeJobs::LeaseUntil))
                    .col(big_integer(ComputeJobs::MaxDurationSecs))
                    .col(big_integer(ComputeJobs::CreatedAt))
                    .col(big_integer_null(ComputeJobs::StartedAt))
                    .col(big_integer_null(ComputeJobs::FinishedAt))
                    .col(big_integer(ComputeJobs::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_compute_jobs_owner")
                    .table(ComputeJobs::Table)
                    .col(ComputeJobs::Owner)
                    .col(ComputeJobs::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_compute_jobs_status")
                    .table(ComputeJobs::Table)
                    .col(ComputeJobs::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ComputeJobs::Table).to_owned())
            .await
    }
}

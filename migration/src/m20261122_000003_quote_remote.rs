//! Quotes served by a registered storage microservice: where it lives, and when wharf handed
//! the received files over to it.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Quotes {
    Table,
    RemoteUrl,
    ForwardedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Quotes::Table)
                    .add_column(ColumnDef::new(Quotes::RemoteUrl).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Quotes::Table)
                    .add_column(ColumnDef::new(Quotes::ForwardedAt).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Quotes::Table)
                    .drop_column(Quotes::ForwardedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Quotes::Table)
                    .drop_column(Quotes::RemoteUrl)
                    .to_owned(),
            )
            .await
    }
}

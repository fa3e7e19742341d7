//! Every location of a block, imports that can be told from finished ones, and the owner's
//! signature kept for a storage microservice so a lost job can be queued again.
//!
//! - `blocks` becomes `block_locations`, keyed by (cid, car_id): two CARs holding the same
//!   block both index it, so removing one never hides a block the other holds. It has an
//!   index on `car_id` (rows are deleted by CAR).
//! - `car_files.staged_at`: set while a CAR is being imported (its last progress), NULL once
//!   complete. Housekeeping removes imports whose progress stopped.
//! - `quotes.owner_signature`: the nonce and signature a storage microservice checks.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CarFiles {
    Table,
    StagedAt,
}

#[derive(DeriveIden)]
enum Quotes {
    Table,
    OwnerSignature,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE block_locations (cid VARCHAR(128) NOT NULL, car_id VARCHAR(32) NOT NULL, \
             \"offset\" BIGINT NOT NULL, length BIGINT NOT NULL, PRIMARY KEY (cid, car_id))",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO block_locations (cid, car_id, \"offset\", length) \
             SELECT cid, car_id, \"offset\", length FROM blocks",
        )
        .await?;
        db.execute_unprepared("DROP TABLE blocks").await?;
        db.execute_unprepared(
            "CREATE INDEX idx_block_locations_car_id ON block_locations (car_id)",
        )
        .await?;
        // One column per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(CarFiles::Table)
                    .add_column(ColumnDef::new(CarFiles::StagedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Quotes::Table)
                    .add_column(ColumnDef::new(Quotes::OwnerSignature).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Quotes::Table)
                    .drop_column(Quotes::OwnerSignature)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CarFiles::Table)
                    .drop_column(CarFiles::StagedAt)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Back to one location per block: the oldest CAR's.
        db.execute_unprepared(
            "CREATE TABLE blocks (cid VARCHAR(128) NOT NULL PRIMARY KEY, car_id VARCHAR(32) NOT NULL, \
             \"offset\" BIGINT NOT NULL, length BIGINT NOT NULL)",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO blocks (cid, car_id, \"offset\", length) \
             SELECT b.cid, b.car_id, b.\"offset\", b.length FROM block_locations b \
             WHERE b.car_id = (SELECT MIN(o.car_id) FROM block_locations o WHERE o.cid = b.cid)",
        )
        .await?;
        db.execute_unprepared("DROP TABLE block_locations").await?;
        Ok(())
    }
}

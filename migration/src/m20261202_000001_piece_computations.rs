//! Pieces being computed: a CAR this server stores, added to a dataset before its CommP is
//! known. A job computes the CommP from the stored CAR and turns the row into a content; a
//! row that fails keeps its reason until the CAR is added again. `car_pieces` maps a piece
//! computed this way to its CAR, which `GET /piece/{pieceCid}` serves to providers.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE piece_computations (car_id VARCHAR(32) NOT NULL PRIMARY KEY, \
             dataset_id INTEGER NOT NULL, root VARCHAR(128) NOT NULL, \
             content_location VARCHAR(2048) NULL, status VARCHAR(16) NOT NULL, error TEXT NULL, \
             attempts INTEGER NOT NULL, requested_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX idx_piece_computations_status ON piece_computations (status, updated_at)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX idx_piece_computations_dataset ON piece_computations (dataset_id)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE TABLE car_pieces (piece_cid VARCHAR(128) NOT NULL PRIMARY KEY, \
             car_id VARCHAR(32) NOT NULL)",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX idx_car_pieces_car_id ON car_pieces (car_id)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE piece_computations")
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE car_pieces")
            .await?;
        Ok(())
    }
}

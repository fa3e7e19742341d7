//! Database migrations of wharf. Each file is one timestamped step; `wharf migrate` runs them.
pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_foundation;
mod m20261122_000001_create_content;
mod m20261122_000002_create_quotes;
mod m20261122_000003_quote_remote;
mod m20261123_000001_create_datasets;
mod m20261201_000001_nothing_stranded;
mod m20261201_000002_provider_assets;
mod m20261201_000003_compute_jobs;
mod m20261201_000004_hosted_files;
mod m20261202_000001_piece_computations;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_foundation::Migration),
            Box::new(m20261122_000001_create_content::Migration),
            Box::new(m20261122_000002_create_quotes::Migration),
            Box::new(m20261122_000003_quote_remote::Migration),
            Box::new(m20261123_000001_create_datasets::Migration),
            Box::new(m20261201_000001_nothing_stranded::Migration),
            Box::new(m20261201_000002_provider_assets::Migration),
            Box::new(m20261201_000003_compute_jobs::Migration),
            Box::new(m20261201_000004_hosted_files::Migration),
            Box::new(m20261202_000001_piece_computations::Migration),
        ]
    }
}

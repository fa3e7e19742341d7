//! Piece computations: `ComputePiece` streams a stored CAR added to a dataset through CommP
//! and adds the piece (`wharf_core::filecoin::stored_cars`). A lost or dead run is queued again
//! by the reconciliation sweep.
use std::sync::Arc;

use apalis::prelude::*;
use wharf_core::{
    filecoin::stored_cars::{self, Computed},
    jobs::ComputePiece,
    services::Services,
};

use crate::register::{Handler, Run, observed};

pub fn handler() -> Handler<ComputePiece> {
    |job, services, attempt| {
        let attempt = Run::new(&attempt, &services);
        Box::pin(run(job, services, attempt))
    }
}

async fn run(
    job: ComputePiece,
    services: Data<Arc<Services>>,
    attempt: Run,
) -> Result<(), BoxDynError> {
    observed(ComputePiece::QUEUE, Some(attempt), async move {
        match stored_cars::compute(&services.db, &services.content, &job.car_id).await? {
            Computed::Added { comm_p, padded_size } => {
                tracing::info!(car = %job.car_id, piece = %comm_p, padded_size, "piece added")
            }
            Computed::Failed(reason) => {
                tracing::info!(car = %job.car_id, %reason, "piece computation ended without a piece")
            }
            Computed::Skipped => {}
        }
        Ok(())
    })
    .await
}

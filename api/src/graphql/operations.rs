//! Operator actions on the running system.
use async_graphql::{Context, Object};

use super::{error::internal, require_operator, services};

#[derive(Default)]
pub struct OperationsMutation;

/// Operator actions on the running system.
#[Object]
impl OperationsMutation {
    /// Operator: queues a housekeeping run now (it also runs on its cron schedule).
    /// Returns the id of the queued job.
    async fn run_housekeeping(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        require_operator(ctx)?;
        services(ctx)?
            .queue
            .push_housekeeping()
            .await
            .map_err(internal)
    }
}

//! Limits on subscriptions: each takes a slot on its WebSocket connection and one in the
//! process, both capped by configuration, given back when the subscription ends.
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use async_graphql::Context;

use super::{
    error::{Code, error},
    services,
};

/// Subscriptions open on one WebSocket connection (put in the connection's data).
#[derive(Default, Clone)]
pub struct ConnectionSlots(pub Arc<AtomicUsize>);

/// A subscription's place; dropping it (the subscription ended) frees the place.
pub struct Slot {
    taken: Vec<Arc<AtomicUsize>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        for counter in &self.taken {
            counter.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Takes a slot for a new subscription, or refuses it when the connection or the process has
/// as many open as allowed.
pub fn take(ctx: &Context<'_>) -> async_graphql::Result<Slot> {
    let services = services(ctx)?;
    let limits = &services.config.graphql;
    let mut slot = Slot { taken: Vec::new() };
    if let Some(connection) = ctx.data_opt::<ConnectionSlots>() {
        acquire(&connection.0, limits.max_subscriptions_per_connection).map_err(|max| {
            error(
                Code::LimitExceeded,
                format!("this connection already has {max} subscriptions open (graphql.max_subscriptions_per_connection); end one first"),
            )
        })?;
        slot.taken.push(connection.0.clone());
    }
    acquire(&services.subscriptions, limits.max_subscriptions).map_err(|max| {
        error(
            Code::LimitExceeded,
            format!("the server has {max} subscriptions open (graphql.max_subscriptions); try again later"),
        )
    })?;
    slot.taken.push(services.subscriptions.clone());
    Ok(slot)
}

fn acquire(counter: &AtomicUsize, max: usize) -> Result<(), usize> {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
            (open < max).then_some(open + 1)
        })
        .map(|_| ())
        .map_err(|_| max)
}

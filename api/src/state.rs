//! Shared state of the HTTP handlers.
use std::{ops::Deref, sync::Arc};

use metrics_exporter_prometheus::PrometheusHandle;
use wharf_core::services::Services;

use crate::graphql::Schemas;

pub struct App {
    pub services: Arc<Services>,
    pub schemas: Schemas,
    pub metrics: PrometheusHandle,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

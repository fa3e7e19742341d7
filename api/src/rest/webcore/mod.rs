//! The web-core (MetaDisk) families. The token API lives at `/accounts/token`.
pub mod schema;
pub mod token;

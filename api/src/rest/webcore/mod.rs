//! The web-core (MetaDisk) families: the token API at `/accounts/token`, file hosting at `/api`.
pub mod files;
pub mod schema;
pub mod token;

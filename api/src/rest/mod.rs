//! Legacy REST families, each wire-compatible with the service it replaces.
pub mod legacy_body;
pub mod webcore;

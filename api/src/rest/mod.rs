//! Legacy REST families, each wire-compatible with the service it replaces.
pub mod dbs;
pub mod deltadm;
pub mod legacy_body;
pub mod provider;
pub mod webcore;

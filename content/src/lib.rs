//! Content addressing for wharf, written against shared/reference/content-addressing.md:
//! UnixFS CIDs byte-identical to kubo and ipfs-unixfs-importer, CAR v1 writing and verified
//! reading, Filecoin CommP with v1 and v2 (FRC-0069) piece CIDs, and [`Ingest`], which
//! computes all of them in one streaming pass in constant memory.
pub mod car;
pub mod cids;
pub mod commp;
pub mod dagpb;
pub mod ingest;
pub mod unixfs;
pub mod varint;

pub use cid::Cid;
pub use commp::{CommP, PieceInfo};
pub use ingest::{BlockLocation, Ingest, IngestSummary};
pub use unixfs::{Block, DirectoryBuilder, FileBuilder, Profile};

//! CID construction for the codecs and hashes wharf produces.
use cid::{Cid, multihash::Multihash};
use sha2::{Digest, Sha256};

pub const RAW: u64 = 0x55;
pub const DAG_PB: u64 = 0x70;
pub const FIL_COMMITMENT_UNSEALED: u64 = 0xf101;
pub const IDENTITY: u64 = 0x00;
pub const SHA2_256: u64 = 0x12;
pub const SHA2_256_TRUNC254_PADDED: u64 = 0x1012;
pub const FR32_SHA256_TRUNC254_PADDED_BINARY_TREE: u64 = 0x1011;

/// A multihash from a code and digest of at most 64 bytes.
pub fn multihash(code: u64, digest: &[u8]) -> Multihash<64> {
    // Every digest we wrap is at most 35 bytes, far below the 64-byte capacity.
    Multihash::wrap(code, digest).unwrap_or_default()
}

pub fn sha256_multihash(data: &[u8]) -> Multihash<64> {
    multihash(SHA2_256, &Sha256::digest(data))
}

/// CIDv1 of `data` under `codec`, hashed with sha2-256.
pub fn v1_sha256(codec: u64, data: &[u8]) -> Cid {
    Cid::new_v1(codec, sha256_multihash(data))
}

/// CIDv0 (dag-pb, sha2-256) of a dag-pb block.
pub fn v0_sha256(data: &[u8]) -> Cid {
    // new_v0 only fails for a multihash that is not sha2-256 of 32 bytes.
    Cid::new_v0(sha256_multihash(data)).unwrap_or_else(|_| v1_sha256(DAG_PB, data))
}

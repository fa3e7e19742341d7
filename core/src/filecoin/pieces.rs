//! Checks of the pieces a dataset is made of: a payload root CID, a piece CID the storage
//! market accepts, and sizes that fit each other.
use wharf_content::cids::{FIL_COMMITMENT_UNSEALED, SHA2_256_TRUNC254_PADDED};

/// Payload roots wharf accepts: dag-pb, raw and dag-cbor.
const PAYLOAD_CODECS: [u64; 3] = [0x70, 0x55, 0x71];

/// A piece CID must be CIDv1 `fil-commitment-unsealed` with a 32-byte
/// `sha2-256-trunc254-padded` digest (the market's PieceCID).
pub fn check_piece_cid(text: &str) -> Result<(), String> {
    let cid = cid::Cid::try_from(text).map_err(|_| format!("{text:?} is not a CID"))?;
    if cid.version() != cid::Version::V1
        || cid.codec() != FIL_COMMITMENT_UNSEALED
        || cid.hash().code() != SHA2_256_TRUNC254_PADDED
        || cid.hash().size() != 32
    {
        return Err(format!(
            "{text} is not a v1 piece CID (fil-commitment-unsealed, sha2-256-trunc254-padded)"
        ));
    }
    Ok(())
}

pub fn check_payload_cid(text: &str) -> Result<(), String> {
    let cid = cid::Cid::try_from(text).map_err(|_| format!("{text:?} is not a CID"))?;
    if !PAYLOAD_CODECS.contains(&cid.codec()) {
        return Err(format!(
            "{text} is not a payload root (dag-pb, raw or dag-cbor)"
        ));
    }
    Ok(())
}

/// Padded size: a power of two, at least 128, and room for `size` bytes once Fr32-padded
/// (`size ≤ padded × 127/128`).
pub fn check_sizes(size: u64, padded_size: u64) -> Result<(), String> {
    if size == 0 {
        return Err("size must be positive".into());
    }
    if padded_size < 128 || !padded_size.is_power_of_two() {
        return Err(format!(
            "padded size {padded_size} is not a power of two of at least 128"
        ));
    }
    if size > padded_size - padded_size / 128 {
        return Err(format!(
            "size {size} does not fit a piece of padded size {padded_size}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIECE: &str = "baga6ea4seaqjtm4sapz4vlxur6m37griffry266er5jwrwvpoodfg7mfl33ukcy";
    const PAYLOAD: &str = "bafybeien5jzez2bsn3eluylu2mcdubnnz7bqbx6umw7ijxwl7ghauaaxjq";

    #[test]
    fn accepts_the_reference_example() {
        check_piece_cid(PIECE).unwrap();
        check_payload_cid(PAYLOAD).unwrap();
        check_sizes(24_692_724_205, 34_359_738_368).unwrap();
    }

    #[test]
    fn refuses_swapped_or_malformed_cids() {
        assert!(check_piece_cid(PAYLOAD).is_err());
        assert!(check_payload_cid(PIECE).is_err());
        assert!(check_piece_cid("baga-not-a-cid").is_err());
        assert!(check_piece_cid("").is_err());
    }

    #[test]
    fn sizes_must_fit_a_power_of_two_piece() {
        assert!(check_sizes(127, 128).is_ok());
        assert!(
            check_sizes(128, 128).is_err(),
            "more than 127/128 of the piece"
        );
        assert!(check_sizes(1, 64).is_err());
        assert!(check_sizes(100, 300).is_err());
        assert!(check_sizes(0, 128).is_err());
        assert!(check_sizes(34_359_738_368, 34_359_738_368).is_err());
    }
}

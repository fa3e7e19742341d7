//! CID parsing as the gateway does for `/ipfs/{cid}` (`Cid::try_from(&str)`) and as the CAR
//! and dag-pb readers do (`Cid::try_from(&[u8])`): never a panic, and every parsed CID must
//! survive `to_string()` / `to_bytes()` and parse back to an equal CID.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_content::Cid;

fn round_trip(cid: &Cid) {
    let text = cid.to_string();
    let from_text = Cid::try_from(text.as_str())
        .unwrap_or_else(|e| panic!("{cid:?} printed as {text:?}, which does not parse: {e}"));
    assert_eq!(&from_text, cid, "string round trip via {text:?}");

    let bytes = cid.to_bytes();
    assert_eq!(bytes.len(), cid.encoded_len());
    let from_bytes = Cid::try_from(bytes.as_slice())
        .unwrap_or_else(|e| panic!("{cid:?} encoded as {bytes:02x?}, which does not parse: {e}"));
    assert_eq!(&from_bytes, cid, "bytes round trip");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match Cid::try_from(text) {
            Ok(cid) => round_trip(&cid),
            // The gateway puts the error in its 400 response.
            Err(e) => {
                let _ = format!("{text:?} is not a valid CID: {e}");
            }
        }
    }
    match Cid::try_from(data) {
        Ok(cid) => round_trip(&cid),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

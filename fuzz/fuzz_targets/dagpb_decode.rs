//! Arbitrary bytes as a dag-pb PBNode and as a UnixFS Data message: decoding must never
//! panic, and whatever decodes must re-encode (canonically) to something that decodes to
//! the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_content::dagpb::{decode_node, decode_unixfs, encode_node};

fuzz_target!(|data: &[u8]| {
    match decode_node(data) {
        Ok(node) => {
            let encoded = encode_node(&node.links, node.data.as_deref());
            let again = decode_node(&encoded).expect("re-encoded node must decode");
            assert_eq!(again, node, "dag-pb node does not round-trip");
            for link in &node.links {
                let _ = link.cid.to_string();
            }
            if let Some(inner) = &node.data {
                // What the gateway does with a node's Data.
                if let Ok(unixfs) = decode_unixfs(inner) {
                    let _ = format!("{unixfs:?}");
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    match decode_unixfs(data) {
        Ok(unixfs) => {
            let encoded = unixfs.encode();
            let again = decode_unixfs(&encoded).expect("re-encoded UnixFS data must decode");
            assert_eq!(again, unixfs, "UnixFS data does not round-trip");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

//! Consumer signatures of Provider requests (shared/reference/ocean-provider.md §5). Each
//! endpoint signs its own message; this module is the one place that builds and checks them,
//! so another client generation (ocean.js 6+ signs `address + nonce + command`) is one more
//! table, not a rewrite.
//!
//! ocean.js v3 signs `personal_sign(keccak256(utf8(message + nonce)))` over the 32 raw hash
//! bytes; ocean-node also accepts `personal_sign` over the hash's 66-character hex string. Both
//! are accepted. Strings are hashed as received (no case normalisation).
use alloy_primitives::{Address, keccak256};

use crate::auth::signature::{self, SignatureError};

/// A signed request and the parts its message is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerRequest<'a> {
    Download {
        document_id: &'a str,
    },
    /// `transactionId` when given, else the data NFT; then the decrypter and the chain id.
    Decrypt {
        transaction_id: Option<&'a str>,
        data_nft: &'a str,
        decrypter: &'a str,
        chain_id: &'a str,
    },
    ComputeStart {
        consumer: &'a str,
        document_id: &'a str,
    },
    /// Stop and delete sign the same parts; missing ones are empty.
    ComputeStop {
        consumer: &'a str,
        job_id: &'a str,
        document_id: &'a str,
    },
    ComputeResult {
        consumer: &'a str,
        job_id: &'a str,
        index: &'a str,
    },
}

impl ConsumerRequest<'_> {
    /// The message before the nonce, as ocean.js v3 builds it.
    pub fn message(&self) -> String {
        match self {
            ConsumerRequest::Download { document_id } => (*document_id).to_string(),
            ConsumerRequest::Decrypt {
                transaction_id,
                data_nft,
                decrypter,
                chain_id,
            } => format!(
                "{}{decrypter}{chain_id}",
                transaction_id.unwrap_or(data_nft)
            ),
            ConsumerRequest::ComputeStart {
                consumer,
                document_id,
            } => format!("{consumer}{document_id}"),
            ConsumerRequest::ComputeStop {
                consumer,
                job_id,
                document_id,
            } => format!("{consumer}{job_id}{document_id}"),
            ConsumerRequest::ComputeResult {
                consumer,
                job_id,
                index,
            } => format!("{consumer}{job_id}{index}"),
        }
    }
}

/// Checks that `signer` signed `request` with `nonce_text` (the nonce exactly as received).
/// The nonce itself is checked and consumed by the caller once the request is valid.
pub fn verify(
    request: &ConsumerRequest<'_>,
    nonce_text: &str,
    signature_hex: &str,
    signer: &Address,
) -> Result<(), SignatureError> {
    let hash = keccak256(format!("{}{nonce_text}", request.message()).as_bytes());
    match signature::verify_signer(hash.as_slice(), signature_hex, signer) {
        Err(SignatureError::WrongSigner) => {
            signature::verify_signer(format!("{hash:#x}").as_bytes(), signature_hex, signer)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use alloy_signer::SignerSync;
    use alloy_signer_local::PrivateKeySigner;

    use super::*;

    #[test]
    fn messages_follow_the_reference_table() {
        let download = ConsumerRequest::Download {
            document_id: "did:op:abc",
        };
        assert_eq!(download.message(), "did:op:abc");
        let decrypt = ConsumerRequest::Decrypt {
            transaction_id: None,
            data_nft: "0xNft",
            decrypter: "0xDec",
            chain_id: "8996",
        };
        assert_eq!(decrypt.message(), "0xNft0xDec8996");
        let decrypt = ConsumerRequest::Decrypt {
            transaction_id: Some("0xTx"),
            data_nft: "0xNft",
            decrypter: "0xDec",
            chain_id: "8996",
        };
        assert_eq!(
            decrypt.message(),
            "0xTx0xDec8996",
            "one of the two, not both"
        );
        let stop = ConsumerRequest::ComputeStop {
            consumer: "0xC",
            job_id: "",
            document_id: "did:op:x",
        };
        assert_eq!(stop.message(), "0xCdid:op:x");
    }

    #[test]
    fn both_signature_forms_verify() {
        let wallet = PrivateKeySigner::random();
        let request = ConsumerRequest::Download {
            document_id: "did:op:1234",
        };
        let hash = keccak256(b"did:op:12345");
        // ocean.js v3: personal_sign over the 32 raw bytes.
        let raw = wallet.sign_message_sync(hash.as_slice()).unwrap();
        assert!(
            verify(
                &request,
                "5",
                &format!("0x{}", hex::encode(raw.as_bytes())),
                &wallet.address()
            )
            .is_ok()
        );
        // ocean-node: personal_sign over the hex string of the hash.
        let text = wallet
            .sign_message_sync(format!("{hash:#x}").as_bytes())
            .unwrap();
        let text = format!("0x{}", hex::encode(text.as_bytes()));
        assert!(verify(&request, "5", &text, &wallet.address()).is_ok());
        // Another nonce text, or another signer, fails.
        assert_eq!(
            verify(&request, "05", &text, &wallet.address()),
            Err(SignatureError::WrongSigner)
        );
        assert_eq!(
            verify(&request, "5", &text, &PrivateKeySigner::random().address()),
            Err(SignatureError::WrongSigner)
        );
    }
}

//! EIP-191 `personal_sign` recovery, the one place wharf checks a wallet signature.
use alloy_primitives::{Address, Signature};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature is not hex")]
    NotHex,
    #[error("signature must be 65 bytes")]
    WrongLength,
    #[error("signature is malformed")]
    Malformed,
    #[error("signature was made by another address")]
    WrongSigner,
}

/// Parses a 0x-prefixed (or bare) 65-byte hex signature, `v` as 0/1 or 27/28.
pub fn parse_signature(signature_hex: &str) -> Result<Signature, SignatureError> {
    let hex_part = signature_hex
        .strip_prefix("0x")
        .or_else(|| signature_hex.strip_prefix("0X"))
        .unwrap_or(signature_hex);
    if hex_part.len() != 130 {
        return Err(if hex::decode(hex_part).is_err() {
            SignatureError::NotHex
        } else {
            SignatureError::WrongLength
        });
    }
    let bytes = hex::decode(hex_part).map_err(|_| SignatureError::NotHex)?;
    Signature::from_raw(&bytes).map_err(|_| SignatureError::Malformed)
}

/// Recovers the address that `personal_sign`ed `message`.
pub fn recover_signer(message: &[u8], signature_hex: &str) -> Result<Address, SignatureError> {
    let signature = parse_signature(signature_hex)?;
    signature
        .recover_address_from_msg(message)
        .map_err(|_| SignatureError::Malformed)
}

/// Checks that `expected` `personal_sign`ed `message`.
pub fn verify_signer(
    message: &[u8],
    signature_hex: &str,
    expected: &Address,
) -> Result<(), SignatureError> {
    if recover_signer(message, signature_hex)? == *expected {
        Ok(())
    } else {
        Err(SignatureError::WrongSigner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_signer::SignerSync;
    use alloy_signer_local::PrivateKeySigner;

    fn sign(signer: &PrivateKeySigner, message: &[u8]) -> String {
        let signature = signer.sign_message_sync(message).unwrap();
        format!("0x{}", hex::encode(signature.as_bytes()))
    }

    #[test]
    fn recovers_the_signer_of_a_personal_sign() {
        let signer = PrivateKeySigner::random();
        let sig = sign(&signer, b"hello wharf");
        assert_eq!(
            recover_signer(b"hello wharf", &sig).unwrap(),
            signer.address()
        );
        verify_signer(b"hello wharf", &sig, &signer.address()).unwrap();
    }

    #[test]
    fn another_message_or_signer_is_rejected() {
        let signer = PrivateKeySigner::random();
        let other = PrivateKeySigner::random();
        let sig = sign(&signer, b"hello wharf");
        assert_eq!(
            verify_signer(b"hello wharf", &sig, &other.address()),
            Err(SignatureError::WrongSigner)
        );
        assert_eq!(
            verify_signer(b"hello wharF", &sig, &signer.address()),
            Err(SignatureError::WrongSigner)
        );
    }

    #[test]
    fn malformed_signatures_are_typed_errors() {
        let a = Address::ZERO;
        assert_eq!(verify_signer(b"m", "0xzz", &a), Err(SignatureError::NotHex));
        assert_eq!(
            verify_signer(b"m", "0x1234", &a),
            Err(SignatureError::WrongLength)
        );
        let bad_v = format!("0x{}{}", "11".repeat(64), "05");
        assert_eq!(
            verify_signer(b"m", &bad_v, &a),
            Err(SignatureError::Malformed)
        );
        let zero = format!("0x{}", "00".repeat(65));
        assert_eq!(
            verify_signer(b"m", &zero, &a),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn v_may_be_27_28_or_0_1() {
        let signer = PrivateKeySigner::random();
        let signature = signer.sign_message_sync(b"v").unwrap();
        let mut raw = signature.as_bytes();
        raw[64] -= 27;
        let sig = format!("0x{}", hex::encode(raw));
        assert_eq!(recover_signer(b"v", &sig).unwrap(), signer.address());
    }
}

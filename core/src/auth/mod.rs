//! Who is calling: wallet signatures (EIP-191), per-address nonces, Sign-In with Ethereum
//! sessions, and the operator key.
pub mod nonce;
pub mod signature;
pub mod signed;
pub mod siwe;

pub use alloy_primitives::Address;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The caller of an authenticated operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Holds the operator API key.
    Operator,
    /// A wallet that signed in.
    Wallet(Address),
}

/// Compares a presented secret with the configured one in constant time. Both are hashed
/// first so that neither the content nor the length leaks through timing.
pub fn secret_matches(configured: &str, presented: &str) -> bool {
    let a = Sha256::digest(configured.as_bytes());
    let b = Sha256::digest(presented.as_bytes());
    a.ct_eq(&b).into()
}

/// The canonical text form of an address in our tables: lower-case 0x hex.
pub fn address_key(address: &Address) -> String {
    format!("{address:#x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_content() {
        assert!(secret_matches("abc", "abc"));
        assert!(!secret_matches("abc", "abd"));
        assert!(!secret_matches("abc", "abcd"));
        assert!(!secret_matches("abc", ""));
    }
}

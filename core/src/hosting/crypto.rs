//! web-core's convergent encryption (shared/reference/webcore.md §6): the key is derived from
//! the plaintext's SHA-256 and a passphrase, so equal files give equal ciphertexts (and equal
//! file hashes) whoever uploads them.
use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The passphrase web-core encrypts with when none is given.
pub const DEFAULT_PASSPHRASE: &str = "Something old, something new.";

/// A file's 32-byte AES-256 key.
pub type FileKey = [u8; 32];

/// HMAC-SHA256 keyed with the passphrase over the *hex text* of the plaintext's SHA-256.
pub fn derive_key(passphrase: &str, plaintext_sha256: &[u8; 32]) -> FileKey {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(passphrase.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(hex::encode(plaintext_sha256).as_bytes());
    mac.finalize().into_bytes().into()
}

/// What wharf keeps to recognise a key without keeping the key: SHA-256 of it, in hex.
pub fn key_fingerprint(key: &FileKey) -> String {
    hex::encode(Sha256::digest(key))
}

/// Parses a key as web-core hands it out (64 hex characters, either case).
pub fn parse_key(text: &str) -> Option<FileKey> {
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

/// AES-256-CTR with a 128-bit big-endian counter starting at 1 and no IV prefix, one
/// continuous keystream over the whole file. Encrypting and decrypting are the same.
pub struct Keystream(ctr::Ctr128BE<Aes256>);

impl Keystream {
    pub fn new(key: &FileKey) -> Self {
        let counter = 1u128.to_be_bytes();
        Self(ctr::Ctr128BE::<Aes256>::new(key.into(), &counter.into()))
    }

    /// XORs the next `data.len()` bytes of keystream into `data`.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt(plaintext: &[u8], passphrase: &str) -> (FileKey, Vec<u8>) {
        let key = derive_key(passphrase, &Sha256::digest(plaintext).into());
        let mut data = plaintext.to_vec();
        Keystream::new(&key).apply(&mut data);
        (key, data)
    }

    /// The vectors of webcore.md §6.
    #[test]
    fn reference_vectors() {
        let cases = [
            (
                "Superstar!\n",
                DEFAULT_PASSPHRASE,
                "0372c3a52ffa439556db30e6a2a6cd7bae4fb498bd58996919a61bdac831fe3f",
                "e5d264b13e3ad6eac183f2",
                "c508708d7a8a0db90e92f15510ee3ef488bd67a8e6982489e0d27bd0bcaf7741",
            ),
            (
                "Frowny face :(\n",
                DEFAULT_PASSPHRASE,
                "178a1b90e76647da07dc23b19013ff56c88e7c48942fb6a28e653915effefd5f",
                "e9bfa246a868ea0aaf2f1ce5c57369",
                "041ea8cac843ed2e489a5f6cf2bf4e17312bbe8fa27100a713a4bf52a31b8c4e",
            ),
            (
                "Superstar!\n",
                "potato",
                "cd23ef81ad9d73edba10c6660bcd4fef2fdd1b927ac9563cc7960be3f9a4b5f7",
                "a4588f357495b262e08e57",
                "07a04b96e096dbfb891db0d2edab835b0298bf287603043e0f702e636016f519",
            ),
        ];
        for (plaintext, passphrase, key, ciphertext, filehash) in cases {
            let (k, c) = encrypt(plaintext.as_bytes(), passphrase);
            assert_eq!(hex::encode(k), key, "key of {plaintext:?}");
            assert_eq!(hex::encode(&c), ciphertext, "ciphertext of {plaintext:?}");
            assert_eq!(hex::encode(Sha256::digest(&c)), filehash);
        }
    }

    /// The keystream continues across calls of any size, as over a streamed file.
    #[test]
    fn chunked_equals_whole_and_decrypts() {
        let plaintext: Vec<u8> = (0..100_003u32).map(|i| (i * 7 % 251) as u8).collect();
        let (key, whole) = encrypt(&plaintext, DEFAULT_PASSPHRASE);
        let mut chunked = plaintext.clone();
        let mut stream = Keystream::new(&key);
        let mut at = 0;
        for size in [1usize, 15, 16, 17, 4096, 16384].iter().cycle() {
            if at >= chunked.len() {
                break;
            }
            let end = (at + size).min(chunked.len());
            stream.apply(&mut chunked[at..end]);
            at = end;
        }
        assert_eq!(chunked, whole);
        let mut back = whole;
        Keystream::new(&key).apply(&mut back);
        assert_eq!(back, plaintext);
    }

    #[test]
    fn keys_parse_from_hex_only_at_full_length() {
        let key = [0xabu8; 32];
        assert_eq!(parse_key(&hex::encode(key)), Some(key));
        assert_eq!(parse_key(&hex::encode(key).to_uppercase()), Some(key));
        assert_eq!(parse_key("abcd"), None);
        assert_eq!(parse_key(&"zz".repeat(32)), None);
    }
}

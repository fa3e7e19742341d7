//! ECIES as the Ocean Provider's eciespy 0.3 (and eciesjs 0.4 by default) lay it out
//! (shared/reference/ocean-provider.md §7): a fresh ephemeral secp256k1 key; the shared point
//! `receiver × ephemeral`; the AES key = HKDF-SHA256 over `ephemeral public (65 bytes,
//! uncompressed) ‖ shared point (65 bytes, uncompressed)`, no salt, no info, 32 bytes; then
//! AES-256-GCM with a 16-byte nonce. On the wire: `ephemeral(65) ‖ nonce(16) ‖ tag(16) ‖
//! ciphertext`.
// aes-gcm 0.10 takes generic-array 0.14 arrays, which that crate now marks deprecated.
#![allow(deprecated)]
use aes_gcm::{
    AesGcm, KeyInit,
    aead::{AeadInPlace, generic_array::GenericArray},
    aes::Aes256,
};
use k256::{
    PublicKey, SecretKey,
    elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint},
};
use rand::RngCore;

type Cipher = AesGcm<Aes256, aes_gcm::aead::consts::U16>;

const PUBLIC_LEN: usize = 65;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EciesError {
    #[error("the ciphertext is too short")]
    TooShort,
    #[error("the ciphertext does not start with a valid public key")]
    BadPublicKey,
    #[error("the ciphertext does not decrypt with this key")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}

fn uncompressed(key: &PublicKey) -> Vec<u8> {
    key.to_encoded_point(false).as_bytes().to_vec()
}

/// The AES key both sides derive from the ephemeral public key and the shared point.
fn derive_key(ephemeral_public: &[u8], shared: &PublicKey) -> [u8; 32] {
    let mut master = Vec::with_capacity(PUBLIC_LEN * 2);
    master.extend_from_slice(ephemeral_public);
    master.extend_from_slice(&uncompressed(shared));
    let mut key = [0u8; 32];
    // 32 bytes from HKDF-SHA256 cannot be too long: the expand only fails past 255 × 32.
    let _ = hkdf::Hkdf::<sha2::Sha256>::new(None, &master).expand(&[], &mut key);
    key
}

/// `secret × point` as a public key (the ECDH shared point, kept whole). Never the point at
/// infinity for a valid key and point; refused if it were.
fn multiply(point: &PublicKey, secret: &SecretKey) -> Result<PublicKey, EciesError> {
    let product = (point.to_projective() * *secret.to_nonzero_scalar()).into();
    PublicKey::from_affine(product).map_err(|_| EciesError::BadPublicKey)
}

/// Encrypts `plaintext` to `receiver`.
pub fn encrypt(receiver: &PublicKey, plaintext: &[u8]) -> Result<Vec<u8>, EciesError> {
    let ephemeral = SecretKey::random(&mut rand::rngs::OsRng);
    let ephemeral_public = uncompressed(&ephemeral.public_key());
    let shared = multiply(receiver, &ephemeral)?;
    let key = derive_key(&ephemeral_public, &shared);
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher = Cipher::new(GenericArray::from_slice(&key));
    let mut body = plaintext.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &[], &mut body)
        .map_err(|_| EciesError::Encrypt)?;
    let mut out = Vec::with_capacity(PUBLIC_LEN + NONCE_LEN + TAG_LEN + body.len());
    out.extend_from_slice(&ephemeral_public);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts what [`encrypt`] (or eciespy / eciesjs) made for `receiver`'s key.
pub fn decrypt(receiver: &SecretKey, ciphertext: &[u8]) -> Result<Vec<u8>, EciesError> {
    if ciphertext.len() < PUBLIC_LEN + NONCE_LEN + TAG_LEN {
        return Err(EciesError::TooShort);
    }
    let (ephemeral_public, rest) = ciphertext.split_at(PUBLIC_LEN);
    let (nonce, rest) = rest.split_at(NONCE_LEN);
    let (tag, body) = rest.split_at(TAG_LEN);
    let point =
        k256::EncodedPoint::from_bytes(ephemeral_public).map_err(|_| EciesError::BadPublicKey)?;
    let ephemeral: PublicKey =
        Option::from(PublicKey::from_encoded_point(&point)).ok_or(EciesError::BadPublicKey)?;
    let shared = multiply(&ephemeral, receiver)?;
    let key = derive_key(ephemeral_public, &shared);
    let cipher = Cipher::new(GenericArray::from_slice(&key));
    let mut plain = body.to_vec();
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            &[],
            &mut plain,
            GenericArray::from_slice(tag),
        )
        .map_err(|_| EciesError::Decrypt)?;
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex_key: &str) -> SecretKey {
        SecretKey::from_slice(&hex::decode(hex_key).unwrap()).unwrap()
    }

    #[test]
    fn round_trips_and_refuses_other_keys_and_tampering() {
        let receiver = key("4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d");
        let other = key("6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1");
        for message in [&b""[..], b"x", b"{\"files\":[]}", &[7u8; 100_000]] {
            let sealed = encrypt(&receiver.public_key(), message).unwrap();
            assert_eq!(sealed.len(), 65 + 16 + 16 + message.len());
            assert_eq!(sealed[0], 4, "an uncompressed ephemeral key first");
            assert_eq!(decrypt(&receiver, &sealed).unwrap(), message);
            assert_eq!(decrypt(&other, &sealed), Err(EciesError::Decrypt));
            let mut tampered = sealed.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert_eq!(decrypt(&receiver, &tampered), Err(EciesError::Decrypt));
        }
        assert_eq!(decrypt(&receiver, &[4u8; 40]), Err(EciesError::TooShort));
    }
}

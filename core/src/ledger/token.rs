//! Access tokens as the legacy accounts service made them: 12 random bytes read as a
//! big-endian integer, written as 16 base-62 digits, least significant first.
use rand::RngCore;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const TOKEN_LEN: usize = 16;

pub fn generate() -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    encode(&bytes)
}

pub fn encode(bytes: &[u8; 12]) -> String {
    let mut value = bytes
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    let mut out = String::with_capacity(TOKEN_LEN);
    for _ in 0..TOKEN_LEN {
        out.push(char::from(ALPHABET[(value % 62) as usize]));
        value /= 62;
    }
    out
}

/// Whether `token` can name an account: tokens of another accounts service (an older
/// database migrated here) are taken as they are — 1 to 128 visible ASCII characters.
pub fn is_acceptable(token: &str) -> bool {
    (1..=128).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether `token` has the shape of an access token (16 characters of the base-62 alphabet).
pub fn is_well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_legacy_generator_vector() {
        assert_eq!(encode(&[b'f'; 12]), "oiFyR2NcMvaSiNDf");
    }

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(is_well_formed(&a) && is_well_formed(&b));
        assert_ne!(a, b);
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed("oiFyR2NcMvaSiND/"));
    }
}

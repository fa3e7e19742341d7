//! Wallets for tests: real secp256k1 keys and EIP-191 signatures made with alloy, exactly as a
//! browser wallet would produce them.
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;

pub struct Wallet {
    pub signer: PrivateKeySigner,
}

impl Default for Wallet {
    fn default() -> Self {
        Self::new()
    }
}

impl Wallet {
    pub fn new() -> Self {
        Self {
            signer: PrivateKeySigner::random(),
        }
    }

    pub fn address(&self) -> alloy_primitives::Address {
        self.signer.address()
    }

    /// Lower-case 0x address.
    pub fn address_hex(&self) -> String {
        format!("{:#x}", self.signer.address())
    }

    /// `personal_sign` of `message`, as 0x-hex.
    pub fn personal_sign(&self, message: &[u8]) -> String {
        let signature = self
            .signer
            .sign_message_sync(message)
            .expect("signing with a local key");
        format!("0x{}", hex::encode(signature.as_bytes()))
    }

    /// An EIP-4361 message for `domain` with `nonce`, valid for an hour.
    pub fn siwe_message(&self, domain: &str, nonce: &str) -> String {
        let issued = chrono::Utc::now();
        let expires = issued + chrono::Duration::hours(1);
        format!(
            "{domain} wants you to sign in with your Ethereum account:\n{address}\n\nSign in to wharf\n\nURI: http://{domain}\nVersion: 1\nChain ID: 1\nNonce: {nonce}\nIssued At: {issued}\nExpiration Time: {expires}",
            address = self.signer.address().to_checksum(None),
            issued = issued.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            expires = expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
    }
}

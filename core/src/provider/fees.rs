//! Provider fees (shared/reference/ocean-provider.md §6): what a consumer passes to the
//! datatoken's `startOrder`, signed by the provider so the contract (and later wharf's order
//! check) can tell it was ours.
//!
//! `providerData` is compact JSON `{"environment", "timestamp", "dt", "id"}`; the signed hash is
//! `keccak256(abi.encodePacked(bytes providerData, address feeAddress, address feeToken,
//! uint256 amount, uint256 validUntil))`, signed as an EIP-191 message of those 32 bytes.
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};

/// A signed provider fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFee {
    pub address: Address,
    pub token: Address,
    pub amount: U256,
    /// The UTF-8 JSON bytes of `providerData`.
    pub data: Vec<u8>,
    pub v: u8,
    pub r: B256,
    pub s: B256,
    pub valid_until: u64,
}

/// What a fee is for: the service of a datatoken, and for compute the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct FeeFor<'a> {
    pub datatoken: &'a Address,
    pub service_id: &'a str,
    pub environment: Option<&'a str>,
    /// UTC seconds, with a fraction as upstream wrote it.
    pub timestamp: f64,
}

/// The compact `providerData` JSON, keys in upstream's order.
pub fn provider_data(fee_for: &FeeFor<'_>) -> Vec<u8> {
    let environment = match fee_for.environment {
        Some(e) => Value::String(e.to_string()),
        None => Value::Null,
    };
    // serde_json keeps keys sorted; write the object by hand to keep upstream's order.
    format!(
        "{{\"environment\":{},\"timestamp\":{},\"dt\":{},\"id\":{}}}",
        environment,
        json!(fee_for.timestamp),
        json!(fee_for.datatoken.to_checksum(None)),
        json!(fee_for.service_id),
    )
    .into_bytes()
}

/// The hash the provider signs and the contract recomputes.
pub fn fee_hash(
    data: &[u8],
    address: &Address,
    token: &Address,
    amount: &U256,
    valid_until: u64,
) -> B256 {
    let mut packed = Vec::with_capacity(data.len() + 20 + 20 + 32 + 32);
    packed.extend_from_slice(data);
    packed.extend_from_slice(address.as_slice());
    packed.extend_from_slice(token.as_slice());
    packed.extend_from_slice(&amount.to_be_bytes::<32>());
    packed.extend_from_slice(&U256::from(valid_until).to_be_bytes::<32>());
    keccak256(&packed)
}

#[derive(Debug, thiserror::Error)]
#[error("signing the provider fee failed: {0}")]
pub struct FeeError(String);

/// Signs a fee of `amount` of `token` valid until `valid_until` (0: no limit).
pub fn sign(
    signer: &PrivateKeySigner,
    fee_for: &FeeFor<'_>,
    token: Address,
    amount: U256,
    valid_until: u64,
) -> Result<ProviderFee, FeeError> {
    let data = provider_data(fee_for);
    let address = signer.address();
    let hash = fee_hash(&data, &address, &token, &amount, valid_until);
    let signature = signer
        .sign_message_sync(hash.as_slice())
        .map_err(|e| FeeError(e.to_string()))?;
    Ok(ProviderFee {
        address,
        token,
        amount,
        data,
        v: 27 + u8::from(signature.v()),
        r: signature.r().into(),
        s: signature.s().into(),
        valid_until,
    })
}

impl ProviderFee {
    /// The wire object of initialize / initializeCompute.
    pub fn to_json(&self) -> Value {
        json!({
            "providerFeeAddress": self.address.to_checksum(None),
            "providerFeeToken": self.token.to_checksum(None),
            "providerFeeAmount": self.amount.to_string(),
            "providerData": format!("0x{}", hex::encode(&self.data)),
            "v": self.v,
            "r": format!("{:#x}", self.r),
            "s": format!("{:#x}", self.s),
            "validUntil": self.valid_until,
        })
    }

    /// Whether `signer` made this fee (the order check on events read back from chain).
    pub fn signed_by(&self, signer: &Address) -> bool {
        let hash = fee_hash(
            &self.data,
            &self.address,
            &self.token,
            &self.amount,
            self.valid_until,
        );
        let parity = self.v.wrapping_sub(27);
        if parity > 1 {
            return false;
        }
        let signature = alloy_primitives::Signature::new(
            U256::from_be_bytes(self.r.0),
            U256::from_be_bytes(self.s.0),
            parity == 1,
        );
        signature
            .recover_address_from_msg(hash.as_slice())
            .is_ok_and(|a| a == *signer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_data_keeps_upstreams_key_order_and_signs_verifiably() {
        let signer: PrivateKeySigner =
            "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d"
                .parse()
                .unwrap();
        let datatoken = Address::repeat_byte(0xab);
        let fee_for = FeeFor {
            datatoken: &datatoken,
            service_id: "svc-1",
            environment: None,
            timestamp: 1_700_000_000.5,
        };
        let data = String::from_utf8(provider_data(&fee_for)).unwrap();
        assert_eq!(
            data,
            format!(
                "{{\"environment\":null,\"timestamp\":1700000000.5,\"dt\":\"{}\",\"id\":\"svc-1\"}}",
                datatoken.to_checksum(None)
            )
        );
        let fee = sign(&signer, &fee_for, Address::ZERO, U256::ZERO, 0).unwrap();
        assert!(fee.v == 27 || fee.v == 28);
        assert!(fee.signed_by(&signer.address()));
        assert!(!fee.signed_by(&Address::repeat_byte(1)));
        let mut forged = fee.clone();
        forged.amount = U256::from(1);
        assert!(!forged.signed_by(&signer.address()), "the amount is signed");
        let wire = fee.to_json();
        assert_eq!(wire["providerFeeAmount"], "0");
        assert!(wire["providerData"].as_str().unwrap().starts_with("0x7b22"));
    }
}

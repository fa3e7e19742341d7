//! Checking an order on chain (shared/reference/ocean-provider.md §8.1): the consumer's
//! `startOrder` (or `reuseOrder`) transaction must be mined, carry a provider fee this provider
//! signed for the service, and start an order for the service by the consumer that is still
//! within the service's timeout. A transaction the node does not know is refused at once
//! (upstream waited 120 s on it, holding its only worker).
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use alloy_provider::Provider;
use alloy_rpc_types_eth::{TransactionReceipt, TransactionRequest};
use alloy_sol_types::{SolCall, SolEvent};

use super::{
    assets::{Asset, Service},
    fees::ProviderFee,
};
use crate::config::ChainConfig;

mod abi {
    alloy_sol_types::sol! {
    event OrderStarted(address indexed consumer, address payer, uint256 amount, uint256 serviceIndex, uint256 timestamp, address indexed publishMarketAddress, uint256 blockNumber);
    event OrderReused(bytes32 orderTxId, address caller, uint256 timestamp, uint256 number);
    event ProviderFee(address indexed providerFeeAddress, address indexed providerFeeToken, uint256 providerFeeAmount, bytes providerData, uint8 v, bytes32 r, bytes32 s, uint256 validUntil);
    function isDeployed(address datatoken) external view returns (bool);
    function getMetaData() external view returns (string, string, uint8, bool);
    function erc721List(address nft) external view returns (address);
    function decimals() external view returns (uint8);
    function ownerOf(uint256 tokenId) external view returns (address);
    }
}
use abi::{
    OrderReused, OrderStarted, decimalsCall, erc721ListCall, getMetaDataCall, isDeployedCall,
    ownerOfCall,
};

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("the datatoken {0} was not deployed by the asset's data NFT")]
    NotDeployed(Address),
    #[error("transaction {0} was not found on chain")]
    UnknownTransaction(B256),
    #[error("transaction {0} failed")]
    Reverted(B256),
    #[error("no provider fee of this provider for service {0} in the transaction")]
    NoProviderFee(String),
    #[error("no OrderStarted event for this datatoken in the transaction")]
    NoOrder,
    #[error("the order is for service index {ordered}, not {expected}")]
    WrongService { ordered: u64, expected: usize },
    #[error("the order paid less than one datatoken")]
    Underpaid,
    #[error("The order has expired. ")]
    Expired,
    #[error("the order was placed by {0}, not the consumer")]
    OtherConsumer(Address),
    #[error("Ordered c2d time was exceeded, check validUntil.")]
    FeeExpired,
    #[error("Mismatch between ordered c2d environment and selected one.")]
    WrongEnvironment,
    #[error("chain {0} does not answer: {1}")]
    Rpc(u64, String),
}

/// What a valid order is.
#[derive(Debug, Clone)]
pub struct ValidOrder {
    /// The transaction that started the order (the reused one for a reuse).
    pub started_by: B256,
    pub consumer: Address,
    /// Unix seconds the order (or its reuse) happened.
    pub timestamp: u64,
    pub provider_fee: ProviderFee,
}

/// What the order must match.
pub struct Expected<'a> {
    pub asset: &'a Asset,
    pub service_index: usize,
    pub service: &'a Service,
    pub consumer: Address,
    pub provider: Address,
    /// For compute: the environment the fee was for, and whether a fee past its `validUntil`
    /// is still good (initializeCompute reuse checks).
    pub environment: Option<&'a str>,
    pub allow_expired_fee: bool,
}

/// Reads a chain through its configured RPC.
pub struct ChainReader {
    chain_id: u64,
    provider: alloy_provider::RootProvider,
}

/// How long one RPC call may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

impl ChainReader {
    pub fn new(chain: &ChainConfig) -> Result<Self, OrderError> {
        let url = chain
            .rpc_url
            .parse()
            .map_err(|_| OrderError::Rpc(chain.chain_id, "bad rpc_url".into()))?;
        Ok(Self {
            chain_id: chain.chain_id,
            provider: alloy_provider::RootProvider::new_http(url),
        })
    }

    fn rpc(&self, e: impl std::fmt::Display) -> OrderError {
        OrderError::Rpc(self.chain_id, e.to_string())
    }

    async fn call(
        &self,
        to: Address,
        data: Vec<u8>,
    ) -> Result<alloy_primitives::Bytes, OrderError> {
        let request = TransactionRequest::default()
            .to(to)
            .input(alloy_primitives::Bytes::from(data).into());
        tokio::time::timeout(RPC_TIMEOUT, self.provider.call(request))
            .await
            .map_err(|_| self.rpc("timed out"))?
            .map_err(|e| self.rpc(e))
    }

    /// Whether `nft` deployed `datatoken`.
    pub async fn is_deployed(&self, nft: Address, datatoken: Address) -> Result<bool, OrderError> {
        let out = self
            .call(nft, isDeployedCall { datatoken }.abi_encode())
            .await?;
        Ok(isDeployedCall::abi_decode_returns(&out).unwrap_or(false))
    }

    /// The metadata state of a data NFT (0 active, 1 end of life, 2 deprecated, 3 revoked,
    /// 4 temporarily disabled, 5 unlisted).
    pub async fn metadata_state(&self, nft: Address) -> Result<u8, OrderError> {
        let out = self.call(nft, getMetaDataCall {}.abi_encode()).await?;
        getMetaDataCall::abi_decode_returns(&out)
            .map(|r| r._2)
            .map_err(|e| self.rpc(format!("getMetaData: {e}")))
    }

    /// Whether the factory created `nft`.
    pub async fn factory_made(&self, factory: Address, nft: Address) -> Result<bool, OrderError> {
        let out = self
            .call(factory, erc721ListCall { nft }.abi_encode())
            .await?;
        Ok(erc721ListCall::abi_decode_returns(&out).is_ok_and(|a| a == nft))
    }

    /// The decimals of an ERC20 token.
    pub async fn decimals(&self, token: Address) -> Result<u8, OrderError> {
        let out = self.call(token, decimalsCall {}.abi_encode()).await?;
        decimalsCall::abi_decode_returns(&out).map_err(|e| self.rpc(format!("decimals: {e}")))
    }

    /// The owner of a data NFT (its publisher): the holder of token 1, which the template
    /// mints to the owner it is created for.
    pub async fn nft_owner(&self, nft: Address) -> Result<Address, OrderError> {
        let out = self
            .call(
                nft,
                ownerOfCall {
                    tokenId: U256::from(1u8),
                }
                .abi_encode(),
            )
            .await?;
        ownerOfCall::abi_decode_returns(&out).map_err(|e| self.rpc(format!("ownerOf: {e}")))
    }

    pub async fn receipt(&self, tx: B256) -> Result<TransactionReceipt, OrderError> {
        tokio::time::timeout(RPC_TIMEOUT, self.provider.get_transaction_receipt(tx))
            .await
            .map_err(|_| self.rpc("timed out"))?
            .map_err(|e| self.rpc(e))?
            .ok_or(OrderError::UnknownTransaction(tx))
    }

    /// Checks the order of `tx` against `expected`.
    pub async fn validate_order(
        &self,
        tx: B256,
        expected: &Expected<'_>,
    ) -> Result<ValidOrder, OrderError> {
        let datatoken = expected
            .service
            .datatoken()
            .ok_or(OrderError::NotDeployed(Address::ZERO))?;
        if !self
            .is_deployed(expected.asset.nft_address, datatoken)
            .await?
        {
            return Err(OrderError::NotDeployed(datatoken));
        }
        let receipt = self.receipt(tx).await?;
        if !receipt.status() {
            return Err(OrderError::Reverted(tx));
        }
        let logs: Vec<_> = receipt
            .inner
            .logs()
            .iter()
            .filter(|l| l.address() == datatoken)
            .collect();
        let fee = logs
            .iter()
            .filter_map(|l| abi::ProviderFee::decode_log(&l.inner).ok().map(|l| l.data))
            .map(|e| ProviderFee {
                address: e.providerFeeAddress,
                token: e.providerFeeToken,
                amount: e.providerFeeAmount,
                data: e.providerData.to_vec(),
                v: e.v,
                r: e.r,
                s: e.s,
                valid_until: u64::try_from(e.validUntil).unwrap_or(u64::MAX),
            })
            .find(|fee| {
                let data: serde_json::Value = serde_json::from_slice(&fee.data).unwrap_or_default();
                let dt = data["dt"].as_str().unwrap_or_default();
                dt.eq_ignore_ascii_case(&datatoken.to_checksum(None))
                    && data["id"] == expected.service.id.as_str()
            })
            .ok_or_else(|| OrderError::NoProviderFee(expected.service.id.clone()))?;
        if fee.address != expected.provider || !fee.signed_by(&expected.provider) {
            return Err(OrderError::NoProviderFee(expected.service.id.clone()));
        }
        let data: serde_json::Value = serde_json::from_slice(&fee.data).unwrap_or_default();
        if let Some(environment) = expected.environment {
            if data["environment"].as_str() != Some(environment) {
                return Err(OrderError::WrongEnvironment);
            }
            if fee.valid_until > 0 && !expected.allow_expired_fee {
                let now = crate::time::now_ms() as u64 / 1000;
                if now > fee.valid_until {
                    return Err(OrderError::FeeExpired);
                }
            }
        }
        // A reuse points at the order it reuses; its time counts for the timeout.
        let reused = logs
            .iter()
            .find_map(|l| OrderReused::decode_log(&l.inner).ok().map(|l| l.data));
        let (started_by, order_logs, reuse_time) = match reused {
            Some(reuse) => {
                let original = self.receipt(reuse.orderTxId).await?;
                let logs: Vec<_> = original
                    .inner
                    .logs()
                    .iter()
                    .filter(|l| l.address() == datatoken)
                    .cloned()
                    .collect();
                (reuse.orderTxId, logs, Some(reuse.timestamp))
            }
            None => (tx, logs.into_iter().cloned().collect(), None),
        };
        let started = order_logs
            .iter()
            .find_map(|l| OrderStarted::decode_log(&l.inner).ok().map(|l| l.data))
            .ok_or(OrderError::NoOrder)?;
        let ordered_index = u64::try_from(started.serviceIndex).unwrap_or(u64::MAX);
        if ordered_index != expected.service_index as u64 {
            return Err(OrderError::WrongService {
                ordered: ordered_index,
                expected: expected.service_index,
            });
        }
        if started.amount < U256::from(10u64).pow(U256::from(18u8)) {
            return Err(OrderError::Underpaid);
        }
        let timestamp = u64::try_from(reuse_time.unwrap_or(started.timestamp)).unwrap_or(0);
        let now = crate::time::now_ms() as u64 / 1000;
        if expected.service.timeout != 0 && now.saturating_sub(timestamp) > expected.service.timeout
        {
            return Err(OrderError::Expired);
        }
        if expected.consumer != started.consumer && expected.consumer != started.payer {
            return Err(OrderError::OtherConsumer(started.consumer));
        }
        Ok(ValidOrder {
            started_by,
            consumer: started.consumer,
            timestamp,
            provider_fee: fee,
        })
    }
}

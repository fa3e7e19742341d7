//! The Ocean Provider's assets over GraphQL: resolve a DID, the provider fee of a download
//! service, and (operator) publishing a DDO to wharf's own registry.
use std::str::FromStr;

use async_graphql::{Context, Object, SimpleObject};
use wharf_core::{
    auth::{Address, Principal},
    provider::{
        ProviderError,
        assets::{Asset, AssetError},
    },
};

use super::{
    caller,
    error::{Code, bad_input, error, internal},
    require_operator,
    scalars::{ChainId, Long},
    services,
};

/// A service of an asset: one way to order it.
#[derive(SimpleObject)]
pub struct AssetService {
    /// The service's id within the DDO; pass it as `serviceId`.
    id: String,
    /// `access` (download) or `compute`.
    #[graphql(name = "type")]
    kind: String,
    /// The 0x address of the datatoken an order of this service spends, as the DDO gives it.
    datatoken_address: String,
    /// Seconds an order stays valid (0: for ever).
    timeout: Long,
}

/// An Ocean asset (its DDO).
#[derive(SimpleObject)]
#[graphql(name = "Asset")]
pub struct AssetObject {
    /// The asset's DID, `did:op:…`.
    did: String,
    /// The chain its data NFT lives on.
    chain_id: ChainId,
    /// The 0x address of its data NFT, checksummed (EIP-55).
    nft_address: String,
    /// `dataset` or `algorithm`.
    #[graphql(name = "type")]
    kind: String,
    /// The ways to order the asset.
    services: Vec<AssetService>,
    /// The whole DDO, as JSON text.
    document: String,
}

impl From<Asset> for AssetObject {
    fn from(a: Asset) -> Self {
        Self {
            did: a.did,
            chain_id: a.chain_id.into(),
            nft_address: a.nft_address.to_checksum(None),
            kind: a.kind,
            services: a
                .services
                .into_iter()
                .map(|s| AssetService {
                    id: s.id,
                    kind: s.kind,
                    datatoken_address: s.datatoken_address,
                    timeout: s.timeout.into(),
                })
                .collect(),
            document: a.document.to_string(),
        }
    }
}

/// A provider fee to pass, field for field, to the datatoken's `startOrder`.
#[derive(SimpleObject)]
pub struct ProviderFeeObject {
    /// The 0x address the fee is paid to, checksummed.
    provider_fee_address: String,
    /// The 0x address of the ERC-20 token the fee is paid in, checksummed.
    provider_fee_token: String,
    /// The fee, as a decimal string in the token's smallest unit (it may pass 2^53).
    provider_fee_amount: String,
    /// `0x` hex of the JSON the provider signed.
    provider_data: String,
    /// The `v` of the provider's signature (27 or 28).
    v: i32,
    /// The `r` of the provider's signature, 0x hex (32 bytes).
    r: String,
    /// The `s` of the provider's signature, 0x hex (32 bytes).
    s: String,
    /// Until when the fee holds, in Unix seconds (not milliseconds), exactly as signed; 0: no
    /// limit.
    valid_until: Long,
    /// The 0x address of the datatoken to order with.
    datatoken: String,
}

fn provider_error(e: ProviderError) -> async_graphql::Error {
    match e {
        ProviderError::Asset(AssetError::NotFound) => error(Code::NotFound, "no such asset"),
        ProviderError::Db(db) => internal(db),
        ProviderError::Internal(detail) => internal(detail),
        other => bad_input(other.to_string()),
    }
}

#[derive(Default)]
pub struct ProviderQuery;

/// Ocean assets and provider fees.
#[Object]
impl ProviderQuery {
    /// An asset by DID: wharf's registry, else the configured metadata cache.
    async fn asset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset's DID, `did:op:…`.")] did: String,
    ) -> async_graphql::Result<AssetObject> {
        let asset = services(ctx)?
            .provider
            .assets
            .resolve(&did)
            .await
            .map_err(|e| provider_error(e.into()))?;
        Ok(asset.into())
    }

    /// The provider fee to order a download service with, for `consumerAddress` (default:
    /// the signed-in wallet).
    async fn provider_fee(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset's DID, `did:op:…`.")] did: String,
        #[graphql(desc = "The `id` of the asset's download (`access`) service.")]
        service_id: String,
        #[graphql(
            desc = "The 0x address that will order and download; omit to use the signed-in \
                    wallet."
        )]
        consumer_address: Option<String>,
    ) -> async_graphql::Result<ProviderFeeObject> {
        let consumer = match (consumer_address, caller(ctx)) {
            (Some(a), _) => {
                Address::from_str(&a).map_err(|_| bad_input("consumerAddress is not an address"))?
            }
            (None, Some(Principal::Wallet(a))) => a,
            (None, _) => return Err(bad_input("give consumerAddress or sign in")),
        };
        let services = services(ctx)?;
        let answer = services
            .provider
            .initialize(
                &did,
                &service_id,
                &format!("{consumer:#x}"),
                None,
                None,
                None,
            )
            .await
            .map_err(provider_error)?;
        let fee = &answer["providerFee"];
        let text = |k: &str| fee[k].as_str().unwrap_or_default().to_string();
        Ok(ProviderFeeObject {
            provider_fee_address: text("providerFeeAddress"),
            provider_fee_token: text("providerFeeToken"),
            provider_fee_amount: text("providerFeeAmount"),
            provider_data: text("providerData"),
            v: fee["v"].as_i64().unwrap_or_default() as i32,
            r: text("r"),
            s: text("s"),
            valid_until: fee["validUntil"].as_u64().unwrap_or_default().into(),
            datatoken: answer["datatoken"].as_str().unwrap_or_default().to_string(),
        })
    }
}

#[derive(Default)]
pub struct ProviderMutation;

/// Publishing to wharf's asset registry.
#[Object]
impl ProviderMutation {
    /// Operator: stores a DDO in wharf's asset registry (served at
    /// `/api/aquarius/assets/ddo/{did}`). Its `id` must be the DID of its `nftAddress` on its
    /// `chainId`; publishing the same DID again replaces it.
    async fn publish_asset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The DDO, as JSON text.")] ddo: String,
    ) -> async_graphql::Result<AssetObject> {
        require_operator(ctx)?;
        let document: serde_json::Value =
            serde_json::from_str(&ddo).map_err(|_| bad_input("ddo is not JSON"))?;
        let asset = services(ctx)?
            .provider
            .assets
            .publish(document)
            .await
            .map_err(|e| match e {
                AssetError::Db(db) => internal(db),
                other => bad_input(other.to_string()),
            })?;
        Ok(asset.into())
    }
}

//! The Ocean Provider's data services (shared/reference/ocean-provider.md): keys and
//! encryption, consumer signatures and nonces, assets, provider fees, order checks, file
//! information and downloads. The REST family (`api/src/rest/provider`) and GraphQL call
//! these; legacy strings live with the REST family.
pub mod assets;
pub mod ecies;
pub mod fees;
pub mod files;
pub mod keys;
pub mod orders;
pub mod requests;

use std::{str::FromStr, sync::Arc, time::Duration};

use alloy_primitives::{Address, B256, U256};
use bytes::Bytes;
use futures::StreamExt;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use self::{
    assets::{Asset, AssetError, AssetRegistry},
    files::{FileError, FileObject},
    keys::ProviderKeys,
    orders::{ChainReader, Expected, OrderError},
    requests::ConsumerRequest,
};
use crate::{
    auth::{
        nonce::{self, Nonce, NonceError},
        signature::SignatureError,
    },
    config::{ChainConfig, Config},
    content::ContentStore,
    net::{FetchError, SafeClient},
};

/// Flags of an encrypted document (`setMetaData`): bit 0 LZMA/xz, bit 1 ECIES.
pub const FLAG_LZMA: u8 = 1;
pub const FLAG_ECIES: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{0}")]
    Invalid(String),
    #[error("unknown or unconfigured chain {0}")]
    UnknownChain(u64),
    #[error("Failed to encrypt.")]
    Encrypt,
    #[error("Failed to decrypt.")]
    Decrypt,
    #[error("Failed to decompress")]
    Decompress,
    #[error("Checksum doesn't match.")]
    Checksum,
    #[error("Decrypter not authorized")]
    DecrypterNotAuthorized,
    #[error("Asset not deployed by the data NFT factory.")]
    NotFromFactory,
    #[error("{0}")]
    AssetState(&'static str),
    #[error(transparent)]
    Signature(SignatureError),
    #[error(transparent)]
    Nonce(NonceError),
    #[error(transparent)]
    Asset(AssetError),
    #[error("Invalid serviceId.")]
    UnknownService,
    #[error("Use the initializeCompute endpoint to initialize compute jobs.")]
    ComputeService,
    #[error("Service with index={0} is not an access service.")]
    NotAccess(String),
    #[error("{0}")]
    NotConsumable(String),
    #[error("Order with tx_id {tx} could not be validated due to error: {error}")]
    Order { tx: String, error: OrderError },
    #[error("No such fileIndex {0}")]
    NoSuchFile(i64),
    #[error("{0}")]
    File(FileError),
    #[error("{0}")]
    Fetch(FetchError),
    #[error("Unable to get dataset files")]
    NoFiles,
    #[error(transparent)]
    Db(sea_orm::DbErr),
    #[error("{0}")]
    Internal(String),
}

impl From<NonceError> for ProviderError {
    fn from(e: NonceError) -> Self {
        match e {
            NonceError::Db(db) => ProviderError::Db(db),
            other => ProviderError::Nonce(other),
        }
    }
}

impl From<AssetError> for ProviderError {
    fn from(e: AssetError) -> Self {
        match e {
            AssetError::Db(db) => ProviderError::Db(db),
            other => ProviderError::Asset(other),
        }
    }
}

/// A decrypt request as the Provider takes it.
pub struct DecryptRequest<'a> {
    pub decrypter: &'a str,
    pub chain_id: u64,
    pub chain_id_text: &'a str,
    pub data_nft: &'a str,
    pub transaction_id: Option<&'a str>,
    /// `(encryptedDocument, flags, documentHash)` when no transaction is given.
    pub document: Option<(&'a str, u8, &'a str)>,
    pub nonce: &'a str,
    pub signature: &'a str,
}

/// What a file check found (fileinfo).
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub index: usize,
    pub kind: &'static str,
    pub valid: bool,
    pub content_length: Option<String>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub checksum: Option<String>,
}

impl FileInfo {
    pub fn to_json(&self) -> Value {
        let mut out = json!({"index": self.index, "valid": self.valid, "type": self.kind});
        if self.valid {
            out["contentLength"] = json!(self.content_length.clone().unwrap_or_default());
            out["contentType"] = json!(self.content_type.clone().unwrap_or_default());
            out["filename"] = json!(self.filename.clone().unwrap_or_default());
            if let Some(checksum) = &self.checksum {
                out["checksum"] = json!(checksum);
                out["checksumType"] = json!("sha256");
            }
        }
        out
    }
}

/// A file being downloaded: the upstream status and headers that matter, and its bytes.
pub struct Download {
    pub status: u16,
    pub filename: String,
    pub content_type: String,
    pub content_length: Option<u64>,
    /// `bytes a-b/total` when a range was answered.
    pub content_range: Option<String>,
    pub body: crate::content::FileStream,
}

/// A download request (all of it signed by the consumer over `documentId + nonce`).
pub struct DownloadRequest<'a> {
    pub document_id: &'a str,
    pub service_id: &'a str,
    pub consumer: &'a str,
    pub transfer_tx: &'a str,
    pub file_index: i64,
    pub nonce: &'a str,
    pub signature: &'a str,
    pub userdata: Option<Value>,
    pub range: Option<String>,
}

#[derive(Clone)]
pub struct ProviderService {
    config: Arc<Config>,
    db: DatabaseConnection,
    content: ContentStore,
    pub keys: ProviderKeys,
    pub assets: AssetRegistry,
    pub net: SafeClient,
}

fn parse_address(text: &str, what: &str) -> Result<Address, ProviderError> {
    Address::from_str(text).map_err(|_| ProviderError::Invalid(format!("{what} is not an address")))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text)).ok()
}

impl ProviderService {
    pub fn new(
        config: Arc<Config>,
        db: DatabaseConnection,
        content: ContentStore,
        keys: ProviderKeys,
    ) -> Result<Self, String> {
        let allowed = config
            .provider
            .allow_private_networks
            .iter()
            .map(|a| a.parse())
            .collect::<Result<Vec<_>, String>>()?;
        let net = SafeClient::new(
            allowed,
            Duration::from_secs(config.provider.fetch_timeout_secs),
            config.provider.max_redirects,
        );
        let assets = AssetRegistry::new(
            db.clone(),
            config.provider.aquarius_url.clone(),
            Duration::from_secs(config.provider.ddo_cache_secs),
        );
        Ok(Self {
            config,
            db,
            content,
            keys,
            assets,
            net,
        })
    }

    /// The chains the provider serves (those configured) and its address on each.
    pub fn chains(&self) -> Vec<(u64, Address)> {
        self.config
            .chains
            .iter()
            .map(|c| (c.chain_id, self.keys.address(c.chain_id)))
            .collect()
    }

    pub fn chain(&self, chain_id: u64) -> Result<&ChainConfig, ProviderError> {
        self.config
            .chains
            .iter()
            .find(|c| c.chain_id == chain_id)
            .ok_or(ProviderError::UnknownChain(chain_id))
    }

    pub fn reader(&self, chain_id: u64) -> Result<ChainReader, ProviderError> {
        ChainReader::new(self.chain(chain_id)?).map_err(|e| ProviderError::Internal(e.to_string()))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Where operators and compute pods read DDOs: the configured metadata cache, if any.
    pub fn metadata_uri(&self) -> String {
        self.config
            .provider
            .aquarius_url
            .clone()
            .unwrap_or_default()
    }

    /// Whether `address` is the consumer address of an operator compute environment: its pods
    /// download the datasets of compute services (upstream's exception for C2D).
    pub fn is_compute_consumer(&self, address: &Address) -> bool {
        self.config
            .compute
            .environments
            .iter()
            .filter_map(|e| e.consumer_address.as_deref())
            .any(|a| Address::from_str(a).is_ok_and(|a| a == *address))
    }

    /// The last nonce an address used ("0" for none).
    pub async fn nonce(&self, address: &Address) -> Result<String, ProviderError> {
        Ok(nonce::last_used(&self.db, address)
            .await
            .map_err(ProviderError::Db)?
            .unwrap_or_else(|| "0".into()))
    }

    /// Checks a consumer's signature, then consumes the nonce (strictly increasing, atomic).
    /// Call once the request is otherwise valid: a refused request keeps its nonce unused.
    pub async fn authorise(
        &self,
        request: &ConsumerRequest<'_>,
        signer: &Address,
        nonce_text: &str,
        signature: &str,
    ) -> Result<(), ProviderError> {
        let parsed = Nonce::parse(nonce_text)?;
        requests::verify(request, nonce_text, signature, signer)
            .map_err(ProviderError::Signature)?;
        nonce::consume(&self.db, signer, &parsed).await?;
        Ok(())
    }

    /// Checks a signature and nonce without consuming it (the nonce must still be fresh).
    pub async fn check_signature(
        &self,
        request: &ConsumerRequest<'_>,
        signer: &Address,
        nonce_text: &str,
        signature: &str,
    ) -> Result<(), ProviderError> {
        let parsed = Nonce::parse(nonce_text)?;
        requests::verify(request, nonce_text, signature, signer)
            .map_err(ProviderError::Signature)?;
        if let Some(last) = nonce::last_used(&self.db, signer)
            .await
            .map_err(ProviderError::Db)?
            && Nonce::parse(&last).is_ok_and(|l| l >= parsed)
        {
            return Err(ProviderError::Nonce(NonceError::NotIncreasing { last }));
        }
        Ok(())
    }

    /// ECIES-encrypts a document to the provider's key on `chain_id`.
    pub fn encrypt(&self, chain_id: u64, plaintext: &[u8]) -> Result<Vec<u8>, ProviderError> {
        let public = self.keys.secret(chain_id).public_key();
        ecies::encrypt(&public, plaintext).map_err(|_| ProviderError::Encrypt)
    }

    /// Undoes `flags` on `data` with the key of `chain_id`: ECIES, then LZMA.
    pub fn open_document(
        &self,
        chain_id: u64,
        data: &[u8],
        flags: u8,
    ) -> Result<Vec<u8>, ProviderError> {
        let mut out = data.to_vec();
        if flags & FLAG_ECIES != 0 {
            out = ecies::decrypt(&self.keys.secret(chain_id), &out)
                .map_err(|_| ProviderError::Decrypt)?;
        }
        if flags & FLAG_LZMA != 0 {
            let mut plain = Vec::new();
            lzma_rs::xz_decompress(&mut std::io::Cursor::new(&out), &mut plain)
                .map_err(|_| ProviderError::Decompress)?;
            out = plain;
        }
        Ok(out)
    }

    /// decrypt: the document an NFT's metadata holds, for an authorised decrypter.
    pub async fn decrypt(&self, request: DecryptRequest<'_>) -> Result<Vec<u8>, ProviderError> {
        let decrypter = parse_address(request.decrypter, "decrypterAddress")?;
        let nft = parse_address(request.data_nft, "dataNftAddress")?;
        let chain = self.chain(request.chain_id)?.clone();
        let signed = ConsumerRequest::Decrypt {
            transaction_id: request.transaction_id,
            data_nft: request.data_nft,
            decrypter: request.decrypter,
            chain_id: request.chain_id_text,
        };
        self.check_signature(&signed, &decrypter, request.nonce, request.signature)
            .await?;
        let authorized = &self.config.provider.authorized_decrypters;
        if !authorized.is_empty()
            && !authorized
                .iter()
                .any(|a| Address::from_str(a).is_ok_and(|a| a == decrypter))
        {
            return Err(ProviderError::DecrypterNotAuthorized);
        }
        let reader = self.reader(chain.chain_id)?;
        let rpc = |e: OrderError| ProviderError::Internal(e.to_string());
        if let Some(factory) = chain
            .ocean_factory
            .as_deref()
            .and_then(|f| Address::from_str(f).ok())
            && !reader.factory_made(factory, nft).await.map_err(rpc)?
        {
            return Err(ProviderError::NotFromFactory);
        }
        let (data, flags, hash) = match (request.transaction_id, request.document) {
            (Some(tx), _) => self.metadata_of(&reader, tx, nft).await?,
            (None, Some((document, flags, hash))) => {
                let data = decode_hex(document).ok_or_else(|| {
                    ProviderError::Invalid("Failed to convert input args to bytes.".into())
                })?;
                let hash = decode_hex(hash).ok_or_else(|| {
                    ProviderError::Invalid("Failed to convert input args to bytes.".into())
                })?;
                (data, flags, hash)
            }
            (None, None) => {
                return Err(ProviderError::Invalid(
                    "transactionId or encryptedDocument, flags and documentHash are required"
                        .into(),
                ));
            }
        };
        match reader.metadata_state(nft).await.map_err(rpc)? {
            0 | 4 | 5 => {}
            1 => return Err(ProviderError::AssetState("Asset end of life")),
            2 => return Err(ProviderError::AssetState("Asset deprecated")),
            3 => return Err(ProviderError::AssetState("Asset revoked")),
            _ => return Err(ProviderError::Invalid("Invalid MetadataState".into())),
        }
        let document = self.open_document(chain.chain_id, &data, flags)?;
        if Sha256::digest(&document)[..] != hash[..] {
            return Err(ProviderError::Checksum);
        }
        // The signature held and the document opened: now the nonce is used.
        self.authorise(&signed, &decrypter, request.nonce, request.signature)
            .await?;
        Ok(document)
    }

    /// The metadata a `setMetaData` transaction of `nft` recorded: data, flags, hash.
    async fn metadata_of(
        &self,
        reader: &ChainReader,
        tx: &str,
        nft: Address,
    ) -> Result<(Vec<u8>, u8, Vec<u8>), ProviderError> {
        use alloy_sol_types::{SolEvent, sol};
        sol! {
            event MetadataCreated(address indexed createdBy, uint8 state, string decryptorUrl, bytes flags, bytes data, bytes32 metaDataHash, uint256 timestamp, uint256 blockNumber);
            event MetadataUpdated(address indexed updatedBy, uint8 state, string decryptorUrl, bytes flags, bytes data, bytes32 metaDataHash, uint256 timestamp, uint256 blockNumber);
        }
        let failed = || ProviderError::Invalid("Failed to process transaction id.".into());
        let hash = B256::from_str(tx).map_err(|_| failed())?;
        let receipt = reader.receipt(hash).await.map_err(|_| failed())?;
        for log in receipt.inner.logs().iter().filter(|l| l.address() == nft) {
            if let Ok(e) = MetadataCreated::decode_log(&log.inner).map(|l| l.data) {
                return Ok((
                    e.data.to_vec(),
                    e.flags.first().copied().unwrap_or(0),
                    e.metaDataHash.to_vec(),
                ));
            }
            if let Ok(e) = MetadataUpdated::decode_log(&log.inner).map(|l| l.data) {
                return Ok((
                    e.data.to_vec(),
                    e.flags.first().copied().unwrap_or(0),
                    e.metaDataHash.to_vec(),
                ));
            }
        }
        Err(failed())
    }

    /// The asset of a DID, checked to be consumable by `consumer` (§8.2).
    pub async fn consumable(&self, did: &str, consumer: &Address) -> Result<Asset, ProviderError> {
        let asset = self.assets.resolve(did).await?;
        let chain = self
            .chain(asset.chain_id)
            .map_err(|_| ProviderError::NotConsumable("Asset malformed or disabled.".into()))?;
        let state = ChainReader::new(chain)
            .map_err(|e| ProviderError::Internal(e.to_string()))?
            .metadata_state(asset.nft_address)
            .await
            .map_err(|e| ProviderError::Internal(e.to_string()))?;
        if state != 0 && state != 5 {
            return Err(ProviderError::NotConsumable(
                "Asset is not consumable.".into(),
            ));
        }
        let me = format!("{consumer:#x}");
        let denied = |code: &str| {
            ProviderError::NotConsumable(format!(
                "Error: Access to asset {did} was denied with code: ConsumableCodes.{code}."
            ))
        };
        if !asset.allow.is_empty() && !asset.allow.contains(&me) {
            return Err(denied("CREDENTIAL_NOT_IN_ALLOW_LIST"));
        }
        if asset.deny.contains(&me) {
            return Err(denied("CREDENTIAL_IN_DENY_LIST"));
        }
        Ok(asset)
    }

    /// The provider fee of a download service: no environment, never expiring, amount 0.
    pub fn download_fee(
        &self,
        asset: &Asset,
        service: &assets::Service,
    ) -> Result<fees::ProviderFee, ProviderError> {
        let datatoken = service
            .datatoken()
            .ok_or_else(|| ProviderError::Invalid("the service has no datatoken".into()))?;
        let token = self
            .chain(asset.chain_id)?
            .provider_fee_token
            .as_deref()
            .and_then(|t| Address::from_str(t).ok())
            .unwrap_or(Address::ZERO);
        let fee_for = fees::FeeFor {
            datatoken: &datatoken,
            service_id: &service.id,
            environment: None,
            timestamp: crate::time::now_ms() as f64 / 1000.0,
        };
        fees::sign(
            self.keys.signer(asset.chain_id),
            &fee_for,
            token,
            U256::ZERO,
            0,
        )
        .map_err(|e| ProviderError::Internal(e.to_string()))
    }

    /// The decrypted file list of a service.
    pub fn files_of(
        &self,
        asset: &Asset,
        service: &assets::Service,
    ) -> Result<Vec<Value>, ProviderError> {
        let sealed = decode_hex(&service.files).ok_or(ProviderError::NoFiles)?;
        let plain = self
            .open_document(asset.chain_id, &sealed, FLAG_ECIES)
            .map_err(|_| ProviderError::NoFiles)?;
        let datatoken = service.datatoken().unwrap_or(Address::ZERO);
        files::service_files(&plain, &datatoken, &asset.nft_address).map_err(ProviderError::File)
    }

    /// Checks a file the way fileinfo reports it: reachable, its type, length and name, and
    /// its sha256 when asked and small enough. A file that cannot be reached is `valid: false`;
    /// one at an address wharf may not fetch (not public, not http(s), redirect loops) is an
    /// error, so the client learns why.
    pub async fn check_file(
        &self,
        index: usize,
        file: &FileObject,
        userdata: Option<&Value>,
        with_checksum: bool,
    ) -> Result<FileInfo, ProviderError> {
        let invalid = FileInfo {
            index,
            kind: file.kind(),
            valid: false,
            content_length: None,
            content_type: None,
            filename: None,
            checksum: None,
        };
        let download = match self.open(file, userdata, None).await {
            Ok(download) => download,
            Err(ProviderError::Fetch(
                FetchError::Unreachable | FetchError::Timeout | FetchError::Unresolved { .. },
            )) => return Ok(invalid),
            Err(other) => return Err(other),
        };
        if !(200..300).contains(&download.status) {
            return Ok(invalid);
        }
        let limit = self.config.provider.max_checksum_bytes;
        let checksum = match (with_checksum, download.content_length) {
            (true, Some(len)) if len <= limit => checksum_of(download.body, limit).await,
            _ => None,
        };
        Ok(FileInfo {
            index,
            kind: file.kind(),
            valid: true,
            content_length: download.content_length.map(|l| l.to_string()),
            content_type: Some(download.content_type),
            filename: Some(download.filename),
            checksum,
        })
    }

    /// Opens a file for reading: from wharf's content store for an `ipfs` CID it holds,
    /// else over the network through the SSRF-safe client.
    pub async fn open(
        &self,
        file: &FileObject,
        userdata: Option<&Value>,
        range: Option<&str>,
    ) -> Result<Download, ProviderError> {
        if let FileObject::Ipfs { hash } = file
            && let Ok(cid) = wharf_content::Cid::try_from(hash.as_str())
            && let Ok(Some((size, body))) = self.content.open_file(&cid).await
        {
            return Ok(Download {
                status: 200,
                filename: hash.clone(),
                content_type: "application/octet-stream".into(),
                content_length: Some(size),
                content_range: None,
                body,
            });
        }
        let provider = &self.config.provider;
        let (method, url, mut headers, body) = file
            .request(&provider.ipfs_gateway, &provider.arweave_gateway, userdata)
            .map_err(ProviderError::File)?;
        if let Some(range) = range
            && let Ok(value) = reqwest::header::HeaderValue::from_str(range)
        {
            headers.insert(reqwest::header::RANGE, value);
        }
        let fetched = self
            .net
            .fetch(method, url, headers, body)
            .await
            .map_err(ProviderError::Fetch)?;
        let response = fetched.response;
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE)
            .and_then(|t| t.split(';').next().map(|t| t.trim().to_string()))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "application/octet-stream".into());
        let content_range = header(reqwest::header::CONTENT_RANGE);
        let content_length = header(reqwest::header::CONTENT_LENGTH)
            .and_then(|l| l.parse().ok())
            .or_else(|| content_range.as_deref().and_then(range_total));
        let filename = header(reqwest::header::CONTENT_DISPOSITION)
            .and_then(|d| disposition_filename(&d))
            .or_else(|| {
                fetched
                    .url
                    .path_segments()
                    .and_then(|mut s| s.next_back().map(str::to_string))
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| "file".into());
        let status = response.status().as_u16();
        let body = response
            .bytes_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other));
        Ok(Download {
            status,
            filename,
            content_type,
            content_length,
            content_range,
            body: Box::pin(body),
        })
    }

    /// initialize: the provider fee a consumer passes to `startOrder` for a download
    /// service, or `{"validOrder"}` when the order it names is still good.
    pub async fn initialize(
        &self,
        did: &str,
        service_id: &str,
        consumer: &str,
        file_index: Option<i64>,
        transfer_tx: Option<&str>,
        userdata: Option<&Value>,
    ) -> Result<Value, ProviderError> {
        let consumer = parse_address(consumer, "consumerAddress")?;
        let asset = self.consumable(did, &consumer).await?;
        let (index, service) = asset
            .service(service_id)
            .ok_or(ProviderError::UnknownService)?;
        if service.kind == "compute" {
            return Err(ProviderError::ComputeService);
        }
        if let Some(tx) = transfer_tx.and_then(|t| B256::from_str(t).ok()) {
            let expected = Expected {
                asset: &asset,
                service_index: index,
                service,
                consumer,
                provider: self.keys.address(asset.chain_id),
                environment: None,
                allow_expired_fee: true,
            };
            if self
                .reader(asset.chain_id)?
                .validate_order(tx, &expected)
                .await
                .is_ok()
            {
                return Ok(json!({ "validOrder": format!("{tx:#x}") }));
            }
        }
        if let Some(index) = file_index.filter(|i| *i > -1) {
            let files = self.files_of(&asset, service)?;
            let file = usize::try_from(index)
                .ok()
                .and_then(|i| files.get(i))
                .ok_or(ProviderError::NoSuchFile(index))?;
            let file = FileObject::parse(file).map_err(ProviderError::File)?;
            let checked = self.check_file(0, &file, userdata, false).await?;
            if !checked.valid {
                return Err(ProviderError::Fetch(FetchError::Unreachable));
            }
        }
        let fee = self.download_fee(&asset, service)?;
        let nonce = nonce::last_used(&self.db, &consumer)
            .await
            .map_err(ProviderError::Db)?;
        Ok(json!({
            "datatoken": service.datatoken().map(|d| d.to_checksum(None)),
            "nonce": nonce,
            "providerFee": fee.to_json(),
        }))
    }

    /// fileinfo of a published asset's service: each file checked.
    pub async fn asset_fileinfo(
        &self,
        did: &str,
        service_id: &str,
        with_checksum: bool,
    ) -> Result<Vec<FileInfo>, ProviderError> {
        let asset = self.assets.resolve(did).await?;
        let (_, service) = asset
            .service(service_id)
            .ok_or(ProviderError::UnknownService)?;
        let files = self.files_of(&asset, service)?;
        let mut out = Vec::with_capacity(files.len());
        for (index, file) in files.iter().enumerate() {
            let file = FileObject::parse(file).map_err(ProviderError::File)?;
            out.push(self.check_file(index, &file, None, with_checksum).await?);
        }
        Ok(out)
    }

    /// download: validates everything, consumes the nonce, and opens the file.
    pub async fn download(&self, request: DownloadRequest<'_>) -> Result<Download, ProviderError> {
        let consumer = parse_address(request.consumer, "consumerAddress")?;
        let signed = ConsumerRequest::Download {
            document_id: request.document_id,
        };
        self.check_signature(&signed, &consumer, request.nonce, request.signature)
            .await?;
        let asset = self.consumable(request.document_id, &consumer).await?;
        let (index, service) = asset
            .service(request.service_id)
            .ok_or(ProviderError::UnknownService)?;
        let compute_pod = service.kind == "compute" && self.is_compute_consumer(&consumer);
        if service.kind != "access" && !compute_pod {
            return Err(ProviderError::NotAccess(request.service_id.to_string()));
        }
        let tx = B256::from_str(request.transfer_tx).map_err(|_| ProviderError::Order {
            tx: request.transfer_tx.to_string(),
            error: OrderError::UnknownTransaction(B256::ZERO),
        })?;
        let reader = self.reader(asset.chain_id)?;
        let expected = Expected {
            asset: &asset,
            service_index: index,
            service,
            consumer,
            provider: self.keys.address(asset.chain_id),
            environment: None,
            allow_expired_fee: true,
        };
        reader
            .validate_order(tx, &expected)
            .await
            .map_err(|error| ProviderError::Order {
                tx: request.transfer_tx.to_string(),
                error,
            })?;
        let files = self.files_of(&asset, service)?;
        let file = usize::try_from(request.file_index)
            .ok()
            .and_then(|i| files.get(i))
            .ok_or(ProviderError::NoSuchFile(request.file_index))?;
        let file = FileObject::parse(file).map_err(ProviderError::File)?;
        self.authorise(&signed, &consumer, request.nonce, request.signature)
            .await?;
        self.open(&file, request.userdata.as_ref(), request.range.as_deref())
            .await
    }
}

/// The total of `bytes a-b/total` (or the length of the range when the total is unknown).
fn range_total(range: &str) -> Option<u64> {
    let spec = range.trim().strip_prefix("bytes")?.trim();
    let (span, total) = spec.split_once('/')?;
    if let Ok(total) = total.trim().parse::<u64>() {
        return Some(total);
    }
    let (a, b) = span.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    b.checked_sub(a).map(|d| d + 1)
}

/// The filename of a `Content-Disposition`.
fn disposition_filename(value: &str) -> Option<String> {
    value.split(';').find_map(|part| {
        let (key, name) = part.trim().split_once('=')?;
        (key.trim().eq_ignore_ascii_case("filename"))
            .then(|| name.trim().trim_matches('"').to_string())
            .filter(|n| !n.is_empty())
    })
}

/// The sha256 of a stream, or `None` once more than `limit` bytes came (the checksum is then
/// abandoned, not computed over an unbounded body).
async fn checksum_of(mut body: crate::content::FileStream, limit: u64) -> Option<String> {
    let mut hasher = Sha256::new();
    let mut seen = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk: Bytes = chunk.ok()?;
        seen += chunk.len() as u64;
        if seen > limit {
            return None;
        }
        hasher.update(&chunk);
    }
    Some(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_are_parsed_whole() {
        assert_eq!(range_total("bytes 0-99/1234"), Some(1234));
        assert_eq!(range_total("bytes 100-199/*"), Some(100));
        assert_eq!(range_total("nonsense"), None);
        assert_eq!(
            disposition_filename("attachment; filename=\"data.csv\""),
            Some("data.csv".into())
        );
        assert_eq!(disposition_filename("inline"), None);
    }
}

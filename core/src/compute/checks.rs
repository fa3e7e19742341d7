//! What a compute job's datasets and algorithm must satisfy before it may start
//! (shared/reference/ocean-provider.md §4.6, §9): each dataset consumable, its service a
//! compute service whose options admit the algorithm (raw code allowed or not, trusted
//! algorithms with their file and container checksums, trusted publishers); the algorithm a
//! published `algorithm` asset with a complete container, or raw code where allowed.
use alloy_primitives::Address;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{AlgorithmInput, ComputeError, DatasetInput, rejected};
use crate::provider::{
    ProviderError, ProviderService, assets::Asset, assets::AssetError, files::FileObject,
};

/// Which part of a request an error is about, named as upstream names it.
pub struct Resource(String);

impl Resource {
    /// `dataset` for the first, `datasets[i]` for the others.
    pub fn dataset(i: usize) -> Resource {
        Resource(if i == 0 {
            "dataset".into()
        } else {
            format!("datasets[{i}]")
        })
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    pub fn service_field(&self) -> String {
        format!("{}.serviceId", self.0)
    }
}

/// The algorithm of a job, resolved.
pub enum Algorithm {
    Published {
        asset: Asset,
        service_index: usize,
        /// The container's entrypoint (`node $ALGO`).
        entrypoint: String,
        container_checksum: String,
    },
    Raw {
        meta: Value,
        entrypoint: String,
    },
}

impl Algorithm {
    pub fn entrypoint(&self) -> &str {
        match self {
            Algorithm::Published { entrypoint, .. } | Algorithm::Raw { entrypoint, .. } => {
                entrypoint
            }
        }
    }
}

/// Resolves the algorithm of a request. `for_start` picks the error shapes of compute start
/// (`{"algorithm": code}`) over those of initializeCompute.
pub async fn resolve_algorithm(
    provider: &ProviderService,
    input: &AlgorithmInput,
    for_start: bool,
) -> Result<Algorithm, ComputeError> {
    if let Some(did) = input.document_id.as_deref().filter(|d| !d.is_empty()) {
        let asset = match provider.assets.resolve(did).await {
            Ok(asset) => asset,
            Err(AssetError::NotFound) => return Err(rejected("algorithm", "did_not_found")),
            Err(e) => return Err(ProviderError::from(e).into()),
        };
        if asset.kind != "algorithm" {
            return Err(if for_start {
                rejected("algorithm", "not_algo")
            } else {
                ComputeError::NotAlgorithm
            });
        }
        let service_index = match input.service_id.as_deref() {
            Some(id) => asset
                .service(id)
                .map(|(i, _)| i)
                .ok_or_else(|| rejected("algorithm.serviceId", "not_found"))?,
            None => 0,
        };
        let kind = asset
            .services
            .get(service_index)
            .map(|s| s.kind.as_str())
            .unwrap_or_default();
        if kind != "access" && kind != "compute" {
            return Err(rejected("algorithm", "service_not_access_compute"));
        }
        let container = &asset.document["metadata"]["algorithm"]["container"];
        let (entrypoint, checksum) = container_parts(container, true)?;
        return Ok(Algorithm::Published {
            asset,
            service_index,
            entrypoint,
            container_checksum: checksum,
        });
    }
    let Some(meta) = input.meta.clone().filter(|m| m.is_object()) else {
        return Err(rejected("algorithm", "missing_meta_documentId"));
    };
    let has = |k: &str| meta.get(k).is_some_and(|v| !v.is_null() && v != "");
    if !(has("rawcode") || has("url") || has("remote")) {
        return Err(rejected("algorithm", "meta_oneof_url_rawcode_remote"));
    }
    let (entrypoint, _) = container_parts(&meta["container"], false)?;
    Ok(Algorithm::Raw { meta, entrypoint })
}

/// The entrypoint and checksum of a container section; a published algorithm must name
/// its entrypoint, image, tag and a `sha256:` checksum.
fn container_parts(container: &Value, published: bool) -> Result<(String, String), ComputeError> {
    let text = |k: &str| container[k].as_str().unwrap_or_default().to_string();
    let (entrypoint, image, tag, checksum) = (
        text("entrypoint"),
        text("image"),
        text("tag"),
        text("checksum"),
    );
    if entrypoint.is_empty()
        || (published && (image.is_empty() || tag.is_empty() || checksum.is_empty()))
    {
        return Err(rejected(
            "algorithm.container",
            "missing_entrypoint_image_checksum",
        ));
    }
    if published && !checksum.starts_with("sha256:") {
        return Err(rejected("algorithm.container", "checksum_prefix"));
    }
    Ok((entrypoint, checksum))
}

/// Checks one dataset of a job: consumable by `consumer`, its service a compute service,
/// and the algorithm admitted by the service's compute options. Returns the asset and the
/// service's index.
pub async fn check_dataset(
    provider: &ProviderService,
    resource: &Resource,
    dataset: &DatasetInput,
    consumer: &Address,
    algorithm: &Algorithm,
) -> Result<(Asset, usize), ComputeError> {
    let name = resource.name();
    let asset = match provider.consumable(&dataset.document_id, consumer).await {
        Ok(asset) => asset,
        Err(ProviderError::Asset(AssetError::NotFound)) => {
            return Err(rejected(name, "did_not_found"));
        }
        Err(e) => return Err(e.into()),
    };
    let (index, service) = asset
        .service(&dataset.service_id)
        .ok_or_else(|| rejected(resource.service_field(), "not_found"))?;
    if service.kind != "compute" {
        return Err(rejected(name, "main_service_compute"));
    }
    let options = service.compute.clone().unwrap_or(Value::Null);
    match algorithm {
        Algorithm::Raw { .. } => {
            if options["allowRawAlgorithm"].as_bool() != Some(true) {
                return Err(rejected(name, "no_raw_algo_allowed"));
            }
        }
        Algorithm::Published {
            asset: algo,
            service_index,
            entrypoint,
            container_checksum,
        } => {
            trusted(
                provider,
                name,
                &options,
                algo,
                *service_index,
                entrypoint,
                container_checksum,
            )
            .await?;
        }
    }
    Ok((asset, index))
}

/// The compute options' trust lists. Both empty (or absent): any published algorithm.
async fn trusted(
    provider: &ProviderService,
    name: &str,
    options: &Value,
    algorithm: &Asset,
    service_index: usize,
    entrypoint: &str,
    container_checksum: &str,
) -> Result<(), ComputeError> {
    let list = |k: &str| options[k].as_array().cloned().unwrap_or_default();
    let algorithms = list("publisherTrustedAlgorithms");
    let publishers = list("publisherTrustedAlgorithmPublishers");
    if !publishers.is_empty() {
        let owner = provider
            .reader(algorithm.chain_id)?
            .nft_owner(algorithm.nft_address)
            .await
            .map_err(|e| ComputeError::Internal(e.to_string()))?;
        let listed = publishers.iter().any(|p| {
            p.as_str()
                .and_then(|a| a.parse::<Address>().ok())
                .is_some_and(|a| a == owner)
        });
        if !listed {
            return Err(rejected(name, "not_trusted_algo_publisher"));
        }
    }
    if !algorithms.is_empty() {
        let Some(entry) = algorithms
            .iter()
            .find(|e| e["did"].as_str() == Some(algorithm.did.as_str()))
        else {
            return Err(rejected(name, "not_trusted_algo"));
        };
        if let Some(expected) = entry["containerSectionChecksum"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            let actual = hex::encode(Sha256::digest(format!("{entrypoint}{container_checksum}")));
            if !expected.eq_ignore_ascii_case(&actual) {
                return Err(rejected(name, "algorithm_container_checksum_mismatch"));
            }
        }
        if let Some(expected) = entry["filesChecksum"].as_str().filter(|s| !s.is_empty()) {
            let actual = files_checksum(provider, algorithm, service_index).await?;
            if !expected.eq_ignore_ascii_case(&actual) {
                return Err(rejected(name, "algorithm_file_checksum_mismatch"));
            }
        }
    }
    Ok(())
}

/// The concatenated sha256 hex of an algorithm's files (upstream's `filesChecksum`).
async fn files_checksum(
    provider: &ProviderService,
    algorithm: &Asset,
    service_index: usize,
) -> Result<String, ComputeError> {
    use futures::StreamExt;
    let service = &algorithm.services[service_index];
    let files = provider
        .files_of(algorithm, service)
        .map_err(|_| rejected("algorithm", "file_unavailable"))?;
    let mut out = String::new();
    for file in &files {
        let file =
            FileObject::parse(file).map_err(|_| rejected("algorithm", "file_unavailable"))?;
        let mut download = provider
            .open(&file, None, None)
            .await
            .map_err(|_| rejected("algorithm", "file_unavailable"))?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = download.body.next().await {
            let chunk = chunk.map_err(|_| rejected("algorithm", "file_unavailable"))?;
            hasher.update(&chunk);
        }
        out.push_str(&hex::encode(hasher.finalize()));
    }
    Ok(out)
}

//! Compute-to-data (shared/reference/ocean-provider.md §4.6, §4.9, §10): environments, the
//! provider fees of a job, starting one after checking its orders and algorithm, following,
//! stopping and deleting it, and reading its results. Jobs are run by workers
//! ([`ComputeService::run`]) with the executor of their environment: a local bubblewrap
//! sandbox or Ocean's operator-service. The REST family (`api/src/rest/provider/compute.rs`) and
//! GraphQL both call this; legacy shapes live with the REST family.
pub mod checks;
pub mod executor;
pub mod jobs;
pub mod operator;
pub mod run;
pub mod sandbox;

use std::{str::FromStr, sync::Arc};

use alloy_primitives::{Address, B256, U256};
use serde_json::{Value, json};

use self::{
    checks::{Algorithm, Resource},
    executor::Executors,
    jobs::{Job, JobStore, NewJob},
};
use crate::{
    auth::nonce::{self, Nonce},
    blobs::{BlobError, Blobs},
    config::{Config, EnvironmentConfig, ExecutorKind},
    feed::{ChangeFeed, Topic},
    jobs::{JobError, JobQueue},
    provider::{
        ProviderError, ProviderService,
        assets::{Asset, AssetError},
        fees::{self, FeeFor},
        orders::{Expected, OrderError},
        requests::ConsumerRequest,
    },
    time::now_ms,
};

/// The Ocean job status table (§10.1). Every job ends at 70; one that failed says why in its
/// status text ("Job failed: …") and in its log.
pub mod status {
    pub const WARMING_UP: i32 = 1;
    pub const STARTED: i32 = 10;
    pub const CONFIGURING: i32 = 20;
    pub const PROVISIONED: i32 = 30;
    pub const DATA_FAILED: i32 = 31;
    pub const ALGORITHM_FAILED: i32 = 32;
    pub const RUNNING: i32 = 40;
    pub const FILTERING: i32 = 50;
    pub const PUBLISHING: i32 = 60;
    pub const FINISHED: i32 = 70;

    /// The status text as operator-service writes it (the trailing space of 40 included).
    pub fn text(code: i32) -> &'static str {
        match code {
            WARMING_UP => "Warming up",
            STARTED => "Job started",
            CONFIGURING => "Configuring volumes",
            PROVISIONED => "Provisioning success",
            DATA_FAILED => "Data provisioning failed",
            ALGORITHM_FAILED => "Algorithm provisioning failed",
            RUNNING => "Running algorithm ",
            FILTERING => "Filtering results",
            PUBLISHING => "Publishing results",
            FINISHED => "Job finished",
            _ => "Unknown",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// A request that does not hold together (a missing field, a bad address).
    #[error("{0}")]
    Invalid(String),
    /// A dataset, the algorithm or an order refused with upstream's code (`{"error":
    /// {resource: code}}`).
    #[error("{resource}: {code}")]
    Rejected {
        resource: String,
        code: &'static str,
    },
    #[error("Compute environment does not exist")]
    UnknownEnvironment,
    #[error("The validUntil value is not correct.")]
    ValidUntil,
    #[error("DID is not a valid algorithm")]
    NotAlgorithm,
    #[error("no compute environment is offered here")]
    Unavailable,
    #[error("Job not found")]
    JobNotFound,
    #[error("No such index {0} in this compute job")]
    NoSuchResult(i64),
    #[error(transparent)]
    Provider(ProviderError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Queue(#[from] JobError),
    #[error("{0}")]
    Internal(String),
}

impl From<ProviderError> for ComputeError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Db(db) => ComputeError::Db(db),
            other => ComputeError::Provider(other),
        }
    }
}

impl From<object_store::Error> for ComputeError {
    fn from(e: object_store::Error) -> Self {
        ComputeError::Blob(BlobError::Store(e))
    }
}

fn rejected(resource: impl Into<String>, code: &'static str) -> ComputeError {
    ComputeError::Rejected {
        resource: resource.into(),
        code,
    }
}

/// The smallest units of `price` (a non-negative decimal of whole tokens) for a token of
/// `decimals`. `None` when it is not such a decimal or has more fraction digits than the token.
pub fn price_units(price: &str, decimals: u8) -> Option<U256> {
    let price = price.trim();
    let (whole, fraction) = price.split_once('.').unwrap_or((price, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty()
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > decimals as usize
    {
        return None;
    }
    let text = format!("{whole}{fraction:0<width$}", width = decimals as usize);
    let text = text.trim_start_matches('0');
    if text.is_empty() {
        return Some(U256::ZERO);
    }
    U256::from_str_radix(text, 10).ok()
}

/// One dataset of a job: its DID, the service and the order that pays for it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DatasetInput {
    pub document_id: String,
    pub service_id: String,
    pub transfer_tx: Option<String>,
    pub userdata: Option<Value>,
}

/// The algorithm of a job: a published one (DID, service, order) or a raw one (`meta`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AlgorithmInput {
    pub document_id: Option<String>,
    pub service_id: Option<String>,
    pub transfer_tx: Option<String>,
    pub meta: Option<Value>,
    pub custom_data: Option<Value>,
    pub userdata: Option<Value>,
}

/// initializeCompute: the fees of a job before ordering.
pub struct InitializeRequest {
    pub datasets: Vec<DatasetInput>,
    pub algorithm: AlgorithmInput,
    pub environment: String,
    pub valid_until: i64,
    pub consumer: Address,
}

/// A job to start.
pub struct StartRequest {
    pub consumer: Address,
    pub environment: Option<String>,
    pub datasets: Vec<DatasetInput>,
    pub algorithm: AlgorithmInput,
    pub output: Option<Value>,
}

/// Who asks for something on a job: a consumer's signature over the request's message (the
/// REST routes), or a wallet signed in to wharf (GraphQL).
pub enum Authority<'a> {
    Signed {
        /// The consumer address exactly as sent (it is part of the signed message).
        consumer_text: &'a str,
        /// `None` when the client sent none (ocean.js 3.2's computeDelete): the nonce it
        /// signed is the stored one plus one.
        nonce: Option<&'a str>,
        signature: &'a str,
    },
    Session(Address),
}

impl Authority<'_> {
    fn address(&self) -> Result<Address, ComputeError> {
        match self {
            Authority::Signed { consumer_text, .. } => Address::from_str(consumer_text)
                .map_err(|_| ComputeError::Invalid("consumerAddress is not an address".into())),
            Authority::Session(address) => Ok(*address),
        }
    }
}

/// Which of a consumer's jobs a request is about.
#[derive(Debug, Clone, Default)]
pub struct JobSelector {
    pub job_id: Option<String>,
    /// A DID (the job's first dataset) or an agreement id (the order that paid for it):
    /// clients send either under `documentId`.
    pub document_id: Option<String>,
    pub agreement_id: Option<String>,
}

/// A compute environment as this process offers it.
#[derive(Debug, Clone)]
pub struct Environment {
    pub config: EnvironmentConfig,
}

impl Environment {
    pub fn id(&self) -> &str {
        &self.config.id
    }
}

#[derive(Clone)]
pub struct ComputeService {
    config: Arc<Config>,
    provider: ProviderService,
    pub jobs: JobStore,
    blobs: Blobs,
    feed: ChangeFeed,
    queue: Arc<JobQueue>,
    environments: Arc<Vec<Environment>>,
    executors: Executors,
}

#[derive(Debug, thiserror::Error)]
pub enum ComputeStartError {
    #[error("compute environment {id:?} cannot start: {reason}")]
    Environment { id: String, reason: String },
}

impl ComputeService {
    /// The environments of the configuration, each executor checked: an environment that
    /// cannot run jobs here refuses start-up. None configured: one sandbox environment when
    /// bubblewrap works on this machine, else none (compute routes then answer 404).
    pub async fn open(
        config: Arc<Config>,
        db: sea_orm::DatabaseConnection,
        provider: ProviderService,
        blobs: Blobs,
        feed: ChangeFeed,
        queue: Arc<JobQueue>,
    ) -> Result<Self, ComputeStartError> {
        let mut configured = config.compute.environments.clone();
        let defaulted = configured.is_empty();
        if defaulted {
            configured.push(EnvironmentConfig::default_sandbox());
        }
        let needs_sandbox = configured
            .iter()
            .any(|e| e.executor == ExecutorKind::Sandbox);
        let sandbox = if needs_sandbox {
            match sandbox::Sandbox::check().await {
                Ok(s) => Some(s),
                Err(e) if defaulted => {
                    tracing::warn!(reason = %e, "no compute environment: the default sandbox cannot start");
                    configured.clear();
                    None
                }
                Err(e) => {
                    let id = configured
                        .iter()
                        .find(|c| c.executor == ExecutorKind::Sandbox)
                        .map(|c| c.id.clone())
                        .unwrap_or_default();
                    return Err(ComputeStartError::Environment {
                        id,
                        reason: e.to_string(),
                    });
                }
            }
        } else {
            None
        };
        let work_dir = if config.compute.work_dir.is_absolute() {
            config.compute.work_dir.clone()
        } else {
            config.data_dir.join(&config.compute.work_dir)
        };
        let environments: Vec<Environment> = configured
            .into_iter()
            .map(|config| Environment { config })
            .collect();
        Ok(Self {
            executors: Executors::new(sandbox, work_dir, provider.clone()),
            config,
            jobs: JobStore::new(db),
            provider,
            blobs,
            feed,
            queue,
            environments: Arc::new(environments),
        })
    }

    pub fn environments(&self) -> &[Environment] {
        &self.environments
    }

    pub fn environment(&self, id: &str) -> Result<&Environment, ComputeError> {
        self.environments
            .iter()
            .find(|e| e.id() == id)
            .ok_or(ComputeError::UnknownEnvironment)
    }

    /// The address orders for `environment` are placed for: the operator's for an operator
    /// environment, else this provider's own on the chain.
    pub fn consumer_address(&self, environment: &Environment, chain_id: u64) -> Address {
        environment
            .config
            .consumer_address
            .as_deref()
            .and_then(|a| Address::from_str(a).ok())
            .unwrap_or_else(|| self.provider.keys.address(chain_id))
    }

    fn fee_token(&self, chain_id: u64) -> Address {
        self.provider
            .chain(chain_id)
            .ok()
            .and_then(|c| c.provider_fee_token.as_deref())
            .and_then(|t| Address::from_str(t).ok())
            .unwrap_or(Address::ZERO)
    }

    /// computeEnvironments: `{"<chainId>": [environment, …]}` for every chain served.
    pub async fn environments_by_chain(&self) -> Result<Value, ComputeError> {
        let mut out = serde_json::Map::new();
        let now = now_ms() / 1000;
        for (chain_id, _) in self.provider.chains() {
            let mut list = Vec::new();
            for env in self.environments.iter() {
                let c = &env.config;
                let current = self.jobs.unfinished_in(env.id()).await?;
                list.push(json!({
                    "id": c.id,
                    "cpuNumber": c.cpu_number,
                    "cpuType": "",
                    "gpuNumber": 0,
                    "gpuType": "",
                    "ramGB": c.ram_gb,
                    "diskGB": c.disk_gb,
                    "priceMin": c.price_min.parse::<f64>().unwrap_or(0.0),
                    "desc": c.description,
                    "currentJobs": current,
                    "maxJobs": c.max_jobs,
                    "consumerAddress": self.consumer_address(env, chain_id).to_checksum(None),
                    "storageExpiry": c.storage_expiry_secs,
                    "maxJobDuration": c.max_job_duration_secs,
                    "lastSeen": now,
                    "feeToken": self.fee_token(chain_id).to_checksum(None),
                }));
            }
            out.insert(chain_id.to_string(), Value::Array(list));
        }
        Ok(Value::Object(out))
    }

    /// The fee of running a job in `environment` for `seconds` (whole seconds, not the
    /// seconds-of-a-day upstream took), in the fee token's smallest units.
    async fn compute_fee_amount(
        &self,
        environment: &Environment,
        chain_id: u64,
        seconds: u64,
    ) -> Result<U256, ComputeError> {
        let zero = price_units(&environment.config.price_min, 18).unwrap_or_default();
        if zero.is_zero() {
            return Ok(U256::ZERO);
        }
        let token = self.fee_token(chain_id);
        let decimals = self
            .provider
            .reader(chain_id)?
            .decimals(token)
            .await
            .map_err(|e| ComputeError::Internal(e.to_string()))?;
        let per_minute = price_units(&environment.config.price_min, decimals)
            .ok_or_else(|| ComputeError::Internal("price_min has too many decimals".into()))?;
        // Rounded up: a started minute's fraction is paid.
        let amount = per_minute.saturating_mul(U256::from(seconds));
        Ok(amount.div_ceil(U256::from(60u8)))
    }

    /// initializeCompute: for each dataset and the algorithm, `{"validOrder"}` when its order
    /// and fees still hold until `validUntil`, else the datatoken and a fee to order (or reuse
    /// the order) with. One item only carries the compute fee: the first with an order to
    /// reuse, else the first dataset.
    pub async fn initialize(&self, request: InitializeRequest) -> Result<Value, ComputeError> {
        let environment = self.environment(&request.environment)?;
        let now = now_ms() / 1000;
        if request.valid_until <= now {
            return Err(ComputeError::ValidUntil);
        }
        if request.datasets.is_empty() {
            return Err(ComputeError::Invalid("datasets must not be empty".into()));
        }
        let algorithm =
            checks::resolve_algorithm(&self.provider, &request.algorithm, false).await?;
        // Each item: (resource, asset, service index, order state).
        let mut items = Vec::new();
        for (i, dataset) in request.datasets.iter().enumerate() {
            let resource = Resource::dataset(i);
            let (asset, index) = checks::check_dataset(
                &self.provider,
                &resource,
                dataset,
                &request.consumer,
                &algorithm,
            )
            .await?;
            let state = self
                .order_state(
                    &asset,
                    index,
                    request.consumer,
                    environment,
                    dataset.transfer_tx.as_deref(),
                    request.valid_until,
                )
                .await?;
            items.push((asset, index, state));
        }
        let algorithm_item = match &algorithm {
            Algorithm::Published {
                asset,
                service_index,
                ..
            } => {
                let state = self
                    .order_state(
                        asset,
                        *service_index,
                        request.consumer,
                        environment,
                        request.algorithm.transfer_tx.as_deref(),
                        request.valid_until,
                    )
                    .await?;
                Some((asset.clone(), *service_index, state))
            }
            Algorithm::Raw { .. } => None,
        };
        let all = items.iter().chain(algorithm_item.iter());
        let already_paid = all
            .clone()
            .any(|(_, _, s)| matches!(s, OrderState::Valid(_)));
        let payer = if already_paid {
            None
        } else {
            Some(
                all.clone()
                    .position(|(_, _, s)| matches!(s, OrderState::Reuse(_)))
                    .unwrap_or(0),
            )
        };
        let chain_id = items[0].0.chain_id;
        let seconds = (request.valid_until - now)
            .min(environment.config.max_job_duration_secs as i64)
            .max(0) as u64;
        let amount = self
            .compute_fee_amount(environment, chain_id, seconds)
            .await?;
        let mut answers = Vec::new();
        for (position, (asset, index, state)) in all.enumerate() {
            let item_amount = if payer == Some(position) {
                amount
            } else {
                U256::ZERO
            };
            answers.push(self.item_answer(
                asset,
                *index,
                state,
                environment,
                request.valid_until,
                item_amount,
            )?);
        }
        let algorithm_answer = if algorithm_item.is_some() {
            answers.pop().unwrap_or(Value::Null)
        } else {
            json!({})
        };
        Ok(json!({"datasets": answers, "algorithm": algorithm_answer}))
    }

    fn item_answer(
        &self,
        asset: &Asset,
        index: usize,
        state: &OrderState,
        environment: &Environment,
        valid_until: i64,
        amount: U256,
    ) -> Result<Value, ComputeError> {
        if let OrderState::Valid(tx) = state {
            return Ok(json!({ "validOrder": format!("{tx:#x}") }));
        }
        let service = &asset.services[index];
        let datatoken = service
            .datatoken()
            .ok_or_else(|| ComputeError::Invalid("the service has no datatoken".into()))?;
        let fee_for = FeeFor {
            datatoken: &datatoken,
            service_id: &service.id,
            environment: Some(environment.id()),
            timestamp: now_ms() as f64 / 1000.0,
        };
        let fee = fees::sign(
            self.provider.keys.signer(asset.chain_id),
            &fee_for,
            self.fee_token(asset.chain_id),
            amount,
            valid_until.max(0) as u64,
        )
        .map_err(|e| ComputeError::Internal(e.to_string()))?;
        let mut answer = json!({
            "datatoken": datatoken.to_checksum(None),
            "providerFee": fee.to_json(),
        });
        if let OrderState::Reuse(tx) = state {
            answer["validOrder"] = json!(format!("{tx:#x}"));
        }
        Ok(answer)
    }

    /// Whether an item's order (if any) still holds, and its fee for how long.
    async fn order_state(
        &self,
        asset: &Asset,
        index: usize,
        consumer: Address,
        environment: &Environment,
        transfer_tx: Option<&str>,
        valid_until: i64,
    ) -> Result<OrderState, ComputeError> {
        let Some(tx) = transfer_tx.and_then(|t| B256::from_str(t).ok()) else {
            return Ok(OrderState::New);
        };
        let expected = Expected {
            asset,
            service_index: index,
            service: &asset.services[index],
            consumer,
            provider: self.provider.keys.address(asset.chain_id),
            environment: Some(environment.id()),
            allow_expired_fee: true,
        };
        match self
            .provider
            .reader(asset.chain_id)?
            .validate_order(tx, &expected)
            .await
        {
            Ok(order) if order.provider_fee.valid_until >= valid_until.max(0) as u64 => {
                Ok(OrderState::Valid(tx))
            }
            Ok(_) | Err(OrderError::WrongEnvironment) => Ok(OrderState::Reuse(tx)),
            Err(OrderError::Rpc(chain, detail)) => {
                Err(ComputeError::Internal(format!("chain {chain}: {detail}")))
            }
            Err(_) => Ok(OrderState::New),
        }
    }

    /// Checks who is asking: the signature over `request` (nonce strictly increasing) or the
    /// session. The nonce is consumed only by [`Self::consume`], once the request is valid.
    async fn check_authority(
        &self,
        authority: &Authority<'_>,
        request: &ConsumerRequest<'_>,
    ) -> Result<(Address, Option<String>), ComputeError> {
        let address = authority.address()?;
        let Authority::Signed {
            nonce, signature, ..
        } = authority
        else {
            return Ok((address, None));
        };
        let nonce = match nonce {
            Some(n) => n.to_string(),
            None => self.next_nonce(&address).await?,
        };
        self.provider
            .check_signature(request, &address, &nonce, signature)
            .await?;
        Ok((address, Some(nonce)))
    }

    /// The nonce a client that sent none signed: the stored one plus one (ocean.js 3.2).
    async fn next_nonce(&self, address: &Address) -> Result<String, ComputeError> {
        let last = self.provider.nonce(address).await?;
        let next = last
            .parse::<u128>()
            .ok()
            .and_then(|n| n.checked_add(1))
            .ok_or_else(|| ComputeError::Invalid("the nonce field is required.".into()))?;
        Ok(next.to_string())
    }

    async fn consume(&self, address: &Address, nonce: Option<&str>) -> Result<(), ComputeError> {
        if let Some(nonce) = nonce {
            let parsed = Nonce::parse(nonce).map_err(ProviderError::from)?;
            nonce::consume(self.provider.db(), address, &parsed)
                .await
                .map_err(ProviderError::from)?;
        }
        Ok(())
    }

    /// compute POST: checks the signature, every dataset's order and the algorithm, then
    /// records the job (waiting, 1) and queues it for a worker.
    pub async fn start(
        &self,
        request: StartRequest,
        authority: Authority<'_>,
    ) -> Result<Job, ComputeError> {
        let first = request
            .datasets
            .first()
            .ok_or_else(|| ComputeError::Invalid("dataset is required".into()))?;
        let signed = ConsumerRequest::ComputeStart {
            consumer: match &authority {
                Authority::Signed { consumer_text, .. } => consumer_text,
                Authority::Session(_) => "",
            },
            document_id: &first.document_id,
        };
        let (owner, nonce) = self.check_authority(&authority, &signed).await?;
        if owner != request.consumer {
            return Err(ComputeError::Invalid(
                "consumerAddress does not match".into(),
            ));
        }
        let environment = match &request.environment {
            Some(id) => self.environment(id)?,
            None => self.environments.first().ok_or(ComputeError::Unavailable)?,
        };
        let algorithm = checks::resolve_algorithm(&self.provider, &request.algorithm, true).await?;
        let mut fee_valid_until = 0u64;
        let mut endpoints = Vec::new();
        let mut chain_id = 0;
        for (i, dataset) in request.datasets.iter().enumerate() {
            let resource = Resource::dataset(i);
            let (asset, index) =
                checks::check_dataset(&self.provider, &resource, dataset, &owner, &algorithm)
                    .await?;
            let order = self
                .check_order(
                    &asset,
                    index,
                    owner,
                    environment,
                    dataset.transfer_tx.as_deref(),
                    &resource.service_field(),
                )
                .await?;
            fee_valid_until = fee_valid_until.max(order);
            endpoints.push(asset.services[index].service_endpoint.clone());
            if i == 0 {
                chain_id = asset.chain_id;
            }
        }
        let (algorithm_container, algorithm_endpoint) = match &algorithm {
            Algorithm::Published {
                asset,
                service_index,
                ..
            } => {
                self.check_order(
                    asset,
                    *service_index,
                    owner,
                    environment,
                    request.algorithm.transfer_tx.as_deref(),
                    "algorithm",
                )
                .await?;
                (
                    asset.document["metadata"]["algorithm"]["container"].clone(),
                    asset.services[*service_index].service_endpoint.clone(),
                )
            }
            Algorithm::Raw { meta, .. } => (meta["container"].clone(), String::new()),
        };
        if let Some(output) = &request.output
            && !(output.is_object() || output.is_null())
        {
            return Err(rejected("output", "invalid"));
        }
        self.consume(&owner, nonce.as_deref()).await?;
        let now = now_ms() / 1000;
        let mut max_duration = environment.config.max_job_duration_secs;
        if fee_valid_until > now as u64 {
            max_duration = max_duration.min(fee_valid_until - now as u64).max(1);
        }
        let job_id = uuid::Uuid::new_v4().simple().to_string();
        let agreement = first.transfer_tx.clone().unwrap_or_default().to_lowercase();
        let stored = json!({
            "datasets": request.datasets,
            "algorithm": request.algorithm,
            "output": request.output,
            "datasetEndpoints": endpoints,
            "algorithmContainer": algorithm_container,
            "algorithmEndpoint": algorithm_endpoint,
            "validUntil": fee_valid_until,
        });
        self.jobs
            .insert(&NewJob {
                id: &job_id,
                agreement_id: &agreement,
                owner: &format!("{owner:#x}"),
                chain_id,
                environment: environment.id(),
                dataset_did: &first.document_id,
                algorithm_did: request.algorithm.document_id.as_deref(),
                request: &stored,
                max_duration_secs: max_duration,
            })
            .await?;
        self.announce(&job_id).await;
        self.queue.push_compute(&job_id).await?;
        self.jobs
            .get(&job_id)
            .await?
            .ok_or(ComputeError::JobNotFound)
    }

    /// Checks an item's order for a job: on chain, for this service and environment, its fee
    /// unexpired. Returns the fee's `validUntil`.
    async fn check_order(
        &self,
        asset: &Asset,
        index: usize,
        consumer: Address,
        environment: &Environment,
        transfer_tx: Option<&str>,
        resource: &str,
    ) -> Result<u64, ComputeError> {
        let tx = transfer_tx
            .and_then(|t| B256::from_str(t).ok())
            .ok_or_else(|| rejected(resource, "order_invalid"))?;
        let expected = Expected {
            asset,
            service_index: index,
            service: &asset.services[index],
            consumer,
            provider: self.provider.keys.address(asset.chain_id),
            environment: Some(environment.id()),
            allow_expired_fee: false,
        };
        match self
            .provider
            .reader(asset.chain_id)?
            .validate_order(tx, &expected)
            .await
        {
            Ok(order) => Ok(order.provider_fee.valid_until),
            Err(
                OrderError::WrongEnvironment
                | OrderError::FeeExpired
                | OrderError::NoProviderFee(_),
            ) => Err(rejected("order", "fees_not_paid")),
            Err(OrderError::Rpc(chain, detail)) => {
                Err(ComputeError::Internal(format!("chain {chain}: {detail}")))
            }
            Err(e) => {
                tracing::debug!(error = %e, resource, "compute order refused");
                Err(rejected(
                    resource,
                    if resource == "algorithm" {
                        "in_use_or_not_on_chain"
                    } else {
                        "order_invalid"
                    },
                ))
            }
        }
    }

    /// Announces a job's change to subscribers.
    pub async fn announce(&self, job_id: &str) {
        self.feed.publish(Topic::ComputeJob, job_id).await;
    }

    /// compute GET: an owner's jobs (not deleted), newest first, narrowed by the selector.
    pub async fn status(
        &self,
        owner: &Address,
        selector: &JobSelector,
    ) -> Result<Vec<Job>, ComputeError> {
        let (dataset, agreement) = selector.split();
        self.jobs
            .of_owner(
                &format!("{owner:#x}"),
                selector.job_id.as_deref(),
                agreement.as_deref(),
                dataset.as_deref(),
                None,
                100,
            )
            .await
            .map_err(Into::into)
    }

    /// The jobs a stop or delete is about, checked against its signature.
    async fn selected_for(
        &self,
        selector: &JobSelector,
        authority: &Authority<'_>,
    ) -> Result<(Address, Option<String>, Vec<Job>), ComputeError> {
        let signed = ConsumerRequest::ComputeStop {
            consumer: match authority {
                Authority::Signed { consumer_text, .. } => consumer_text,
                Authority::Session(_) => "",
            },
            job_id: selector.job_id.as_deref().unwrap_or(""),
            document_id: selector.document_id.as_deref().unwrap_or(""),
        };
        let (owner, nonce) = self.check_authority(authority, &signed).await?;
        if selector.job_id.is_none()
            && selector.document_id.is_none()
            && selector.agreement_id.is_none()
        {
            return Err(ComputeError::Invalid(
                "jobId or documentId is required".into(),
            ));
        }
        let jobs = self.status(&owner, selector).await?;
        if jobs.is_empty() {
            return Err(ComputeError::JobNotFound);
        }
        Ok((owner, nonce, jobs))
    }

    /// compute PUT: stops the selected jobs. A waiting job ends at once; a running one when
    /// its runner next looks (within a few seconds), or its operator is told.
    pub async fn stop(
        &self,
        selector: &JobSelector,
        authority: Authority<'_>,
    ) -> Result<Vec<Job>, ComputeError> {
        let (owner, nonce, jobs) = self.selected_for(selector, &authority).await?;
        self.consume(&owner, nonce.as_deref()).await?;
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            self.stop_job(&job).await?;
            if let Some(job) = self.jobs.get(&job.id).await? {
                out.push(job);
            }
        }
        Ok(out)
    }

    async fn stop_job(&self, job: &Job) -> Result<(), ComputeError> {
        if job.is_final() {
            return Ok(());
        }
        self.jobs.request_stop(&job.id).await?;
        if job.executor_ref.is_some()
            && let Ok(environment) = self.environment(&job.environment)
            && let Err(e) = self.executors.stop(environment, job).await
        {
            // The poll job asks again; the stop request is recorded.
            tracing::warn!(job = %job.id, error = %e, "the operator did not take the stop");
        }
        self.announce(&job.id).await;
        Ok(())
    }

    /// compute DELETE: stops the selected jobs and deletes them with their results and logs.
    /// A job still running is deleted by its runner when it has stopped.
    pub async fn delete(
        &self,
        selector: &JobSelector,
        authority: Authority<'_>,
    ) -> Result<Vec<Job>, ComputeError> {
        let (owner, nonce, jobs) = self.selected_for(selector, &authority).await?;
        self.consume(&owner, nonce.as_deref()).await?;
        let mut out = Vec::with_capacity(jobs.len());
        for mut job in jobs {
            self.stop_job(&job).await?;
            self.jobs.mark_removed(&job.id).await?;
            if let Some(current) = self.jobs.get(&job.id).await?
                && current.is_final()
            {
                self.purge(&current).await?;
            }
            job.removed = 1;
            out.push(job);
        }
        Ok(out)
    }

    /// Deletes a job's results and logs, then the job.
    pub async fn purge(&self, job: &Job) -> Result<(), ComputeError> {
        for result in job.results() {
            if let Some(key) = &result.key {
                self.blobs
                    .delete(&object_store::path::Path::from(key.as_str()))
                    .await?;
            }
        }
        if let Ok(environment) = self.environment(&job.environment)
            && job.executor_ref.is_some()
            && let Err(e) = self.executors.forget(environment, job).await
        {
            tracing::warn!(job = %job.id, error = %e, "the operator did not delete the job");
        }
        self.jobs.delete(&job.id).await?;
        self.announce(&job.id).await;
        Ok(())
    }

    /// computeResult: result `index` of a job (outputs, then logs), for its owner only.
    pub async fn result(
        &self,
        job_id: &str,
        index: i64,
        authority: Authority<'_>,
    ) -> Result<(jobs::ResultFile, crate::content::FileStream), ComputeError> {
        let index_text = index.to_string();
        let signed = ConsumerRequest::ComputeResult {
            consumer: match &authority {
                Authority::Signed { consumer_text, .. } => consumer_text,
                Authority::Session(_) => "",
            },
            job_id,
            index: &index_text,
        };
        let (owner, nonce) = self.check_authority(&authority, &signed).await?;
        let job = self
            .jobs
            .get(job_id)
            .await?
            .filter(|j| j.owner.eq_ignore_ascii_case(&format!("{owner:#x}")) && j.removed == 0)
            .ok_or(ComputeError::JobNotFound)?;
        let results = job.results();
        let file = usize::try_from(index)
            .ok()
            .and_then(|i| results.get(i))
            .cloned()
            .ok_or(ComputeError::NoSuchResult(index))?;
        let key = file.key.clone().ok_or(ComputeError::NoSuchResult(index))?;
        let stream = self.open_blob(&key).await?;
        self.consume(&owner, nonce.as_deref()).await?;
        Ok((file, stream))
    }

    async fn open_blob(&self, key: &str) -> Result<crate::content::FileStream, ComputeError> {
        use futures::StreamExt;
        use object_store::ObjectStoreExt;
        let got = self
            .blobs
            .store()
            .get(&object_store::path::Path::from(key))
            .await?;
        Ok(Box::pin(
            got.into_stream().map(|c| c.map_err(std::io::Error::other)),
        ))
    }

    /// The last `bytes` of a job's algorithm log.
    pub async fn log_tail(&self, job: &Job, bytes: u64) -> Result<Option<String>, ComputeError> {
        use object_store::ObjectStoreExt;
        let Some(log) = job.results().into_iter().find(|r| r.kind == "algorithmLog") else {
            return Ok(None);
        };
        let Some(key) = log.key else {
            return Ok(None);
        };
        let start = log.filesize.saturating_sub(bytes);
        let data = self
            .blobs
            .store()
            .get_range(
                &object_store::path::Path::from(key.as_str()),
                start..log.filesize,
            )
            .await?;
        Ok(Some(String::from_utf8_lossy(&data).into_owned()))
    }

    /// A job of an owner (GraphQL).
    pub async fn job_of(&self, owner: &Address, id: &str) -> Result<Job, ComputeError> {
        self.jobs
            .get(id)
            .await?
            .filter(|j| j.owner.eq_ignore_ascii_case(&format!("{owner:#x}")) && j.removed == 0)
            .ok_or(ComputeError::JobNotFound)
    }

    /// Opens result `index` of a job of `owner` (a signed-in wallet).
    pub async fn open_result(
        &self,
        owner: &Address,
        job_id: &str,
        index: usize,
    ) -> Result<(jobs::ResultFile, crate::content::FileStream), ComputeError> {
        let job = self.job_of(owner, job_id).await?;
        let file = job
            .results()
            .get(index)
            .cloned()
            .ok_or(ComputeError::NoSuchResult(index as i64))?;
        let key = file
            .key
            .clone()
            .ok_or(ComputeError::NoSuchResult(index as i64))?;
        let stream = self.open_blob(&key).await?;
        Ok((file, stream))
    }
}

/// Where an item's order stands for initializeCompute.
enum OrderState {
    /// No usable order: order anew.
    New,
    /// The order holds but its fee must be renewed: reuse it.
    Reuse(B256),
    /// The order and its fee hold until the asked `validUntil`.
    Valid(B256),
}

impl JobSelector {
    /// `documentId` is a DID or an agreement id: (dataset DID, agreement id).
    fn split(&self) -> (Option<String>, Option<String>) {
        let mut agreement = self.agreement_id.clone();
        let mut dataset = None;
        if let Some(document) = &self.document_id {
            if document.starts_with("did:") {
                dataset = Some(document.clone());
            } else if agreement.is_none() {
                // ocean.js strips `0x` from what it sends as documentId.
                let hex = document.trim_start_matches("0x");
                agreement = Some(format!("0x{hex}"));
            }
        }
        (dataset, agreement)
    }
}

impl From<AssetError> for ComputeError {
    fn from(e: AssetError) -> Self {
        ComputeError::from(ProviderError::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_convert_to_token_units() {
        assert_eq!(price_units("0", 18), Some(U256::ZERO));
        assert_eq!(price_units("1", 6), Some(U256::from(1_000_000u64)));
        assert_eq!(price_units("0.5", 2), Some(U256::from(50u64)));
        assert_eq!(
            price_units("0.001", 2),
            None,
            "more digits than the token has"
        );
        assert_eq!(price_units("-1", 18), None);
        assert_eq!(price_units("1e3", 18), None);
        assert_eq!(price_units("", 18), None);
    }

    #[test]
    fn every_status_has_its_upstream_text() {
        assert_eq!(status::text(status::RUNNING), "Running algorithm ");
        assert_eq!(status::text(status::FINISHED), "Job finished");
        assert_eq!(status::text(status::WARMING_UP), "Warming up");
    }

    #[test]
    fn document_ids_are_dids_or_agreements() {
        let s = JobSelector {
            document_id: Some("did:op:abc".into()),
            ..Default::default()
        };
        assert_eq!(s.split(), (Some("did:op:abc".into()), None));
        let s = JobSelector {
            document_id: Some("ab12".into()),
            ..Default::default()
        };
        assert_eq!(s.split(), (None, Some("0xab12".into())));
    }
}

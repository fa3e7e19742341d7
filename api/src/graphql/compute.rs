//! Compute-to-data over GraphQL: environments, the signed-in wallet's jobs (Relay), one job
//! with its timings, log tail and result links, start / stop / delete, and a subscription to
//! a job's changes on the shared change feed. The flow is `wharf_core::compute`, as for the
//! Provider routes; a wallet session stands in for the per-request signature.
use async_graphql::{
    ComplexObject, Context, Enum, InputObject, Object, SimpleObject,
    connection::{Connection, Edge, EmptyFields},
};
use serde_json::{Value, json};
use wharf_core::{
    auth::Address,
    compute::{
        AlgorithmInput, Authority, ComputeError, DatasetInput, JobSelector, StartRequest,
        jobs::Job, status,
    },
    feed::{Topic, next_change},
};

use super::{
    caller,
    error::{Code, bad_input, error, internal},
    require_wallet, services,
};

fn compute_error(e: ComputeError) -> async_graphql::Error {
    match e {
        ComputeError::JobNotFound => error(Code::NotFound, "compute job does not exist"),
        ComputeError::NoSuchResult(i) => error(Code::NotFound, format!("no result {i}")),
        ComputeError::Unavailable => error(Code::NotFound, "no compute environment is offered"),
        ComputeError::Rejected { resource, code } => bad_input(format!("{resource}: {code}")),
        ComputeError::Db(db) => internal(db),
        ComputeError::Blob(b) => internal(b),
        ComputeError::Queue(q) => internal(q),
        ComputeError::Internal(detail) => internal(detail),
        ComputeError::Provider(p) => match p {
            wharf_core::provider::ProviderError::Db(db) => internal(db),
            wharf_core::provider::ProviderError::Internal(d) => internal(d),
            other => bad_input(other.to_string()),
        },
        other => bad_input(other.to_string()),
    }
}

/// A compute environment on one chain.
#[derive(SimpleObject)]
pub struct ComputeEnvironment {
    id: String,
    chain_id: String,
    description: String,
    /// `SANDBOX` (here, bubblewrap) or `OPERATOR` (Ocean's operator-service).
    executor: ComputeExecutor,
    cpu_number: u64,
    ram_gb: u64,
    disk_gb: u64,
    /// Price per minute, in whole fee tokens.
    price_min: String,
    fee_token: String,
    /// The address datasets and algorithms are ordered for.
    consumer_address: String,
    current_jobs: u64,
    max_jobs: u64,
    /// Longest job, in seconds.
    max_job_duration: u64,
    /// Seconds results are kept after a job ends.
    storage_expiry: u64,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ComputeExecutor {
    Sandbox,
    Operator,
}

/// A result of a job: outputs first, then the log.
#[derive(SimpleObject)]
pub struct ComputeResult {
    index: i32,
    filename: String,
    filesize: u64,
    /// `output` or `algorithmLog`.
    #[graphql(name = "type")]
    kind: String,
    /// Where to download it, with the same bearer token as GraphQL.
    url: String,
}

/// A compute job.
#[derive(SimpleObject)]
#[graphql(complex, name = "ComputeJob")]
pub struct ComputeJobObject {
    id: String,
    /// The order that paid for the job (its first dataset's).
    agreement_id: String,
    environment: String,
    /// The Ocean status code (1 waiting … 70 ended).
    status: i32,
    status_text: String,
    /// Whether it ended (status 70), well or not.
    finished: bool,
    /// Why it failed, when it did.
    error: Option<String>,
    stop_requested: bool,
    dataset_dids: Vec<String>,
    /// None for a raw algorithm.
    algorithm_did: Option<String>,
    /// Unix milliseconds.
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    results: Vec<ComputeResult>,
}

impl From<Job> for ComputeJobObject {
    fn from(job: Job) -> Self {
        let request = job.request();
        let results = job
            .results()
            .into_iter()
            .enumerate()
            .map(|(i, r)| ComputeResult {
                index: i as i32,
                url: format!("/compute/jobs/{}/results/{i}", job.id),
                filename: r.filename,
                filesize: r.filesize,
                kind: r.kind,
            })
            .collect();
        Self {
            finished: job.is_final(),
            error: job.error.clone(),
            stop_requested: job.stopreq != 0,
            dataset_dids: request["datasets"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .filter_map(|d| d["document_id"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            algorithm_did: job.algorithm_did.clone(),
            id: job.id,
            agreement_id: job.agreement_id,
            environment: job.environment,
            status: job.status,
            status_text: job.status_text,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            results,
        }
    }
}

#[ComplexObject]
impl ComputeJobObject {
    /// The last `bytes` (default 4096, at most 65536) of the algorithm's log, once it ended.
    async fn log_tail(
        &self,
        ctx: &Context<'_>,
        bytes: Option<i32>,
    ) -> async_graphql::Result<Option<String>> {
        let bytes = bytes.unwrap_or(4096).clamp(1, 65536) as u64;
        let owner = require_wallet(ctx)?;
        let compute = &services(ctx)?.compute;
        let job = compute
            .job_of(&owner, &self.id)
            .await
            .map_err(compute_error)?;
        compute.log_tail(&job, bytes).await.map_err(compute_error)
    }
}

/// A dataset of a job to start.
#[derive(InputObject)]
pub struct ComputeDatasetInput {
    did: String,
    service_id: String,
    /// The order (or reuse) transaction that paid for it.
    transfer_tx_id: String,
    /// JSON passed to the file's request.
    userdata: Option<String>,
}

/// The algorithm: a published one (`did`, `serviceId`, `transferTxId`), or raw code with
/// the command that runs it (`entrypoint`, `$ALGO` is the code's path).
#[derive(InputObject)]
pub struct ComputeAlgorithmInput {
    did: Option<String>,
    service_id: Option<String>,
    transfer_tx_id: Option<String>,
    rawcode: Option<String>,
    entrypoint: Option<String>,
    /// JSON given to the algorithm as `/data/inputs/algoCustomData.json`.
    custom_data: Option<String>,
}

#[derive(InputObject)]
pub struct StartComputeInput {
    /// None: the first environment offered.
    environment: Option<String>,
    datasets: Vec<ComputeDatasetInput>,
    algorithm: ComputeAlgorithmInput,
}

fn json_text(text: Option<String>, what: &str) -> async_graphql::Result<Option<Value>> {
    text.filter(|t| !t.is_empty())
        .map(|t| serde_json::from_str(&t).map_err(|_| bad_input(format!("{what} is not JSON"))))
        .transpose()
}

#[derive(Default)]
pub struct ComputeQuery;

#[Object]
impl ComputeQuery {
    /// The compute environments, on each chain served.
    async fn compute_environments(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ComputeEnvironment>> {
        let services = services(ctx)?;
        let by_chain = services
            .compute
            .environments_by_chain()
            .await
            .map_err(compute_error)?;
        let mut out = Vec::new();
        let Value::Object(chains) = by_chain else {
            return Ok(out);
        };
        for (chain_id, envs) in chains {
            for env in envs.as_array().cloned().unwrap_or_default() {
                let id = env["id"].as_str().unwrap_or_default().to_string();
                let Ok(configured) = services.compute.environment(&id) else {
                    continue;
                };
                let c = &configured.config;
                out.push(ComputeEnvironment {
                    chain_id: chain_id.clone(),
                    description: c.description.clone(),
                    executor: match c.executor {
                        wharf_core::config::ExecutorKind::Sandbox => ComputeExecutor::Sandbox,
                        wharf_core::config::ExecutorKind::Operator => ComputeExecutor::Operator,
                    },
                    cpu_number: c.cpu_number,
                    ram_gb: c.ram_gb,
                    disk_gb: c.disk_gb,
                    price_min: c.price_min.clone(),
                    fee_token: env["feeToken"].as_str().unwrap_or_default().to_string(),
                    consumer_address: env["consumerAddress"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    current_jobs: env["currentJobs"].as_u64().unwrap_or_default(),
                    max_jobs: c.max_jobs,
                    max_job_duration: c.max_job_duration_secs,
                    storage_expiry: c.storage_expiry_secs,
                    id,
                });
            }
        }
        Ok(out)
    }

    /// The signed-in wallet's compute jobs, newest first.
    #[graphql(complexity = "super::page_complexity(first, child_complexity)")]
    async fn compute_jobs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, ComputeJobObject, EmptyFields, EmptyFields>> {
        let owner = require_wallet(ctx)?;
        let first = match first {
            None => 20,
            Some(n) if (0..=100).contains(&n) => n as u64,
            Some(_) => return Err(bad_input("first must be between 0 and 100")),
        };
        let before = match &after {
            Some(cursor) => Some(
                cursor
                    .split_once(':')
                    .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_string())))
                    .ok_or_else(|| bad_input("after is not a cursor from this connection"))?,
            ),
            None => None,
        };
        let mut rows = services(ctx)?
            .compute
            .jobs
            .of_owner(&format!("{owner:#x}"), None, None, None, before, first + 1)
            .await
            .map_err(|e| compute_error(e.into()))?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(rows.into_iter().map(|job| {
            Edge::new(
                format!("{}:{}", job.created_at, job.id),
                ComputeJobObject::from(job),
            )
        }));
        Ok(connection)
    }

    /// A compute job of the signed-in wallet.
    async fn compute_job(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<ComputeJobObject> {
        let owner = require_wallet(ctx)?;
        let job = services(ctx)?
            .compute
            .job_of(&owner, &id)
            .await
            .map_err(compute_error)?;
        Ok(job.into())
    }
}

#[derive(Default)]
pub struct ComputeMutation;

#[Object]
impl ComputeMutation {
    /// Starts a compute job for the signed-in wallet. Its datasets and algorithm must be
    /// ordered first (for the environment's consumer address, with the fees initializeCompute
    /// gives); they are checked on chain as for the Provider route.
    async fn start_compute(
        &self,
        ctx: &Context<'_>,
        input: StartComputeInput,
    ) -> async_graphql::Result<ComputeJobObject> {
        let owner = require_wallet(ctx)?;
        if input.datasets.is_empty() || input.datasets.len() > 16 {
            return Err(bad_input("give 1 to 16 datasets"));
        }
        let mut datasets = Vec::with_capacity(input.datasets.len());
        for d in input.datasets {
            datasets.push(DatasetInput {
                document_id: d.did,
                service_id: d.service_id,
                transfer_tx: Some(d.transfer_tx_id),
                userdata: json_text(d.userdata, "userdata")?,
            });
        }
        let a = input.algorithm;
        let meta = a.rawcode.map(|code| {
            json!({"rawcode": code, "container": {"entrypoint": a.entrypoint.clone().unwrap_or_default()}})
        });
        let algorithm = AlgorithmInput {
            document_id: a.did,
            service_id: a.service_id,
            transfer_tx: a.transfer_tx_id,
            meta,
            custom_data: json_text(a.custom_data, "customData")?,
            userdata: None,
        };
        let job = services(ctx)?
            .compute
            .start(
                StartRequest {
                    consumer: owner,
                    environment: input.environment,
                    datasets,
                    algorithm,
                    output: None,
                },
                Authority::Session(owner),
            )
            .await
            .map_err(compute_error)?;
        Ok(job.into())
    }

    /// Stops a job of the signed-in wallet.
    async fn stop_compute(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<ComputeJobObject> {
        let owner = require_wallet(ctx)?;
        let jobs = services(ctx)?
            .compute
            .stop(
                &JobSelector {
                    job_id: Some(id),
                    ..Default::default()
                },
                Authority::Session(owner),
            )
            .await
            .map_err(compute_error)?;
        jobs.into_iter()
            .next()
            .map(Into::into)
            .ok_or_else(|| error(Code::NotFound, "compute job does not exist"))
    }

    /// Deletes a job of the signed-in wallet with its results and logs (stopping it first).
    async fn delete_compute(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<bool> {
        let owner = require_wallet(ctx)?;
        let jobs = services(ctx)?
            .compute
            .delete(
                &JobSelector {
                    job_id: Some(id),
                    ..Default::default()
                },
                Authority::Session(owner),
            )
            .await
            .map_err(compute_error)?;
        Ok(!jobs.is_empty())
    }
}

#[derive(Default)]
pub struct ComputeSubscription;

#[async_graphql::Subscription]
impl ComputeSubscription {
    /// A job now and at every change, ending once it ended (status 70) or was deleted.
    /// Owner only: authenticate in `connection_init`.
    async fn compute_job_updates(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<impl futures::Stream<Item = ComputeJobObject> + use<>> {
        let owner = match caller(ctx) {
            Some(wharf_core::auth::Principal::Wallet(a)) => a,
            Some(_) => return Err(error(Code::Forbidden, "this needs a wallet session")),
            None => {
                return Err(error(
                    Code::Unauthenticated,
                    "authenticate in connection_init first",
                ));
            }
        };
        let services = services(ctx)?.clone();
        // Listen before reading, so no change falls between the read and the listening.
        let changes = services.feed.subscribe();
        let job = services
            .compute
            .job_of(&owner, &id)
            .await
            .map_err(compute_error)?;
        let slot = super::subscriptions::take(ctx)?;
        let state = JobWatch {
            services,
            owner,
            id,
            changes,
            next: Some(job),
            last: None,
            _slot: slot,
        };
        Ok(futures::stream::unfold(state, |mut watch| async move {
            loop {
                if let Some(job) = watch.next.take() {
                    let key = (job.status, job.status_text.clone(), job.results.clone());
                    if watch.last.as_ref() != Some(&key) {
                        // After an ended job nothing follows: the next turn ends the stream.
                        watch.last = Some(key);
                        return Some((ComputeJobObject::from(job), watch));
                    }
                }
                if watch.last.as_ref().is_some_and(|l| l.0 >= status::FINISHED) {
                    return None;
                }
                next_change(&mut watch.changes, Topic::ComputeJob, &watch.id).await?;
                match watch.services.compute.job_of(&watch.owner, &watch.id).await {
                    Ok(job) => watch.next = Some(job),
                    Err(_) => return None,
                }
            }
        }))
    }
}

struct JobWatch {
    services: std::sync::Arc<wharf_core::services::Services>,
    owner: Address,
    id: String,
    changes: tokio::sync::broadcast::Receiver<wharf_core::feed::Change>,
    next: Option<Job>,
    last: Option<(i32, String, String)>,
    _slot: super::subscriptions::Slot,
}

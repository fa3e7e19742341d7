//! Compute-to-data over GraphQL: environments, the signed-in wallet's jobs (Relay), one job
//! with its timings, log tail and result links, start / stop / delete, and a subscription to
//! a job's changes on the shared change feed. The flow is `wharf_core::compute`, as for the
//! Provider routes; a wallet session stands in for the per-request signature.
use async_graphql::{ComplexObject, Context, Enum, InputObject, Object, SimpleObject};
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
    require_wallet,
    scalars::{ChainId, Long, Timestamp},
    services,
};

/// A configured count as a GraphQL `Int`, saturating at 2^31 − 1.
fn small(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

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

/// A compute environment as offered on one chain: the machine a job runs on, its limits and
/// its price. The same environment appears once per chain served.
#[derive(SimpleObject)]
pub struct ComputeEnvironment {
    /// The environment's id; pass it as `environment` to `startCompute`.
    id: String,
    /// The chain this offer is for: orders for a job are placed on it.
    chain_id: ChainId,
    /// Free text from the operator describing the environment; may be empty.
    description: String,
    /// `SANDBOX` (here, bubblewrap) or `OPERATOR` (Ocean's operator-service).
    executor: ComputeExecutor,
    /// CPUs a job gets.
    cpu_number: i32,
    /// Memory a job gets, in gigabytes.
    ram_gb: i32,
    /// Disk space a job gets, in gigabytes.
    disk_gb: i32,
    /// Price per minute of a job, in whole fee tokens, as a decimal string (for example
    /// `"0.5"`); `"0"` means free.
    price_min: String,
    /// The ERC-20 token fees are paid in (checksummed address); the zero address when none is
    /// configured for the chain.
    fee_token: String,
    /// The address datasets and algorithms are ordered for (checksummed).
    consumer_address: String,
    /// Jobs in this environment that have not ended yet.
    current_jobs: i32,
    /// Jobs this environment runs at once; more wait in the queue.
    max_jobs: i32,
    /// Longest run a job may have, in seconds.
    max_job_duration: Long,
    /// How long results are kept after a job ends, in seconds; then the job is deleted.
    storage_expiry: Long,
}

/// How an environment runs jobs.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ComputeExecutor {
    /// A local process on the provider's host, isolated with bubblewrap.
    Sandbox,
    /// Ocean's operator-service, running jobs as Kubernetes pods.
    Operator,
}

/// A file a job produced: its outputs first, then the algorithm's log.
#[derive(SimpleObject)]
pub struct ComputeResult {
    /// Position in the job's results, from 0; the last part of `url`.
    index: i32,
    /// The file's name, as the algorithm wrote it.
    filename: String,
    /// The file's size, in bytes.
    filesize: Long,
    /// `output` (a file the algorithm wrote) or `algorithmLog` (its output and errors).
    #[graphql(name = "type")]
    kind: String,
    /// Where to download it (a path on this server), with the same bearer token as GraphQL.
    url: String,
}

super::page::connection!(
    ComputeJobConnection,
    ComputeJobEdge,
    ComputeJobObject,
    "A page of the signed-in wallet's compute jobs, newest first.",
    "One compute job with its cursor."
);

/// A compute job of the signed-in wallet: an algorithm run over one or more datasets in a
/// compute environment, with its state, timings and results.
#[derive(SimpleObject)]
#[graphql(complex, name = "ComputeJob")]
pub struct ComputeJobObject {
    /// The job's id.
    id: String,
    /// The order that paid for the job (its first dataset's).
    agreement_id: String,
    /// The id of the compute environment it runs in.
    environment: String,
    /// The Ocean status code, from 1 (warming up) through 40 (running) to 70 (ended).
    status: i32,
    /// The status in words as Ocean writes it, for example `Job started`; a failed job's says
    /// why (`Job failed: …`).
    status_text: String,
    /// Whether it ended (status 70), well or not.
    finished: bool,
    /// Why it failed; null unless it did.
    error: Option<String>,
    /// Whether a stop was asked for (by `stopCompute` or on deletion).
    stop_requested: bool,
    /// The DIDs of the datasets it computes on, in the order given.
    dataset_dids: Vec<String>,
    /// The DID of the published algorithm; null for raw code.
    algorithm_did: Option<String>,
    /// When the job was created.
    created_at: Timestamp,
    /// When the algorithm started running; null until then.
    started_at: Option<Timestamp>,
    /// When the job ended; null until then.
    finished_at: Option<Timestamp>,
    /// The files it produced; empty until it ended.
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
                filesize: r.filesize.into(),
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
            created_at: job.created_at.into(),
            started_at: job.started_at.map(Timestamp),
            finished_at: job.finished_at.map(Timestamp),
            results,
        }
    }
}

/// A compute job of the signed-in wallet, with its log.
#[ComplexObject]
impl ComputeJobObject {
    /// The end of the algorithm's log as text, once the job ended; null before that or when
    /// it left no log.
    async fn log_tail(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "How many bytes from the end of the log: default 4096, clamped to 1..65536."
        )]
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

/// A dataset of a job to start, ordered for the environment's consumer address.
#[derive(InputObject)]
pub struct ComputeDatasetInput {
    /// The dataset's DID.
    did: String,
    /// The id of its compute service.
    service_id: String,
    /// The hash of the order (or reuse) transaction that paid for it.
    transfer_tx_id: String,
    /// User data for the file's request, as a JSON text; null or empty for none.
    userdata: Option<String>,
}

/// The algorithm: a published one (`did`, `serviceId`, `transferTxId`), or raw code with
/// the command that runs it (`entrypoint`, `$ALGO` is the code's path).
#[derive(InputObject)]
pub struct ComputeAlgorithmInput {
    /// A published algorithm's DID; null for raw code.
    did: Option<String>,
    /// The id of the published algorithm's service.
    service_id: Option<String>,
    /// The hash of the order (or reuse) transaction that paid for the published algorithm.
    transfer_tx_id: Option<String>,
    /// The algorithm's source code, when it is not published.
    rawcode: Option<String>,
    /// With `rawcode`: the command that runs it, for example `python3 $ALGO`.
    entrypoint: Option<String>,
    /// JSON text given to the algorithm as `/data/inputs/algoCustomData.json`; null or empty
    /// for none.
    custom_data: Option<String>,
}

/// A compute job to start: where it runs, on what, and with which algorithm.
#[derive(InputObject)]
pub struct StartComputeInput {
    /// The id of the compute environment; null for the first one offered.
    environment: Option<String>,
    /// The datasets to compute on, 1 to 16.
    datasets: Vec<ComputeDatasetInput>,
    /// The algorithm to run over them.
    algorithm: ComputeAlgorithmInput,
}

fn json_text(text: Option<String>, what: &str) -> async_graphql::Result<Option<Value>> {
    text.filter(|t| !t.is_empty())
        .map(|t| serde_json::from_str(&t).map_err(|_| bad_input(format!("{what} is not JSON"))))
        .transpose()
}

#[derive(Default)]
pub struct ComputeQuery;

/// Compute-to-data queries: environments and the signed-in wallet's jobs.
#[Object]
impl ComputeQuery {
    /// The compute environments, once for each chain served.
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
            // The keys are the chain ids served, in decimal.
            let Ok(chain_id) = chain_id.parse::<u64>() else {
                continue;
            };
            for env in envs.as_array().cloned().unwrap_or_default() {
                let id = env["id"].as_str().unwrap_or_default().to_string();
                let Ok(configured) = services.compute.environment(&id) else {
                    continue;
                };
                let c = &configured.config;
                out.push(ComputeEnvironment {
                    chain_id: ChainId(chain_id),
                    description: c.description.clone(),
                    executor: match c.executor {
                        wharf_core::config::ExecutorKind::Sandbox => ComputeExecutor::Sandbox,
                        wharf_core::config::ExecutorKind::Operator => ComputeExecutor::Operator,
                    },
                    cpu_number: small(c.cpu_number),
                    ram_gb: small(c.ram_gb),
                    disk_gb: small(c.disk_gb),
                    price_min: c.price_min.clone(),
                    fee_token: env["feeToken"].as_str().unwrap_or_default().to_string(),
                    consumer_address: env["consumerAddress"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    current_jobs: small(env["currentJobs"].as_u64().unwrap_or_default()),
                    max_jobs: small(c.max_jobs),
                    max_job_duration: c.max_job_duration_secs.into(),
                    storage_expiry: c.storage_expiry_secs.into(),
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
        #[graphql(desc = "How many jobs to return: 0 to 100, default 20.")] first: Option<i32>,
        #[graphql(desc = "The `cursor` of the last job already fetched; null for the newest.")]
        after: Option<String>,
    ) -> async_graphql::Result<ComputeJobConnection> {
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
        let mut connection = ComputeJobConnection::new(after.is_some(), has_next);
        connection.edges.extend(rows.into_iter().map(|job| {
            ComputeJobEdge::new(
                format!("{}:{}", job.created_at, job.id),
                ComputeJobObject::from(job),
            )
        }));
        Ok(connection)
    }

    /// A compute job of the signed-in wallet; a `NOT_FOUND` error when it has none with
    /// this id.
    async fn compute_job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's id.")] id: String,
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

/// Compute-to-data mutations: start, stop and delete the signed-in wallet's jobs.
#[Object]
impl ComputeMutation {
    /// Starts a compute job for the signed-in wallet. Its datasets and algorithm must be
    /// ordered first (for the environment's consumer address, with the fees initializeCompute
    /// gives); they are checked on chain as for the Provider route.
    async fn start_compute(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job to start.")] input: StartComputeInput,
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

    /// Asks a job of the signed-in wallet to stop and returns it as it is now; it ends (status
    /// 70) once stopped. A job that already ended is returned unchanged.
    async fn stop_compute(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's id.")] id: String,
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
    /// True when a job was deleted.
    async fn delete_compute(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's id.")] id: String,
    ) -> async_graphql::Result<bool> {
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

/// Compute-to-data subscriptions: a job's changes as they happen.
#[async_graphql::Subscription]
impl ComputeSubscription {
    /// A job now and at every change, ending once it ended (status 70) or was deleted.
    /// Owner only: authenticate in `connection_init`.
    async fn compute_job_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The job's id.")] id: String,
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

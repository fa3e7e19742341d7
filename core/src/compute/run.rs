//! Running jobs: a worker claims a waiting job (one runner at a time, within its
//! environment's `max_jobs`), launches it with its environment's executor and records how it
//! ended. The sandbox executor lives here: it provisions the job's inputs and algorithm,
//! runs it, and publishes its outputs and log to the blob store.
//!
//! Who ends each state (a crash can stop a runner anywhere):
//!
//! | state | left by | ended by |
//! |---|---|---|
//! | waiting (1), its queue job lost | a crash between insert and queueing | [`ComputeService::follow_jobs`] queues it again |
//! | running here (10–60), lease expired | the runner's process died | `follow_jobs` fails it: "the worker running it stopped" |
//! | handed over (10–60) | — | `follow_jobs` polls the operator until it ends |
//! | ended, deleted while running | a delete during the run | the runner purges it when it ends; `follow_jobs` otherwise |
//! | ended, results past `storage_expiry_secs` | time | `follow_jobs` deletes them and the job |
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use futures::StreamExt;
use object_store::{ObjectStoreExt, WriteMultipart, path::Path as BlobPath};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{
    AlgorithmInput, ComputeError, ComputeService, DatasetInput, Environment,
    executor::{ExecError, Executor, Launched, Remote},
    jobs::{Job, ResultFile},
    sandbox::{JobDirs, Sandbox},
    status,
};
use crate::{content::FileStream, provider::files::FileObject, time::now_ms};

/// What [`ComputeService::run`] did with a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// It ran (or was handed over) and was recorded.
    Done,
    /// Its environment is at `max_jobs`: queue it again a little later.
    Full,
    /// Nothing to do: gone, already taken, stopped or ended.
    Skipped,
}

/// What one pass of [`ComputeService::follow_jobs`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FollowReport {
    pub polled: usize,
    pub failed_abandoned: usize,
    pub requeued: usize,
}

const BATCH: u64 = 200;

impl ComputeService {
    fn lease_ms(&self) -> i64 {
        (self.config.compute.lease_secs as i64).saturating_mul(1000)
    }

    /// Runs a waiting job (the `RunCompute` worker job).
    pub async fn run(&self, job_id: &str) -> Result<RunOutcome, ComputeError> {
        let Some(job) = self.jobs.get(job_id).await? else {
            return Ok(RunOutcome::Skipped);
        };
        if job.status != status::WARMING_UP || job.stopreq != 0 {
            return Ok(RunOutcome::Skipped);
        }
        let Ok(environment) = self.environment(&job.environment) else {
            self.end(
                &job,
                Vec::new(),
                Some("its environment is no longer offered".into()),
            )
            .await?;
            return Ok(RunOutcome::Done);
        };
        if !self
            .jobs
            .claim(job_id, self.lease_ms(), environment.config.max_jobs)
            .await?
        {
            let again = self.jobs.get(job_id).await?;
            return Ok(match again {
                Some(j) if j.status == status::WARMING_UP && j.stopreq == 0 => RunOutcome::Full,
                _ => RunOutcome::Skipped,
            });
        }
        self.announce(job_id).await;
        let Some(job) = self.jobs.get(job_id).await? else {
            return Ok(RunOutcome::Skipped);
        };
        let launched = match self.executors.of(environment) {
            Ok(executor) => executor.launch(self, environment, &job).await,
            Err(e) => Err(e),
        };
        match launched {
            Ok(Launched::Ended { results, failure }) => self.end(&job, results, failure).await?,
            Ok(Launched::HandedOver { reference }) => {
                self.jobs.set_reference(job_id, &reference).await?;
                self.announce(job_id).await;
            }
            Err(ExecError::Lost) => {}
            Err(e) => {
                tracing::warn!(job = %job_id, error = %e, "compute job failed to launch");
                self.end(&job, Vec::new(), Some(e.to_string())).await?;
            }
        }
        Ok(RunOutcome::Done)
    }

    /// Records the end of a job; a job deleted meanwhile is purged with what it produced.
    async fn end(
        &self,
        job: &Job,
        results: Vec<ResultFile>,
        failure: Option<String>,
    ) -> Result<(), ComputeError> {
        let ended = self
            .jobs
            .finish(&job.id, &results, failure.as_deref())
            .await?;
        let current = self.jobs.get(&job.id).await?;
        if !ended {
            // Someone else ended it (a stop of a waiting job, the sweep): what this runner
            // produced is not the job's, so it goes.
            for r in &results {
                if let Some(key) = &r.key {
                    let _ = self.blobs.delete(&BlobPath::from(key.as_str())).await;
                }
            }
        }
        if let Some(current) = current
            && current.removed != 0
        {
            self.purge(&current).await?;
        }
        self.announce(&job.id).await;
        Ok(())
    }

    /// Moves a job on and tells subscribers; `Lost` when it was ended elsewhere.
    pub(super) async fn advance(&self, job: &Job, to: i32) -> Result<(), ExecError> {
        match self.jobs.advance(&job.id, to, self.lease_ms()).await {
            Ok(true) => {
                self.announce(&job.id).await;
                Ok(())
            }
            Ok(false) => Err(ExecError::Lost),
            Err(e) => Err(ExecError::Failed(format!(
                "the job could not be updated: {e}"
            ))),
        }
    }

    /// Renews a running job's lease; `false` when it should stop (asked to, or ended
    /// elsewhere).
    pub(super) async fn keep_going(&self, job_id: &str) -> bool {
        match self.jobs.renew(job_id, self.lease_ms()).await {
            Ok(keep) => keep,
            // The database is away: keep running; the lease says whether anyone took over.
            Err(e) => {
                tracing::warn!(job = %job_id, error = %e, "could not renew a compute lease");
                true
            }
        }
    }

    /// Follows jobs (the compute poll cron): polls handed-over jobs, fails jobs whose runner
    /// died, queues waiting jobs whose queue job was lost, and purges deleted jobs that ended.
    pub async fn follow_jobs(&self) -> Result<FollowReport, ComputeError> {
        let mut report = FollowReport::default();
        // One cheap statement when nothing is under way: this runs every few seconds in
        // every worker.
        if !self.jobs.any_to_follow().await? {
            return Ok(report);
        }
        let now = now_ms();
        for job in self.jobs.abandoned(now, BATCH).await? {
            if self
                .jobs
                .finish(&job.id, &[], Some("the worker running it stopped"))
                .await?
            {
                report.failed_abandoned += 1;
                tracing::warn!(job = %job.id, "compute job failed: its runner stopped");
                if job.removed != 0
                    && let Some(current) = self.jobs.get(&job.id).await?
                {
                    self.purge(&current).await?;
                }
                self.announce(&job.id).await;
            }
        }
        let stale = now - (self.config.jobs.stale_after_secs as i64).saturating_mul(1000);
        for job in self.jobs.stale_waiting(stale, BATCH).await? {
            if self.jobs.touch(&job.id, stale).await? {
                self.queue.push_compute(&job.id).await?;
                report.requeued += 1;
            }
        }
        for job in self.jobs.handed_over(BATCH).await? {
            let Ok(environment) = self.environment(&job.environment) else {
                continue;
            };
            let Ok(executor) = self.executors.of(environment) else {
                continue;
            };
            if job.stopreq != 0 {
                let _ = executor.stop(environment, &job).await;
            }
            match executor.poll(self, environment, &job).await {
                Ok(remote) => {
                    report.polled += 1;
                    self.mirror(&job, remote).await?;
                }
                Err(ExecError::Failed(reason)) => {
                    self.end(&job, Vec::new(), Some(reason)).await?;
                }
                Err(e) => tracing::warn!(job = %job.id, error = %e, "could not poll a compute job"),
            }
        }
        // Deleted jobs whose runner is gone and that ended.
        for job in self.jobs.removed_and_ended(BATCH).await? {
            self.purge(&job).await?;
        }
        Ok(report)
    }

    /// Deletes the jobs whose results are past their environment's `storage_expiry_secs`
    /// (the reconciliation sweep).
    pub async fn expire_results(&self) -> Result<usize, ComputeError> {
        let now = now_ms();
        let mut expired = 0;
        for environment in self.environments.iter() {
            let expiry = (environment.config.storage_expiry_secs as i64).saturating_mul(1000);
            for job in self
                .jobs
                .expired_in(environment.id(), now - expiry, BATCH)
                .await?
            {
                self.purge(&job).await?;
                expired += 1;
            }
        }
        Ok(expired)
    }

    async fn mirror(&self, job: &Job, remote: Remote) -> Result<(), ComputeError> {
        if let Some(results) = remote.results {
            let text = remote.status_text.trim();
            let failure = if text.eq_ignore_ascii_case(status::text(status::FINISHED)) {
                None
            } else if job.stopreq != 0 {
                Some(super::jobs::STOPPED.to_string())
            } else {
                Some(
                    text.strip_prefix("Job failed: ")
                        .unwrap_or(text)
                        .to_string(),
                )
            };
            return self.end(job, results, failure).await;
        }
        if remote.status != job.status && remote.status < status::FINISHED {
            self.jobs
                .mirror(&job.id, remote.status, &remote.status_text)
                .await?;
            self.announce(&job.id).await;
        }
        Ok(())
    }

    /// Stores a stream as blob `key`, at most `limit` bytes; returns its size.
    pub(super) async fn store_blob(
        &self,
        key: &str,
        mut body: FileStream,
        limit: u64,
    ) -> Result<u64, ExecError> {
        let path = BlobPath::from(key);
        let upload = self
            .blobs
            .store()
            .put_multipart(&path)
            .await
            .map_err(|e| ExecError::Failed(format!("the blob store refused a result: {e}")))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 << 20);
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(ExecError::Failed(format!(
                        "a result could not be read: {e}"
                    )));
                }
            };
            size += chunk.len() as u64;
            if size > limit {
                let _ = writer.abort().await;
                return Err(ExecError::Failed(format!(
                    "a result is over {} MiB",
                    limit >> 20
                )));
            }
            writer.write(&chunk);
        }
        writer
            .finish()
            .await
            .map_err(|e| ExecError::Failed(format!("the blob store refused a result: {e}")))?;
        Ok(size)
    }
}

/// The `sandbox` executor.
pub struct SandboxExecutor {
    sandbox: Sandbox,
    work_dir: PathBuf,
}

impl SandboxExecutor {
    pub fn new(sandbox: Sandbox, work_dir: PathBuf) -> Self {
        Self { sandbox, work_dir }
    }
}

#[async_trait]
impl Executor for SandboxExecutor {
    async fn launch(
        &self,
        service: &ComputeService,
        environment: &Environment,
        job: &Job,
    ) -> Result<Launched, ExecError> {
        let dirs = JobDirs::create(&self.work_dir, &job.id)
            .map_err(|e| ExecError::Failed(format!("cannot prepare the job: {e}")))?;
        let outcome = run_in_sandbox(&self.sandbox, service, environment, job, &dirs).await;
        dirs.remove();
        outcome
    }

    async fn poll(
        &self,
        _service: &ComputeService,
        _environment: &Environment,
        job: &Job,
    ) -> Result<Remote, ExecError> {
        Ok(Remote {
            status: job.status,
            status_text: job.status_text.clone(),
            results: None,
        })
    }

    async fn stop(&self, _environment: &Environment, _job: &Job) -> Result<(), ExecError> {
        Ok(())
    }

    async fn forget(&self, _environment: &Environment, _job: &Job) -> Result<(), ExecError> {
        Ok(())
    }
}

/// The stored request of a job.
struct Request {
    datasets: Vec<DatasetInput>,
    algorithm: AlgorithmInput,
}

fn request_of(job: &Job) -> Result<Request, ExecError> {
    let value = job.request();
    let datasets = serde_json::from_value(value["datasets"].clone())
        .map_err(|e| ExecError::Failed(format!("the job's request is unreadable: {e}")))?;
    let algorithm = serde_json::from_value(value["algorithm"].clone())
        .map_err(|e| ExecError::Failed(format!("the job's request is unreadable: {e}")))?;
    Ok(Request {
        datasets,
        algorithm,
    })
}

async fn run_in_sandbox(
    sandbox: &Sandbox,
    service: &ComputeService,
    environment: &Environment,
    job: &Job,
    dirs: &JobDirs,
) -> Result<Launched, ExecError> {
    let limits = &environment.config.limits;
    let request = request_of(job)?;
    service.advance(job, status::CONFIGURING).await?;
    let mut log = Vec::<String>::new();
    if let Err(reason) =
        provision_datasets(service, job, &request.datasets, dirs, limits.input_mb << 20).await
    {
        service.advance(job, status::DATA_FAILED).await?;
        let results = publish(
            service,
            job,
            dirs,
            &[format!("[wharf] data provisioning failed: {reason}")],
            0,
        )
        .await?;
        return Ok(Launched::Ended {
            results,
            failure: Some(format!("data provisioning failed: {reason}")),
        });
    }
    log.push(format!(
        "[wharf] {} dataset(s) provisioned",
        request.datasets.len()
    ));
    let entrypoint = match provision_algorithm(
        service,
        job,
        &request.algorithm,
        dirs,
        limits.input_mb << 20,
    )
    .await
    {
        Ok(entrypoint) => entrypoint,
        Err(reason) => {
            service.advance(job, status::ALGORITHM_FAILED).await?;
            let results = publish(
                service,
                job,
                dirs,
                &[format!("[wharf] algorithm provisioning failed: {reason}")],
                0,
            )
            .await?;
            return Ok(Launched::Ended {
                results,
                failure: Some(format!("algorithm provisioning failed: {reason}")),
            });
        }
    };
    dirs.open_up()
        .map_err(|e| ExecError::Failed(format!("cannot prepare the job: {e}")))?;
    service.advance(job, status::PROVISIONED).await?;
    service.advance(job, status::RUNNING).await?;
    let dids: Vec<&str> = request
        .datasets
        .iter()
        .map(|d| d.document_id.as_str())
        .collect();
    let env = [
        ("DIDS", serde_json::to_string(&dids).unwrap_or_default()),
        (
            "TRANSFORMATION_DID",
            request.algorithm.document_id.clone().unwrap_or_default(),
        ),
        ("ALGO", "/data/transformations/algorithm".to_string()),
    ];
    let wall = Duration::from_secs(
        (job.max_duration_secs.max(1) as u64).min(environment.config.max_job_duration_secs),
    );
    let job_id = job.id.clone();
    let outcome = sandbox
        .run(
            dirs,
            limits,
            wall,
            &env,
            &["/bin/sh", "-c", &entrypoint],
            || service.keep_going(&job_id),
        )
        .await
        .map_err(|e| ExecError::Failed(format!("the sandbox failed: {e}")))?;
    service.advance(job, status::PUBLISHING).await?;
    let results = publish(service, job, dirs, &log, limits.output_mb << 20).await?;
    Ok(Launched::Ended {
        results,
        failure: outcome.failure,
    })
}

/// Fetches every file of every dataset to `inputs/<did>/<index>`, each at most `limit`
/// bytes and checked against its checksum when the file object gives one.
async fn provision_datasets(
    service: &ComputeService,
    job: &Job,
    datasets: &[DatasetInput],
    dirs: &JobDirs,
    limit: u64,
) -> Result<(), String> {
    for dataset in datasets {
        let asset = service
            .provider
            .assets
            .resolve(&dataset.document_id)
            .await
            .map_err(|e| format!("{}: {e}", dataset.document_id))?;
        let (_, svc) = asset
            .service(&dataset.service_id)
            .ok_or_else(|| format!("{}: no service {}", dataset.document_id, dataset.service_id))?;
        let files = service
            .provider
            .files_of(&asset, svc)
            .map_err(|e| format!("{}: {e}", dataset.document_id))?;
        let dir = dirs.inputs.join(&dataset.document_id);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| e.to_string())?;
        for (index, file) in files.iter().enumerate() {
            let target = dir.join(index.to_string());
            fetch_file(
                service,
                job,
                file,
                dataset.userdata.as_ref(),
                &target,
                limit,
            )
            .await
            .map_err(|e| format!("{} file {index}: {e}", dataset.document_id))?;
        }
    }
    Ok(())
}

/// Puts the algorithm at `transformations/algorithm` (and its custom data beside the
/// inputs); returns the command to run it with.
async fn provision_algorithm(
    service: &ComputeService,
    job: &Job,
    algorithm: &AlgorithmInput,
    dirs: &JobDirs,
    limit: u64,
) -> Result<String, String> {
    let target = dirs.transformations.join("algorithm");
    let container;
    if let Some(did) = algorithm.document_id.as_deref().filter(|d| !d.is_empty()) {
        let asset = service
            .provider
            .assets
            .resolve(did)
            .await
            .map_err(|e| format!("{did}: {e}"))?;
        let svc = match algorithm.service_id.as_deref() {
            Some(id) => asset.service(id).map(|(_, s)| s),
            None => asset.services.first(),
        }
        .ok_or_else(|| format!("{did}: no such service"))?;
        let files = service
            .provider
            .files_of(&asset, svc)
            .map_err(|e| format!("{did}: {e}"))?;
        let file = files.first().ok_or_else(|| format!("{did}: no files"))?;
        fetch_file(
            service,
            job,
            file,
            algorithm.userdata.as_ref(),
            &target,
            limit,
        )
        .await?;
        container = asset.document["metadata"]["algorithm"]["container"].clone();
    } else {
        let meta = algorithm.meta.clone().unwrap_or(Value::Null);
        if let Some(code) = meta["rawcode"].as_str().filter(|c| !c.is_empty()) {
            if code.len() as u64 > limit {
                return Err("the raw code is too long".into());
            }
            tokio::fs::write(&target, code)
                .await
                .map_err(|e| e.to_string())?;
        } else if let Some(url) = meta["url"].as_str() {
            let file = json!({"type": "url", "url": url, "method": "GET"});
            fetch_file(service, job, &file, None, &target, limit).await?;
        } else {
            return Err("the algorithm has no code".into());
        }
        container = meta["container"].clone();
    }
    if let Some(custom) = &algorithm.custom_data {
        tokio::fs::write(dirs.inputs.join("algoCustomData.json"), custom.to_string())
            .await
            .map_err(|e| e.to_string())?;
    }
    let entrypoint = container["entrypoint"]
        .as_str()
        .filter(|e| !e.is_empty())
        .ok_or("the algorithm's container has no entrypoint")?;
    Ok(entrypoint.to_string())
}

/// Fetches one file object to `target`, renewing the job's lease as it goes.
async fn fetch_file(
    service: &ComputeService,
    job: &Job,
    file: &Value,
    userdata: Option<&Value>,
    target: &Path,
    limit: u64,
) -> Result<(), String> {
    let object = FileObject::parse(file).map_err(|e| e.to_string())?;
    let download = service
        .provider
        .open(&object, userdata, None)
        .await
        .map_err(|e| e.to_string())?;
    if !(200..300).contains(&download.status) {
        return Err(format!("the file answered HTTP {}", download.status));
    }
    if download.content_length.is_some_and(|l| l > limit) {
        return Err(format!("the file is over {} MiB", limit >> 20));
    }
    let mut out = tokio::fs::File::create(target)
        .await
        .map_err(|e| e.to_string())?;
    let mut body = download.body;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut renewed = Instant::now();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("the transfer broke: {e}"))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(format!("the file is over {} MiB", limit >> 20));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(|e| e.to_string())?;
        if renewed.elapsed() > Duration::from_secs(2) {
            renewed = Instant::now();
            if !service.keep_going(&job.id).await {
                return Err("stopped".into());
            }
        }
    }
    out.flush().await.map_err(|e| e.to_string())?;
    if let Some(expected) = file["checksum"].as_str().filter(|c| !c.is_empty()) {
        let expected = expected.strip_prefix("sha256:").unwrap_or(expected);
        let actual = hex::encode(hasher.finalize());
        if !expected.eq_ignore_ascii_case(&actual) {
            return Err(format!("checksum mismatch (sha256 {actual})"));
        }
    }
    Ok(())
}

/// Stores the outputs (regular files only, never following links) and the log as the job's
/// results: outputs first, then the log, as upstream orders them.
async fn publish(
    service: &ComputeService,
    job: &Job,
    dirs: &JobDirs,
    notes: &[String],
    output_limit: u64,
) -> Result<Vec<ResultFile>, ExecError> {
    let mut results = Vec::new();
    let mut files: Vec<PathBuf> = super::sandbox::walk(&dirs.outputs)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file()))
        .collect();
    files.sort();
    let mut total = 0u64;
    let mut notes = notes.to_vec();
    for path in files {
        let name = path
            .strip_prefix(&dirs.outputs)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let length = std::fs::symlink_metadata(&path)
            .map(|m| m.len())
            .unwrap_or(0);
        if total + length > output_limit {
            notes.push(format!(
                "[wharf] output {name} not kept: the outputs are over {} MiB",
                output_limit >> 20
            ));
            continue;
        }
        let stream = match open_no_follow(&path).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(job = %job.id, file = %name, error = %e, "an output could not be read");
                continue;
            }
        };
        let key = format!("compute/{}/{}", job.id, results.len());
        let size = service
            .store_blob(&key, stream, output_limit - total)
            .await?;
        total += size;
        results.push(ResultFile {
            filename: name,
            filesize: size,
            kind: "output".into(),
            key: Some(key),
        });
    }
    // The log: what wharf noted, then what the algorithm printed.
    let mut log = notes.join("\n");
    if !log.is_empty() {
        log.push('\n');
    }
    let mut log = log.into_bytes();
    if let Ok(printed) = tokio::fs::read(&dirs.log).await {
        log.extend_from_slice(&printed);
    }
    let key = format!("compute/{}/{}", job.id, results.len());
    let size = log.len() as u64;
    service
        .blobs
        .store()
        .put(&BlobPath::from(key.as_str()), log.into())
        .await
        .map_err(|e| ExecError::Failed(format!("the blob store refused the log: {e}")))?;
    results.push(ResultFile {
        filename: "algorithm.log".into(),
        filesize: size,
        kind: "algorithmLog".into(),
        key: Some(key),
    });
    Ok(results)
}

/// Opens a file the job wrote without following a link it may have put in its place.
async fn open_no_follow(path: &Path) -> std::io::Result<FileStream> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = path.to_path_buf();
    let file = tokio::task::spawn_blocking(move || {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    })
    .await
    .map_err(std::io::Error::other)??;
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    Ok(Box::pin(stream))
}

//! Executors: how an environment runs its jobs, behind one trait. `sandbox` runs a job here,
//! to its end, in a bubblewrap sandbox (`run.rs` provisions it); `operator` hands it to Ocean's
//! operator-service and follows it by polling (`operator.rs`).
use std::{path::PathBuf, sync::Arc};

use async_trait::async_trait;

use super::{
    ComputeService, Environment,
    jobs::{Job, ResultFile},
    operator::OperatorExecutor,
    sandbox::Sandbox,
};
use crate::{config::ExecutorKind, provider::ProviderService};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The job cannot run as asked; it fails with this reason.
    #[error("{0}")]
    Failed(String),
    /// The executor (an operator) did not answer; the caller may try again later.
    #[error("the executor did not answer: {0}")]
    Unavailable(String),
    /// The job was ended or taken by someone else while this runner held it.
    #[error("the job was ended elsewhere")]
    Lost,
}

/// What launching a claimed job came to.
pub enum Launched {
    /// It ran here and ended: its results (in the blob store) and why it failed, if it did.
    Ended {
        results: Vec<ResultFile>,
        failure: Option<String>,
    },
    /// It runs elsewhere, known there by `reference`; the poll job follows it.
    HandedOver { reference: String },
}

/// Where a handed-over job stands.
pub struct Remote {
    pub status: i32,
    pub status_text: String,
    /// Once it finished: its results, copied into the blob store.
    pub results: Option<Vec<ResultFile>>,
}

#[async_trait]
pub trait Executor: Send + Sync {
    /// Runs (or hands over) a job this runner has claimed.
    async fn launch(
        &self,
        service: &ComputeService,
        environment: &Environment,
        job: &Job,
    ) -> Result<Launched, ExecError>;

    /// Where a handed-over job stands (the poll job). Jobs run here are never polled.
    async fn poll(
        &self,
        service: &ComputeService,
        environment: &Environment,
        job: &Job,
    ) -> Result<Remote, ExecError>;

    /// Tells a handed-over job to stop (jobs run here see their stop request themselves).
    async fn stop(&self, environment: &Environment, job: &Job) -> Result<(), ExecError>;

    /// Forgets a handed-over job that was deleted.
    async fn forget(&self, environment: &Environment, job: &Job) -> Result<(), ExecError>;
}

/// The executors of this process, one per kind.
#[derive(Clone)]
pub struct Executors {
    sandbox: Option<Arc<dyn Executor>>,
    operator: Arc<dyn Executor>,
}

impl Executors {
    pub fn new(sandbox: Option<Sandbox>, work_dir: PathBuf, provider: ProviderService) -> Self {
        Self {
            sandbox: sandbox.map(|s| {
                Arc::new(super::run::SandboxExecutor::new(s, work_dir)) as Arc<dyn Executor>
            }),
            operator: Arc::new(OperatorExecutor::new(provider)),
        }
    }

    pub fn of(&self, environment: &Environment) -> Result<&Arc<dyn Executor>, ExecError> {
        match environment.config.executor {
            ExecutorKind::Sandbox => self
                .sandbox
                .as_ref()
                .ok_or_else(|| ExecError::Failed("the sandbox is not available".into())),
            ExecutorKind::Operator => Ok(&self.operator),
        }
    }

    pub async fn stop(&self, environment: &Environment, job: &Job) -> Result<(), ExecError> {
        self.of(environment)?.stop(environment, job).await
    }

    pub async fn forget(&self, environment: &Environment, job: &Job) -> Result<(), ExecError> {
        self.of(environment)?.forget(environment, job).await
    }
}

//! The `operator` executor: Ocean's operator-service (shared/reference/ocean-provider.md
//! §10.3), the Kubernetes engine Ocean deployments run. Jobs are handed over with
//! `POST compute` and followed with `GET compute`; once one finished its results are copied
//! into wharf's blob store (`GET getResult`), so results are served, kept and deleted the same
//! way whatever ran the job. Every call is signed by the provider key of the job's chain over
//! `owner + jobId + nonce` (`owner + nonce` before the job has an id), nonce in nanoseconds,
//! and the operator is expected to check the nonce too (defect 14).
use std::time::Duration;

use alloy_primitives::{Address, keccak256};
use alloy_signer::SignerSync;
use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};

use super::{
    ComputeService, Environment,
    executor::{ExecError, Executor, Launched, Remote},
    jobs::{Job, ResultFile},
    status,
};
use crate::provider::ProviderService;

/// How long one call to the operator may take (a result download excepted).
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

pub struct OperatorExecutor {
    provider: ProviderService,
    http: reqwest::Client,
}

/// The signature of a provider call: `(nonce, signature)` over `owner + jobId + nonce`.
pub fn sign_call(
    signer: &alloy_signer_local::PrivateKeySigner,
    owner: &str,
    job_id: Option<&str>,
) -> Result<(String, String), ExecError> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
        .to_string();
    let message = format!("{owner}{}{nonce}", job_id.unwrap_or(""));
    let hash = keccak256(message.as_bytes());
    let signature = signer
        .sign_message_sync(hash.as_slice())
        .map_err(|e| ExecError::Failed(format!("cannot sign for the operator: {e}")))?;
    Ok((nonce, format!("0x{}", hex::encode(signature.as_bytes()))))
}

impl OperatorExecutor {
    pub fn new(provider: ProviderService) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { provider, http }
    }

    fn base(environment: &Environment) -> Result<String, ExecError> {
        environment
            .config
            .operator_url
            .as_deref()
            .map(|u| format!("{}/api/v1/operator", u.trim_end_matches('/')))
            .ok_or_else(|| ExecError::Failed("the environment has no operator_url".into()))
    }

    /// The query every call after the start carries.
    fn job_query(&self, job: &Job, reference: &str) -> Result<Vec<(String, String)>, ExecError> {
        let chain = job.chain_id as u64;
        let (nonce, signature) = sign_call(
            self.provider.keys.signer(chain),
            &job.owner,
            Some(reference),
        )?;
        Ok(vec![
            (
                "providerAddress".into(),
                self.provider.keys.address(chain).to_checksum(None),
            ),
            ("owner".into(), job.owner.clone()),
            ("jobId".into(), reference.to_string()),
            ("providerSignature".into(), signature),
            ("nonce".into(), nonce),
        ])
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, ExecError> {
        let response = request
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| ExecError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| ExecError::Unavailable(e.without_url().to_string()))?;
        if status.is_server_error() {
            return Err(ExecError::Unavailable(format!("HTTP {status}")));
        }
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(ExecError::Failed(format!(
                "the operator refused: {message}"
            )));
        }
        Ok(value)
    }

    /// The workflow operator-service takes for a job.
    fn workflow(&self, environment: &Environment, job: &Job) -> Result<Value, ExecError> {
        let request = job.request();
        let mut inputs = Vec::new();
        for (index, dataset) in request["datasets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            inputs.push(json!({
                "index": index,
                "id": dataset["document_id"],
                "remote": {
                    "txId": dataset["transfer_tx"],
                    "serviceId": dataset["service_id"],
                    "userdata": dataset["userdata"],
                    "serviceEndpoint": request["datasetEndpoints"][index],
                },
            }));
        }
        let algorithm = &request["algorithm"];
        let algorithm = match algorithm["document_id"].as_str().filter(|d| !d.is_empty()) {
            Some(did) => json!({
                "id": did,
                "rawcode": "",
                "container": request["algorithmContainer"],
                "algouserdata": null,
                "remote": {
                    "serviceEndpoint": request["algorithmEndpoint"],
                    "txId": algorithm["transfer_tx"],
                    "serviceId": algorithm["service_id"],
                    "userData": algorithm["userdata"],
                },
                "algocustomdata": algorithm["custom_data"],
            }),
            None => json!({
                "id": "",
                "url": algorithm["meta"]["url"],
                "rawcode": algorithm["meta"]["rawcode"],
                "container": algorithm["meta"]["container"],
            }),
        };
        let chain = job.chain_id as u64;
        let (nonce, signature) = sign_call(self.provider.keys.signer(chain), &job.owner, None)?;
        Ok(json!({
            "workflow": {"stages": [{
                "index": 0,
                "input": inputs,
                "compute": {"Instances": 1, "namespace": "ocean-compute", "maxtime": job.max_duration_secs},
                "algorithm": algorithm,
                "output": {"metadataUri": self.provider.metadata_uri()},
            }]},
            "providerSignature": signature,
            "agreementId": job.agreement_id,
            "owner": job.owner,
            "providerAddress": self.provider.keys.address(chain).to_checksum(None),
            "environment": environment.id(),
            "validUntil": request["validUntil"],
            "nonce": nonce,
            "chainId": chain,
        }))
    }

    /// Copies a finished job's results into the blob store.
    async fn collect(
        &self,
        service: &ComputeService,
        environment: &Environment,
        job: &Job,
        reference: &str,
        listed: &[Value],
    ) -> Result<Vec<ResultFile>, ExecError> {
        let base = Self::base(environment)?;
        let limit = environment.config.limits.output_mb << 20;
        let mut results = Vec::new();
        for (index, item) in listed.iter().enumerate() {
            let mut query = self.job_query(job, reference)?;
            query.push(("index".into(), index.to_string()));
            query.push(("consumerSignature".into(), String::new()));
            let response = self
                .http
                .get(format!("{base}/getResult"))
                .query(&query)
                .send()
                .await
                .map_err(|e| ExecError::Unavailable(e.without_url().to_string()))?;
            if !response.status().is_success() {
                return Err(ExecError::Unavailable(format!(
                    "result {index}: HTTP {}",
                    response.status()
                )));
            }
            let body = response
                .bytes_stream()
                .map(|c| c.map_err(std::io::Error::other));
            let key = format!("compute/{}/{index}", job.id);
            let size = service.store_blob(&key, Box::pin(body), limit).await?;
            results.push(ResultFile {
                filename: item["filename"].as_str().unwrap_or("result").to_string(),
                filesize: size,
                kind: item["type"].as_str().unwrap_or("output").to_string(),
                key: Some(key),
            });
        }
        Ok(results)
    }
}

#[async_trait]
impl Executor for OperatorExecutor {
    async fn launch(
        &self,
        _service: &ComputeService,
        environment: &Environment,
        job: &Job,
    ) -> Result<Launched, ExecError> {
        let base = Self::base(environment)?;
        let body = self.workflow(environment, job)?;
        let reply = self
            .send(self.http.post(format!("{base}/compute")).json(&body))
            .await?;
        let first = reply.as_array().and_then(|a| a.first()).unwrap_or(&reply);
        let reference = first["jobId"]
            .as_str()
            .filter(|r| !r.is_empty() && r.len() <= 128)
            .ok_or_else(|| ExecError::Failed("the operator answered without a jobId".into()))?;
        Ok(Launched::HandedOver {
            reference: reference.to_string(),
        })
    }

    async fn poll(
        &self,
        service: &ComputeService,
        environment: &Environment,
        job: &Job,
    ) -> Result<Remote, ExecError> {
        let base = Self::base(environment)?;
        let reference = job.executor_ref.clone().unwrap_or_default();
        let query = self.job_query(job, &reference)?;
        let reply = self
            .send(self.http.get(format!("{base}/compute")).query(&query))
            .await?;
        let first = reply
            .as_array()
            .and_then(|a| a.first())
            .cloned()
            .ok_or_else(|| ExecError::Failed("the operator no longer knows the job".into()))?;
        let code = first["status"]
            .as_i64()
            .or_else(|| first["status"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(status::WARMING_UP as i64) as i32;
        let text = first["statusText"].as_str().unwrap_or_default().to_string();
        let results = if code >= status::FINISHED {
            let listed = first["results"].as_array().cloned().unwrap_or_default();
            Some(
                self.collect(service, environment, job, &reference, &listed)
                    .await?,
            )
        } else {
            None
        };
        Ok(Remote {
            status: code,
            status_text: text,
            results,
        })
    }

    async fn stop(&self, environment: &Environment, job: &Job) -> Result<(), ExecError> {
        let base = Self::base(environment)?;
        let reference = job.executor_ref.clone().unwrap_or_default();
        let query = self.job_query(job, &reference)?;
        self.send(self.http.put(format!("{base}/compute")).query(&query))
            .await
            .map(|_| ())
    }

    async fn forget(&self, environment: &Environment, job: &Job) -> Result<(), ExecError> {
        let base = Self::base(environment)?;
        let reference = job.executor_ref.clone().unwrap_or_default();
        let query = self.job_query(job, &reference)?;
        self.send(self.http.delete(format!("{base}/compute")).query(&query))
            .await
            .map(|_| ())
    }
}

/// Checks a provider signature as operator-service should: over `owner + jobId + nonce`, by
/// `provider`. (For test doubles and tools that stand in for an operator.)
pub fn verify_call(
    provider: &Address,
    owner: &str,
    job_id: Option<&str>,
    nonce: &str,
    signature: &str,
) -> bool {
    let message = format!("{owner}{}{nonce}", job_id.unwrap_or(""));
    let hash = keccak256(message.as_bytes());
    crate::auth::signature::verify_signer(hash.as_slice(), signature, provider).is_ok()
}

//! A test double of Ocean's operator-service (shared/reference/ocean-provider.md §10.3): the
//! Kubernetes compute engine cannot run here, so this speaks its wire format — `POST/GET/PUT/
//! DELETE /api/v1/operator/compute`, `GET /api/v1/operator/getResult` — checks every provider
//! signature over `owner + jobId + nonce` with nonces strictly increasing (what operator-service
//! should do, defect 14), and runs jobs as its pods would: datasets and the algorithm
//! downloaded from the Provider as the environment's consumer address, the algorithm run with
//! wharf's own sandbox executor.
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use alloy_primitives::{Address, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use axum::{
    Json, Router,
    body::Body,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};
use wharf_core::{
    compute::{
        operator::verify_call,
        sandbox::{JobDirs, Sandbox},
    },
    config::SandboxLimits,
};

/// A call the double received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub nonce: String,
    /// Whether its provider signature held (signer and nonce).
    pub accepted: bool,
}

#[derive(Clone)]
struct Job {
    owner: String,
    status: i64,
    status_text: String,
    results: Vec<(String, PathBuf, String)>,
    stop: Arc<AtomicBool>,
}

impl Job {
    fn to_json(&self, id: &str) -> Value {
        json!({
            "jobId": id,
            "owner": self.owner,
            "status": self.status,
            "statusText": self.status_text,
            "results": self.results.iter().map(|(name, path, kind)| json!({
                "filename": name,
                "filesize": std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
                "type": kind,
            })).collect::<Vec<_>>(),
            "stopreq": u8::from(self.stop.load(Ordering::Relaxed)),
            "removed": 0,
        })
    }
}

#[derive(Clone)]
pub struct OperatorDouble {
    pub base: String,
    /// The environment's consumer address: its pods order for it and download as it.
    pub consumer: Address,
    pub calls: Arc<Mutex<Vec<Call>>>,
    inner: Arc<Inner>,
}

struct Inner {
    key: PrivateKeySigner,
    provider: Mutex<Option<Address>>,
    last_nonce: Mutex<u128>,
    jobs: Mutex<HashMap<String, Job>>,
    sandbox: Sandbox,
    work: tempfile::TempDir,
    http: reqwest::Client,
}

impl OperatorDouble {
    pub async fn start() -> OperatorDouble {
        crate::ensure_bubblewrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let key = PrivateKeySigner::random();
        let double = OperatorDouble {
            base,
            consumer: key.address(),
            calls: Default::default(),
            inner: Arc::new(Inner {
                key,
                provider: Mutex::new(None),
                last_nonce: Mutex::new(0),
                jobs: Default::default(),
                sandbox: Sandbox::check().await.unwrap(),
                work: tempfile::tempdir().unwrap(),
                http: reqwest::Client::new(),
            }),
        };
        let router = Router::new()
            .route(
                "/api/v1/operator/compute",
                get(status).post(start).put(stop).delete(delete),
            )
            .route("/api/v1/operator/getResult", get(result))
            .with_state(double.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        double
    }

    /// The provider whose signatures the double accepts.
    pub fn trust(&self, provider: Address) {
        *self.inner.provider.lock().unwrap() = Some(provider);
    }

    /// Checks a call's signature and nonce, and records it.
    fn admit(
        &self,
        method: &str,
        path: &str,
        owner: &str,
        job: Option<&str>,
        nonce: &str,
        signature: &str,
    ) -> bool {
        let provider = *self.inner.provider.lock().unwrap();
        let signed = provider.is_some_and(|p| verify_call(&p, owner, job, nonce, signature));
        let fresh = {
            let mut last = self.inner.last_nonce.lock().unwrap();
            match nonce.parse::<u128>() {
                Ok(n) if n > *last => {
                    if signed {
                        *last = n;
                    }
                    true
                }
                _ => false,
            }
        };
        let accepted = signed && fresh;
        self.calls.lock().unwrap().push(Call {
            method: method.into(),
            path: path.into(),
            nonce: nonce.into(),
            accepted,
        });
        accepted
    }
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "Invalid provider signature or nonce"})),
    )
        .into_response()
}

fn q<'a>(query: &'a HashMap<String, String>, key: &str) -> &'a str {
    query.get(key).map(String::as_str).unwrap_or("")
}

async fn start(State(double): State<OperatorDouble>, Json(body): Json<Value>) -> Response {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    let owner = text("owner");
    let nonce = match &body["nonce"] {
        Value::Number(n) => n.to_string(),
        other => other.as_str().unwrap_or_default().to_string(),
    };
    if !double.admit(
        "POST",
        "compute",
        &owner,
        None,
        &nonce,
        &text("providerSignature"),
    ) {
        return refused();
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let job = Job {
        owner,
        status: 1,
        status_text: "Warming up".into(),
        results: Vec::new(),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let answer = job.to_json(&id);
    double.inner.jobs.lock().unwrap().insert(id.clone(), job);
    let stage = body["workflow"]["stages"][0].clone();
    tokio::spawn(run(double, id, stage));
    Json(json!([answer])).into_response()
}

fn set(double: &OperatorDouble, id: &str, status: i64, text: &str) {
    if let Some(job) = double.inner.jobs.lock().unwrap().get_mut(id) {
        job.status = status;
        job.status_text = text.into();
    }
}

/// Downloads a file of an ordered service from its Provider, as the environment's consumer.
async fn download(
    double: &OperatorDouble,
    endpoint: &str,
    did: &str,
    service: &str,
    tx: &str,
) -> Result<Vec<u8>, String> {
    let http = &double.inner.http;
    let consumer = double.consumer.to_checksum(None);
    let last: Value = http
        .get(format!(
            "{endpoint}/api/services/nonce?userAddress={consumer}"
        ))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let last: u128 = last["nonce"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let nonce = (last + 1).to_string();
    let hash = keccak256(format!("{did}{nonce}").as_bytes());
    let signature = double
        .inner
        .key
        .sign_message_sync(hash.as_slice())
        .map_err(|e| e.to_string())?;
    let response = http
        .get(format!("{endpoint}/api/services/download"))
        .query(&[
            ("documentId", did),
            ("serviceId", service),
            ("transferTxId", tx),
            ("fileIndex", "0"),
            ("consumerAddress", consumer.as_str()),
            ("nonce", nonce.as_str()),
            (
                "signature",
                &format!("0x{}", hex::encode(signature.as_bytes())),
            ),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!(
            "download {did}: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        ));
    }
    Ok(response.bytes().await.map_err(|e| e.to_string())?.to_vec())
}

async fn run(double: OperatorDouble, id: String, stage: Value) {
    let stop = match double.inner.jobs.lock().unwrap().get(&id) {
        Some(job) => job.stop.clone(),
        None => return,
    };
    set(&double, &id, 10, "Job started");
    let dirs = JobDirs::create(double.inner.work.path(), &id).unwrap();
    set(&double, &id, 20, "Configuring volumes");
    let mut dids = Vec::new();
    for input in stage["input"].as_array().cloned().unwrap_or_default() {
        let did = input["id"].as_str().unwrap_or_default().to_string();
        let remote = &input["remote"];
        match download(
            &double,
            remote["serviceEndpoint"].as_str().unwrap_or_default(),
            &did,
            remote["serviceId"].as_str().unwrap_or_default(),
            remote["txId"].as_str().unwrap_or_default(),
        )
        .await
        {
            Ok(bytes) => {
                std::fs::create_dir_all(dirs.inputs.join(&did)).unwrap();
                std::fs::write(dirs.inputs.join(&did).join("0"), bytes).unwrap();
            }
            Err(e) => {
                set(&double, &id, 70, &format!("Data provisioning failed: {e}"));
                return;
            }
        }
        dids.push(did);
    }
    let algorithm = &stage["algorithm"];
    let remote = &algorithm["remote"];
    match download(
        &double,
        remote["serviceEndpoint"].as_str().unwrap_or_default(),
        algorithm["id"].as_str().unwrap_or_default(),
        remote["serviceId"].as_str().unwrap_or_default(),
        remote["txId"].as_str().unwrap_or_default(),
    )
    .await
    {
        Ok(code) => std::fs::write(dirs.transformations.join("algorithm"), code).unwrap(),
        Err(e) => {
            set(
                &double,
                &id,
                70,
                &format!("Algorithm provisioning failed: {e}"),
            );
            return;
        }
    }
    dirs.open_up().unwrap();
    set(&double, &id, 30, "Provisioning success");
    set(&double, &id, 40, "Running algorithm ");
    let entrypoint = algorithm["container"]["entrypoint"]
        .as_str()
        .unwrap_or("python3 $ALGO")
        .to_string();
    let maxtime = stage["compute"]["maxtime"].as_u64().unwrap_or(600);
    let outcome = double
        .inner
        .sandbox
        .run(
            &dirs,
            &SandboxLimits::default(),
            Duration::from_secs(maxtime),
            &[
                ("DIDS", serde_json::to_string(&dids).unwrap()),
                ("ALGO", "/data/transformations/algorithm".into()),
            ],
            &["/bin/sh", "-c", &entrypoint],
            || {
                let stop = stop.clone();
                async move { !stop.load(Ordering::Relaxed) }
            },
        )
        .await;
    set(&double, &id, 60, "Publishing results");
    let mut results: Vec<(String, PathBuf, String)> = std::fs::read_dir(&dirs.outputs)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.path(),
                        "output".to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    results.push((
        "algorithm.log".into(),
        dirs.log.clone(),
        "algorithmLog".into(),
    ));
    let text = match outcome {
        _ if stop.load(Ordering::Relaxed) => "Job stopped".to_string(),
        Ok(o) if o.failure.is_none() => "Job finished".to_string(),
        Ok(o) => format!("Job failed: {}", o.failure.unwrap_or_default()),
        Err(e) => format!("Job failed: {e}"),
    };
    if let Some(job) = double.inner.jobs.lock().unwrap().get_mut(&id) {
        job.results = results;
        job.status = 70;
        job.status_text = text;
    }
}

async fn status(
    State(double): State<OperatorDouble>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (owner, id) = (q(&query, "owner"), q(&query, "jobId"));
    if !double.admit(
        "GET",
        "compute",
        owner,
        Some(id),
        q(&query, "nonce"),
        q(&query, "providerSignature"),
    ) {
        return refused();
    }
    let jobs = double.inner.jobs.lock().unwrap();
    match jobs.get(id).filter(|j| j.owner == owner) {
        Some(job) => Json(json!([job.to_json(id)])).into_response(),
        None => Json(json!([])).into_response(),
    }
}

async fn stop(
    State(double): State<OperatorDouble>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (owner, id) = (q(&query, "owner"), q(&query, "jobId"));
    if !double.admit(
        "PUT",
        "compute",
        owner,
        Some(id),
        q(&query, "nonce"),
        q(&query, "providerSignature"),
    ) {
        return refused();
    }
    let jobs = double.inner.jobs.lock().unwrap();
    match jobs.get(id).filter(|j| j.owner == owner) {
        Some(job) => {
            job.stop.store(true, Ordering::Relaxed);
            Json(json!([job.to_json(id)])).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "job not found"})),
        )
            .into_response(),
    }
}

async fn delete(
    State(double): State<OperatorDouble>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (owner, id) = (q(&query, "owner"), q(&query, "jobId"));
    if !double.admit(
        "DELETE",
        "compute",
        owner,
        Some(id),
        q(&query, "nonce"),
        q(&query, "providerSignature"),
    ) {
        return refused();
    }
    double.inner.jobs.lock().unwrap().remove(id);
    (StatusCode::OK, "").into_response()
}

async fn result(
    State(double): State<OperatorDouble>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (owner, id) = (q(&query, "owner"), q(&query, "jobId"));
    if !double.admit(
        "GET",
        "getResult",
        owner,
        Some(id),
        q(&query, "nonce"),
        q(&query, "providerSignature"),
    ) {
        return refused();
    }
    let path = {
        let jobs = double.inner.jobs.lock().unwrap();
        let Some(job) = jobs.get(id).filter(|j| j.owner == owner) else {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": format!("Owner {owner} mismatch for job {id}")})),
            )
                .into_response();
        };
        let index: usize = q(&query, "index").parse().unwrap_or(usize::MAX);
        match job.results.get(index) {
            Some((_, path, _)) => path.clone(),
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    Json(json!({"error": format!("No such index {index} in this compute job")})),
                )
                    .into_response();
            }
        }
    };
    match tokio::fs::read(path).await {
        Ok(bytes) => (StatusCode::OK, Body::from(bytes)).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

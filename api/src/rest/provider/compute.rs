//! Compute-to-data at the Provider's paths (shared/reference/ocean-provider.md §4.6, §4.9):
//! environments, initializeCompute, compute start / status / stop / delete, computeResult
//! and validateContainer. Thin: the flow is `wharf_core::compute`; the legacy shapes are here.
use std::collections::HashMap;

use axum::{
    body::Body,
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use wharf_core::compute::{
    AlgorithmInput, Authority, ComputeError, DatasetInput, InitializeRequest, JobSelector,
    StartRequest, jobs::Job,
};

use super::{
    Params, Reply, error, number, params, provider_error, require, schema, text, validation,
};
use crate::{rest::legacy_body::read_json, state::AppState};

/// The legacy answer of a compute error. Internal failures are logged once here.
pub fn compute_error(e: ComputeError) -> Reply {
    match e {
        ComputeError::Rejected { resource, code } => {
            Reply(StatusCode::BAD_REQUEST, json!({"error": {resource: code}}))
        }
        ComputeError::Invalid(_)
        | ComputeError::UnknownEnvironment
        | ComputeError::ValidUntil
        | ComputeError::NotAlgorithm => error(StatusCode::BAD_REQUEST, &e.to_string()),
        ComputeError::Unavailable | ComputeError::JobNotFound | ComputeError::NoSuchResult(_) => {
            error(StatusCode::NOT_FOUND, &e.to_string())
        }
        ComputeError::Provider(p) => provider_error(p),
        ComputeError::Db(_)
        | ComputeError::Blob(_)
        | ComputeError::Queue(_)
        | ComputeError::Internal(_) => {
            tracing::error!(error = %e, "compute route failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
        }
    }
}

fn jobs_reply(jobs: &[Job]) -> Reply {
    Reply(
        StatusCode::OK,
        Value::Array(jobs.iter().map(Job::to_json).collect()),
    )
}

async fn json_body(app: &AppState, body: Body) -> Result<Value, Reply> {
    read_json(body, app.services.config.http.max_body_bytes)
        .await
        .map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "The request body is not valid JSON.",
            )
        })
}

/// A JSON value clients send either as an object or as a JSON string.
fn object_or_text(value: Option<&Value>) -> Result<Option<Value>, ComputeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s)
            .map(Some)
            .map_err(|_| ComputeError::Invalid("userdata is not valid JSON.".into())),
        Some(other) => Ok(Some(other.clone())),
    }
}

fn string(value: &Value, key: &str) -> Option<String> {
    match &value[key] {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn dataset(value: &Value) -> Result<DatasetInput, ComputeError> {
    Ok(DatasetInput {
        document_id: string(value, "documentId").unwrap_or_default(),
        service_id: string(value, "serviceId").unwrap_or_default(),
        transfer_tx: string(value, "transferTxId"),
        userdata: object_or_text(value.get("userdata"))?,
    })
}

/// The algorithm; its user data under `userdata` (what clients send) or `algouserdata`.
fn algorithm(value: &Value) -> Result<AlgorithmInput, ComputeError> {
    let userdata = match value.get("userdata") {
        Some(v) if !v.is_null() => object_or_text(Some(v))?,
        _ => object_or_text(value.get("algouserdata"))?,
    };
    Ok(AlgorithmInput {
        document_id: string(value, "documentId"),
        service_id: string(value, "serviceId"),
        transfer_tx: string(value, "transferTxId"),
        meta: value.get("meta").filter(|m| m.is_object()).cloned(),
        custom_data: object_or_text(value.get("algocustomdata"))?,
        userdata,
    })
}

fn consumer(text_value: &str) -> Result<wharf_core::auth::Address, Reply> {
    text_value
        .parse()
        .map_err(|_| error(StatusCode::BAD_REQUEST, "consumerAddress is not an address"))
}

/// The compute environments, by chain
///
/// `{"<chainId>": [environment, …]}`: a map keyed by chain, as ocean.js reads it.
#[utoipa::path(
    get,
    path = "/provider/api/services/computeEnvironments",
    operation_id = "providerComputeEnvironments",
    tag = "provider",
    responses((status = 200, description = "Environments of each chain", body = HashMap<String, Vec<schema::ComputeEnvironment>>))
)]
pub async fn environments(State(app): State<AppState>) -> Result<Reply, Reply> {
    let map = app
        .services
        .compute
        .environments_by_chain()
        .await
        .map_err(compute_error)?;
    Ok(Reply(StatusCode::OK, map))
}

/// The provider fees of a compute job
///
/// For each dataset and the algorithm: `{"validOrder"}` when its order and fee hold until
/// `compute.validUntil`, else the datatoken and a fee to order (or reuse the order) with.
/// Only one item carries the environment's price, for the whole duration.
#[utoipa::path(
    post,
    path = "/provider/api/services/initializeCompute",
    operation_id = "providerInitializeCompute",
    tag = "provider",
    request_body(content = schema::InitializeComputeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Fees per dataset and for the algorithm", body = serde_json::Value),
        (status = 400, description = "Validation error, unknown environment, past validUntil, refused dataset or algorithm", body = schema::Error),
    )
)]
pub async fn initialize(State(app): State<AppState>, body: Body) -> Result<Reply, Reply> {
    let body = json_body(&app, body).await?;
    let mut errors = serde_json::Map::new();
    let missing = |name: &str| json!([format!("The {name} field is required.")]);
    if !body["datasets"].is_array() {
        errors.insert("datasets".into(), missing("datasets"));
    }
    if string(&body["compute"], "env").is_none() {
        errors.insert("compute.env".into(), missing("compute.env"));
    }
    let valid_until = match &body["compute"]["validUntil"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    if valid_until.is_none() {
        errors.insert(
            "compute.validUntil".into(),
            json!(["The compute.validUntil must be an integer."]),
        );
    }
    if string(&body, "consumerAddress").is_none() {
        errors.insert("consumerAddress".into(), missing("consumerAddress"));
    }
    let algo = &body["algorithm"];
    if string(algo, "documentId").is_none() && !algo["meta"].is_object() {
        errors.insert(
            "algorithm.documentId".into(),
            missing("algorithm.documentId"),
        );
    }
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    let datasets = body["datasets"]
        .as_array()
        .map(|d| d.iter().map(dataset).collect::<Result<Vec<_>, _>>())
        .unwrap_or(Ok(Vec::new()))
        .map_err(compute_error)?;
    let request = InitializeRequest {
        datasets,
        algorithm: algorithm(algo).map_err(compute_error)?,
        environment: string(&body["compute"], "env").unwrap_or_default(),
        valid_until: valid_until.unwrap_or_default(),
        consumer: consumer(&string(&body, "consumerAddress").unwrap_or_default())?,
    };
    let answer = app
        .services
        .compute
        .initialize(request)
        .await
        .map_err(compute_error)?;
    Ok(Reply(StatusCode::OK, answer))
}

/// Starts a compute job
///
/// Signed by the consumer over `consumerAddress + dataset.documentId + nonce`. Every dataset's
/// order and the algorithm's are checked on chain, and the algorithm against the datasets'
/// compute options. Answers the job, in a list, as operator-service does.
#[utoipa::path(
    post,
    path = "/provider/api/services/compute",
    operation_id = "providerComputeStart",
    tag = "provider",
    request_body(content = schema::ComputeStartBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The new job (status 1, Warming up)", body = Vec<schema::ComputeJob>),
        (status = 400, description = "Validation error, bad signature or nonce, refused dataset, algorithm or order", body = schema::Error),
        (status = 404, description = "No compute environment is offered", body = schema::Error),
    )
)]
pub async fn start(State(app): State<AppState>, body: Body) -> Result<Reply, Reply> {
    let compute = &app.services.compute;
    if compute.environments().is_empty() {
        return Err(compute_error(ComputeError::Unavailable));
    }
    let body = json_body(&app, body).await?;
    let mut errors = serde_json::Map::new();
    for (field, present) in [
        ("dataset.documentId", string(&body["dataset"], "documentId")),
        ("dataset.serviceId", string(&body["dataset"], "serviceId")),
        (
            "dataset.transferTxId",
            string(&body["dataset"], "transferTxId"),
        ),
        ("consumerAddress", string(&body, "consumerAddress")),
        ("nonce", string(&body, "nonce")),
        ("signature", string(&body, "signature")),
    ] {
        if present.is_none() {
            errors.insert(
                field.into(),
                json!([format!("The {field} field is required.")]),
            );
        }
    }
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    let mut datasets = vec![dataset(&body["dataset"]).map_err(compute_error)?];
    match &body["additionalDatasets"] {
        Value::Null => {}
        Value::Array(more) => {
            for item in more {
                datasets.push(dataset(item).map_err(compute_error)?);
            }
        }
        _ => {
            return Err(compute_error(ComputeError::Rejected {
                resource: "additional_input".into(),
                code: "invalid",
            }));
        }
    }
    let output = match object_or_text(body.get("output")) {
        Ok(o) => o,
        Err(_) => {
            return Err(compute_error(ComputeError::Rejected {
                resource: "output".into(),
                code: "invalid",
            }));
        }
    };
    let consumer_text = string(&body, "consumerAddress").unwrap_or_default();
    let nonce = string(&body, "nonce").unwrap_or_default();
    let signature = string(&body, "signature").unwrap_or_default();
    let request = StartRequest {
        consumer: consumer(&consumer_text)?,
        environment: string(&body, "environment"),
        datasets,
        algorithm: algorithm(&body["algorithm"]).map_err(compute_error)?,
        output,
    };
    let job = compute
        .start(
            request,
            Authority::Signed {
                consumer_text: &consumer_text,
                nonce: Some(&nonce),
                signature: &signature,
            },
        )
        .await
        .map_err(compute_error)?;
    Ok(jobs_reply(&[job]))
}

fn selector(params: &Params) -> JobSelector {
    JobSelector {
        job_id: text(params, "jobId").map(|t| t.into_owned()),
        document_id: text(params, "documentId").map(|t| t.into_owned()),
        agreement_id: text(params, "agreementId").map(|t| t.into_owned()),
    }
}

/// A consumer's compute jobs
///
/// Unsigned, as upstream. `jobId` names one job; `documentId` takes a dataset DID or an
/// agreement id (the order that paid), as clients send either; `agreementId` too.
#[utoipa::path(
    get,
    path = "/provider/api/services/compute",
    operation_id = "providerComputeStatus",
    tag = "provider",
    params(
        ("consumerAddress" = String, Query),
        ("jobId" = Option<String>, Query),
        ("documentId" = Option<String>, Query, description = "A dataset DID or an agreement id"),
        ("agreementId" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "The jobs, newest first", body = Vec<schema::ComputeJob>),
        (status = 400, description = "Validation error", body = schema::Error),
    )
)]
pub async fn status(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Reply, Reply> {
    let compute = &app.services.compute;
    if compute.environments().is_empty() {
        return Err(compute_error(ComputeError::Unavailable));
    }
    let params = params(query, None);
    require(&params, &["consumerAddress"])?;
    let owner = consumer(&text(&params, "consumerAddress").unwrap_or_default())?;
    let jobs = compute
        .status(&owner, &selector(&params))
        .await
        .map_err(compute_error)?;
    Ok(jobs_reply(&jobs))
}

/// The parameters of stop and delete: a query, a JSON body, or both.
async fn stop_params(
    app: &AppState,
    query: HashMap<String, String>,
    body: Body,
) -> Result<Params, Reply> {
    let body = read_json(body, app.services.config.http.max_body_bytes)
        .await
        .ok();
    let params = params(query, body);
    require(&params, &["consumerAddress", "signature"])?;
    Ok(params)
}

/// Stops compute jobs
///
/// Signed over `consumerAddress + jobId + documentId + nonce` (absent parts empty). A job not
/// yet running ends at once; a running one within seconds. Another consumer's job is not
/// found.
#[utoipa::path(
    put,
    path = "/provider/api/services/compute",
    operation_id = "providerComputeStop",
    tag = "provider",
    request_body(content = schema::ComputeStopBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The jobs, stop requested", body = Vec<schema::ComputeJob>),
        (status = 400, description = "Validation error, bad signature or nonce", body = schema::Error),
        (status = 404, description = "No such job of this consumer", body = schema::Error),
    )
)]
pub async fn stop(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Result<Reply, Reply> {
    let params = stop_params(&app, query, body).await?;
    require(&params, &["nonce"])?;
    let consumer_text = text(&params, "consumerAddress").unwrap_or_default();
    let nonce = text(&params, "nonce").unwrap_or_default();
    let signature = text(&params, "signature").unwrap_or_default();
    let jobs = app
        .services
        .compute
        .stop(
            &selector(&params),
            Authority::Signed {
                consumer_text: &consumer_text,
                nonce: Some(&nonce),
                signature: &signature,
            },
        )
        .await
        .map_err(compute_error)?;
    Ok(jobs_reply(&jobs))
}

/// Deletes compute jobs with their results and logs
///
/// Signed as a stop. ocean.js 3.2 sends no `nonce`: the one it signed (the last used plus
/// one) is taken then.
#[utoipa::path(
    delete,
    path = "/provider/api/services/compute",
    operation_id = "providerComputeDelete",
    tag = "provider",
    request_body(content = schema::ComputeStopBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The deleted jobs", body = Vec<schema::ComputeJob>),
        (status = 400, description = "Validation error, bad signature or nonce", body = schema::Error),
        (status = 404, description = "No such job of this consumer", body = schema::Error),
    )
)]
pub async fn delete(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Result<Reply, Reply> {
    let params = stop_params(&app, query, body).await?;
    let consumer_text = text(&params, "consumerAddress").unwrap_or_default();
    let nonce = text(&params, "nonce").map(|n| n.into_owned());
    let signature = text(&params, "signature").unwrap_or_default();
    let jobs = app
        .services
        .compute
        .delete(
            &selector(&params),
            Authority::Signed {
                consumer_text: &consumer_text,
                nonce: nonce.as_deref(),
                signature: &signature,
            },
        )
        .await
        .map_err(compute_error)?;
    Ok(jobs_reply(&jobs))
}

/// A result of a compute job
///
/// Signed over `consumerAddress + jobId + index + nonce`, by the job's owner only. `index`
/// counts the outputs, then the logs, as the job's `results` lists them.
#[utoipa::path(
    get,
    path = "/provider/api/services/computeResult",
    operation_id = "providerComputeResult",
    tag = "provider",
    params(
        ("jobId" = String, Query), ("index" = i64, Query), ("consumerAddress" = String, Query),
        ("nonce" = String, Query), ("signature" = String, Query),
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 400, description = "Validation error, bad signature or nonce", body = schema::Error),
        (status = 404, description = "No such job of this consumer, or no such index", body = schema::Error),
    )
)]
pub async fn result(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Reply> {
    let params = params(query, None);
    require(
        &params,
        &["jobId", "index", "consumerAddress", "nonce", "signature"],
    )?;
    let index = number(&params, "index")?.unwrap_or_default();
    let consumer_text = text(&params, "consumerAddress").unwrap_or_default();
    let nonce = text(&params, "nonce").unwrap_or_default();
    let signature = text(&params, "signature").unwrap_or_default();
    let (file, stream) = app
        .services
        .compute
        .result(
            &text(&params, "jobId").unwrap_or_default(),
            index,
            Authority::Signed {
                consumer_text: &consumer_text,
                nonce: Some(&nonce),
                signature: &signature,
            },
        )
        .await
        .map_err(compute_error)?;
    Ok(file_response(&file, stream))
}

/// A result file as a download: `Content-Disposition: attachment;filename=…` (no space, as
/// ocean.js parses it), its length and an octet-stream type.
pub fn file_response(
    file: &wharf_core::compute::jobs::ResultFile,
    stream: wharf_core::content::FileStream,
) -> Response {
    let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let headers = response.headers_mut();
    let name: String = file
        .filename
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != ';')
        .collect();
    for (key, value) in [
        (
            header::CONTENT_DISPOSITION,
            format!("attachment;filename={name}"),
        ),
        (header::CONTENT_TYPE, "application/octet-stream".to_string()),
        (header::CONTENT_LENGTH, file.filesize.to_string()),
        (
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            "Content-Disposition".to_string(),
        ),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*".to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(key, value);
        }
    }
    response
}

/// Checks an algorithm's container section
///
/// `{entrypoint, image, tag, checksum}` all present and the checksum `sha256:`-prefixed:
/// echoed back.
#[utoipa::path(
    post,
    path = "/provider/api/services/validateContainer",
    operation_id = "providerValidateContainer",
    tag = "provider",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 200, description = "The container, echoed", body = serde_json::Value),
        (status = 400, description = "missing_entrypoint_image_checksum or checksum_prefix", body = schema::Error),
    )
)]
pub async fn validate_container(State(app): State<AppState>, body: Body) -> Result<Reply, Reply> {
    let body = json_body(&app, body).await?;
    let all = ["entrypoint", "image", "tag", "checksum"]
        .iter()
        .all(|k| string(&body, k).is_some());
    if !all {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "missing_entrypoint_image_checksum",
        ));
    }
    if !string(&body, "checksum").is_some_and(|c| c.starts_with("sha256:")) {
        return Err(error(StatusCode::BAD_REQUEST, "checksum_prefix"));
    }
    Ok(Reply(StatusCode::OK, body))
}

//! A registered legacy storage microservice (uploader_arweave, uploader_filecoin, dbs_ipfs)
//! as a storage backend: quotes, uploads, status, links and history go to it over the legacy
//! protocol (shared/reference/dbs-uploader.md §6). The files themselves stay in wharf's blob
//! store; the service fetches them by CID from an IPFS gateway (wharf's `/ipfs/`).
use std::{str::FromStr, time::Duration};

use alloy_primitives::{Address, U256};
use serde_json::{Value, json};
use wharf_entity::quote_file;

use super::{
    Quote, QuoteRequest,
    backend::{BackendError, OwnerSignature, Priced, StorageBackend, Stored},
};

/// Upstream gave a microservice 10 s to price a quote; the other calls get the same.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of a microservice reply wharf reads.
const MAX_REPLY_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The service answered with an error; its JSON is passed on to the client.
    #[error("the storage service refused with HTTP {status}")]
    Refused { status: u16, body: Value },
    #[error("the storage service did not answer: {0}")]
    Unreachable(String),
    #[error("the storage service replied in an unexpected format: {0}")]
    BadReply(String),
}

impl RemoteError {
    /// Worth trying again later (the service was down or overloaded).
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Unreachable(_) => true,
            RemoteError::Refused { status, .. } => *status >= 500 || *status == 429,
            RemoteError::BadReply(_) => false,
        }
    }
}

/// One microservice at a base URL that ends with `/`.
#[derive(Clone)]
pub struct Microservice {
    pub http: reqwest::Client,
    pub url: String,
}

/// A client for talking to microservices: bounded time per call, no redirects followed.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("wharf")
        .build()
        .unwrap_or_default()
}

impl Microservice {
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Sends a request and reads the reply as JSON; an empty body reads as `null`.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<(u16, Value), RemoteError> {
        let response = request
            .send()
            .await
            .map_err(|e| RemoteError::Unreachable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        use futures::StreamExt;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| RemoteError::Unreachable(e.without_url().to_string()))?;
            if body.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(RemoteError::BadReply("reply too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|_| {
                // Some services answer errors as plain text; keep it as a JSON string.
                Value::String(String::from_utf8_lossy(&body).chars().take(1000).collect())
            })
        };
        Ok((status, value))
    }

    async fn ok(&self, request: reqwest::RequestBuilder) -> Result<Value, RemoteError> {
        match self.call(request).await? {
            (200..=299, body) => Ok(body),
            (status, body) => Err(RemoteError::Refused { status, body }),
        }
    }

    /// `POST {url}getQuote` with the legacy request body.
    pub async fn quote(&self, body: &Value) -> Result<Value, RemoteError> {
        match self
            .call(self.http.post(self.endpoint("getQuote")).json(body))
            .await?
        {
            (200 | 201, body) if body.is_object() => Ok(body),
            (200 | 201, _) => Err(RemoteError::BadReply("quote is not a JSON object".into())),
            (status, body) => Err(RemoteError::Refused { status, body }),
        }
    }

    /// `GET {url}getStatus?quoteId=…` → the status code.
    pub async fn status(&self, quote_id: &str) -> Result<i32, RemoteError> {
        let body = self
            .ok(self
                .http
                .get(self.endpoint("getStatus"))
                .query(&[("quoteId", quote_id)]))
            .await?;
        body.get("status")
            .and_then(Value::as_i64)
            .and_then(|s| i32::try_from(s).ok())
            .ok_or_else(|| RemoteError::BadReply("status reply has no integer status".into()))
    }

    /// `POST {url}upload/?quoteId&nonce&signature` with the files as `ipfs://` URIs.
    pub async fn upload(
        &self,
        quote_id: &str,
        signed: &OwnerSignature,
        files: &[Value],
    ) -> Result<(), RemoteError> {
        let body = json!({
            "quoteId": quote_id,
            "nonce": signed.nonce,
            "signature": signed.signature,
            "files": files,
        });
        self.ok(self
            .http
            .post(self.endpoint("upload/"))
            .query(&[
                ("quoteId", quote_id),
                ("nonce", signed.nonce.as_str()),
                ("signature", signed.signature.as_str()),
            ])
            .json(&body))
            .await
            .map(|_| ())
    }

    /// `GET {url}getLink?quoteId&nonce&signature`; services that only take POST for it (the
    /// filecoin one answers GET with 405/406) are asked again with POST.
    pub async fn link(
        &self,
        quote_id: &str,
        signed: &OwnerSignature,
    ) -> Result<Value, RemoteError> {
        let query = [
            ("quoteId", quote_id),
            ("nonce", signed.nonce.as_str()),
            ("signature", signed.signature.as_str()),
        ];
        let url = self.endpoint("getLink");
        let (status, body) = self.call(self.http.get(&url).query(&query)).await?;
        let (status, body) = if status == 405 || status == 406 {
            self.call(self.http.post(&url).query(&query)).await?
        } else {
            (status, body)
        };
        match status {
            200..=299 => Ok(body),
            _ => Err(RemoteError::Refused { status, body }),
        }
    }

    /// `GET {url}getHistory?…` passed through: the service's status and body.
    pub async fn history(&self, query: &[(&str, String)]) -> Result<(u16, Value), RemoteError> {
        self.call(self.http.get(self.endpoint("getHistory")).query(query))
            .await
    }
}

/// The legacy getQuote body for a request.
pub fn quote_body(request: &QuoteRequest) -> Value {
    json!({
        "type": request.storage,
        "files": request.file_lengths.iter().map(|l| json!({"length": l})).collect::<Vec<_>>(),
        "duration": request.duration_secs,
        "payment": {
            "chainId": request.chain_id.to_string(),
            "tokenAddress": request.token_address.to_checksum(None),
        },
        "userAddress": request.owner.to_checksum(None),
    })
}

/// Reads a microservice quote reply: `{quoteId, tokenAmount, approveAddress, chainId,
/// tokenAddress}`, numbers given as JSON numbers or decimal strings.
pub fn parse_quote(reply: &Value, request: &QuoteRequest) -> Result<Priced, RemoteError> {
    let bad = |what: &str| RemoteError::BadReply(format!("quote reply has no valid {what}"));
    let text = |key: &str| -> Option<String> {
        match reply.get(key)? {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let id = text("quoteId")
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 100
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(|| bad("quoteId"))?;
    let token_amount = text("tokenAmount")
        .and_then(|a| U256::from_str_radix(&a, 10).ok())
        .ok_or_else(|| bad("tokenAmount"))?;
    let address = |key: &str| text(key).and_then(|a| Address::from_str(&a).ok());
    let approve_address = address("approveAddress").ok_or_else(|| bad("approveAddress"))?;
    let token_address = address("tokenAddress").unwrap_or(request.token_address);
    let chain_id = match text("chainId") {
        Some(c) => c.parse::<u64>().map_err(|_| bad("chainId"))?,
        None => request.chain_id,
    };
    Ok(Priced {
        id: Some(id),
        chain_id,
        token_address,
        token_amount,
        approve_address,
    })
}

/// The content type a microservice tags a file with, from its name (None when unknown).
pub fn content_type(name: Option<&str>) -> Option<&'static str> {
    let extension = name?.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "json" => "application/json",
        "js" => "text/javascript",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "wasm" => "application/wasm",
        _ => return None,
    })
}

#[async_trait::async_trait]
impl StorageBackend for Microservice {
    async fn quote(
        &self,
        request: &QuoteRequest,
        _total_bytes: u64,
    ) -> Result<Priced, BackendError> {
        let reply = Microservice::quote(self, &quote_body(request)).await?;
        Ok(parse_quote(&reply, request)?)
    }

    async fn store(
        &self,
        quote: &Quote,
        files: &[quote_file::Model],
        signed: Option<&OwnerSignature>,
    ) -> Result<Stored, BackendError> {
        let signed = signed.ok_or_else(|| {
            BackendError::Invalid("the owner's signature for the storage service is missing".into())
        })?;
        // After a crash the service may already have the files: it then reports a status
        // past "waiting" (1; 99 for the filecoin service) and must not be asked twice.
        match Microservice::status(self, &quote.id).await {
            Ok(s) if s > 1 && s != 99 && s != 199 => return Ok(Stored::Handed),
            Ok(_) => {}
            Err(e) if e.is_transient() => return Err(e.into()),
            // A status the service cannot give is no reason not to try the upload.
            Err(_) => {}
        }
        let mut items = Vec::with_capacity(files.len());
        for file in files {
            let cid = file.cid.as_ref().ok_or_else(|| {
                BackendError::Invalid(format!("file {} was never received", file.idx))
            })?;
            items.push(json!({
                "ipfs_uri": format!("ipfs://{cid}"),
                "content_type": content_type(file.name.as_deref()),
            }));
        }
        Microservice::upload(self, &quote.id, signed, &items).await?;
        Ok(Stored::Handed)
    }

    async fn status(&self, quote: &Quote) -> Result<Option<i32>, BackendError> {
        Ok(Some(Microservice::status(self, &quote.id).await?))
    }

    async fn link(&self, quote: &Quote, signed: &OwnerSignature) -> Result<Value, BackendError> {
        Ok(Microservice::link(self, &quote.id, signed).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> QuoteRequest {
        QuoteRequest {
            storage: "arweave".into(),
            file_lengths: vec![3, 4],
            duration_secs: 60,
            chain_id: 80001,
            token_address: Address::repeat_byte(0x11),
            owner: Address::repeat_byte(0x22),
        }
    }

    #[test]
    fn reads_quote_replies_with_numbers_as_strings_or_numbers() {
        let reply = json!({"quoteId": "ab12", "tokenAmount": "16746036207000000000000",
            "approveAddress": format!("{:#x}", Address::repeat_byte(0x33)), "chainId": 80001,
            "tokenAddress": format!("{:#x}", Address::repeat_byte(0x11))});
        let priced = parse_quote(&reply, &request()).unwrap();
        assert_eq!(priced.id.as_deref(), Some("ab12"));
        assert_eq!(priced.token_amount.to_string(), "16746036207000000000000");
        assert_eq!(priced.chain_id, 80001);
        let reply = json!({"quoteId": "x", "tokenAmount": 5, "approveAddress": "0x0000000000000000000000000000000000000000", "chainId": "137"});
        assert_eq!(parse_quote(&reply, &request()).unwrap().chain_id, 137);
    }

    #[test]
    fn refuses_quote_replies_that_cannot_be_paid() {
        for reply in [
            json!({"tokenAmount": "1", "approveAddress": "0x0000000000000000000000000000000000000000"}),
            json!({"quoteId": "a b", "tokenAmount": "1", "approveAddress": "0x0000000000000000000000000000000000000000"}),
            json!({"quoteId": "a", "tokenAmount": "-1", "approveAddress": "0x0000000000000000000000000000000000000000"}),
            json!({"quoteId": "a", "tokenAmount": "1", "approveAddress": "nope"}),
            json!({"quoteId": "a", "tokenAmount": 1.5, "approveAddress": "0x0000000000000000000000000000000000000000"}),
        ] {
            assert!(parse_quote(&reply, &request()).is_err(), "{reply}");
        }
    }

    #[test]
    fn guesses_content_types_from_names() {
        assert_eq!(content_type(Some("a.TXT")), Some("text/plain"));
        assert_eq!(content_type(Some("noext")), None);
        assert_eq!(content_type(None), None);
    }
}

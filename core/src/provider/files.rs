//! File objects of Ocean assets (shared/reference/ocean-provider.md §8.3): where a service's
//! files are and how to read them. `url` files are fetched through the SSRF-safe client;
//! `ipfs` files come from wharf's own content store when it holds the CID, else from the
//! configured gateway; `arweave` files from the Arweave gateway.
use std::str::FromStr;

use alloy_primitives::Address;
use reqwest::{Method, header::HeaderMap};
use serde_json::Value;
use url::Url;

#[derive(Debug, Clone, PartialEq)]
pub enum FileObject {
    Url {
        url: String,
        method: Method,
        headers: Vec<(String, String)>,
    },
    Ipfs {
        hash: String,
    },
    Arweave {
        transaction_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("Unsupported type {0}")]
    UnsupportedType(String),
    #[error("malformed file object: {0}")]
    Malformed(String),
}

impl FileObject {
    pub fn parse(value: &Value) -> Result<Self, FileError> {
        let text = |key: &str| {
            value[key]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| FileError::Malformed(format!("{key} is required")))
        };
        match value["type"].as_str().unwrap_or("url") {
            "url" => {
                let method = match value["method"].as_str().map(str::to_ascii_lowercase) {
                    None => Method::GET,
                    Some(m) if m == "get" => Method::GET,
                    Some(m) if m == "post" => Method::POST,
                    Some(other) => {
                        return Err(FileError::Malformed(format!(
                            "method {other} is not get or post"
                        )));
                    }
                };
                let headers = value["headers"]
                    .as_object()
                    .map(|h| {
                        h.iter()
                            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(FileObject::Url {
                    url: text("url")?,
                    method,
                    headers,
                })
            }
            "ipfs" => Ok(FileObject::Ipfs {
                hash: text("hash")?,
            }),
            "arweave" => Ok(FileObject::Arweave {
                transaction_id: text("transactionId")?,
            }),
            other => Err(FileError::UnsupportedType(other.to_string())),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            FileObject::Url { .. } => "url",
            FileObject::Ipfs { .. } => "ipfs",
            FileObject::Arweave { .. } => "arweave",
        }
    }

    /// The request that reads it from the network: method, URL, headers. `userdata` of a
    /// `url` file becomes query parameters (GET) or the JSON body (POST).
    pub fn request(
        &self,
        ipfs_gateway: &str,
        arweave_gateway: &str,
        userdata: Option<&Value>,
    ) -> Result<(Method, Url, HeaderMap, Option<bytes::Bytes>), FileError> {
        let join = |base: &str, tail: &str| {
            Url::parse(base)
                .and_then(|b| b.join(tail))
                .map_err(|_| FileError::Malformed(format!("cannot make a URL of {tail}")))
        };
        match self {
            FileObject::Url {
                url,
                method,
                headers,
            } => {
                let mut url = Url::parse(url).map_err(|_| {
                    FileError::Malformed(
                        "Invalid file name format. It was not possible to get the file name."
                            .into(),
                    )
                })?;
                let mut header_map = HeaderMap::new();
                for (name, value) in headers {
                    if let (Ok(name), Ok(value)) = (
                        reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                        reqwest::header::HeaderValue::from_str(value),
                    ) {
                        header_map.insert(name, value);
                    }
                }
                let mut body = None;
                if let Some(data) = userdata.and_then(Value::as_object) {
                    if *method == Method::GET {
                        let mut pairs = url.query_pairs_mut();
                        for (k, v) in data {
                            let v = v
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string());
                            pairs.append_pair(k, &v);
                        }
                    } else {
                        body = Some(bytes::Bytes::from(Value::Object(data.clone()).to_string()));
                        header_map.insert(
                            reqwest::header::CONTENT_TYPE,
                            reqwest::header::HeaderValue::from_static("application/json"),
                        );
                    }
                }
                Ok((method.clone(), url, header_map, body))
            }
            FileObject::Ipfs { hash } => Ok((
                Method::GET,
                join(ipfs_gateway, &format!("ipfs/{hash}"))?,
                HeaderMap::new(),
                None,
            )),
            FileObject::Arweave { transaction_id } => Ok((
                Method::GET,
                join(arweave_gateway, transaction_id)?,
                HeaderMap::new(),
                None,
            )),
        }
    }
}

/// The plaintext of a service's encrypted `files`: DDO 4.1 wraps the list with the datatoken
/// and the NFT it belongs to (both must match the asset's); DDO 4.0 is a bare list.
pub fn service_files(
    plaintext: &[u8],
    datatoken: &Address,
    nft: &Address,
) -> Result<Vec<Value>, FileError> {
    let value: Value = serde_json::from_slice(plaintext)
        .map_err(|_| FileError::Malformed("the service files are not JSON".into()))?;
    match value {
        Value::Array(list) => Ok(list),
        Value::Object(object) => {
            let same = |key: &str, expected: &Address| {
                object
                    .get(key)
                    .and_then(Value::as_str)
                    .and_then(|a| Address::from_str(a).ok())
                    .is_some_and(|a| a == *expected)
            };
            if !same("datatokenAddress", datatoken) {
                return Err(FileError::Malformed("Mismatch of datatoken.".into()));
            }
            if !same("nftAddress", nft) {
                return Err(FileError::Malformed("Mismatch of dataNft.".into()));
            }
            match object.get("files") {
                Some(Value::Array(list)) => Ok(list.clone()),
                _ => Err(FileError::Malformed("no files list".into())),
            }
        }
        _ => Err(FileError::Malformed(
            "the service files are not a list".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn file_objects_resolve_to_requests() {
        let file = FileObject::parse(
            &json!({"type": "url", "url": "https://x.example/a.csv", "method": "GET"}),
        )
        .unwrap();
        let (method, url, _, body) = file
            .request(
                "https://ipfs.io/",
                "https://arweave.net/",
                Some(&json!({"q": "1"})),
            )
            .unwrap();
        assert_eq!(
            (method, url.as_str(), body),
            (Method::GET, "https://x.example/a.csv?q=1", None)
        );
        let ipfs = FileObject::parse(&json!({"type": "ipfs", "hash": "QmX"})).unwrap();
        assert_eq!(
            ipfs.request("https://gw.example/", "", None)
                .unwrap()
                .1
                .as_str(),
            "https://gw.example/ipfs/QmX"
        );
        assert!(matches!(
            FileObject::parse(&json!({"type": "smartcontract"})),
            Err(FileError::UnsupportedType(_))
        ));
        assert!(FileObject::parse(&json!({"type": "ipfs"})).is_err());
    }

    #[test]
    fn wrapped_files_must_belong_to_the_asset() {
        let dt = Address::repeat_byte(1);
        let nft = Address::repeat_byte(2);
        let wrapped = json!({"datatokenAddress": dt.to_checksum(None), "nftAddress": nft.to_checksum(None), "files": [{"type": "url"}]});
        assert_eq!(
            service_files(wrapped.to_string().as_bytes(), &dt, &nft)
                .unwrap()
                .len(),
            1
        );
        assert!(service_files(wrapped.to_string().as_bytes(), &nft, &nft).is_err());
        assert_eq!(service_files(b"[{},{}]", &dt, &nft).unwrap().len(), 2);
    }
}

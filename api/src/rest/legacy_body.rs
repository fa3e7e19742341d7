//! Reading a JSON body for a legacy route: bounded while it streams, errors in the family's
//! own shape rather than axum's plain-text rejections.
use axum::body::Body;
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body too large")]
    TooLarge,
    #[error("body is not JSON")]
    NotJson,
    #[error("body could not be read")]
    Unreadable,
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::NotJson | BodyError::Unreadable => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads at most `limit` bytes and parses them as JSON.
pub async fn read_json(body: Body, limit: usize) -> Result<serde_json::Value, BodyError> {
    let bytes = read_bytes(body, limit).await?;
    serde_json::from_slice(&bytes).map_err(|_| BodyError::NotJson)
}

/// Reads at most `limit` bytes.
pub async fn read_bytes(body: Body, limit: usize) -> Result<bytes::Bytes, BodyError> {
    use http_body_util::BodyExt;
    let collected = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                BodyError::TooLarge
            } else {
                BodyError::Unreadable
            }
        })?;
    Ok(collected.to_bytes())
}

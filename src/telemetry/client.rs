//! Reads a running daemon's `/api/v1/status` (for `switchyard status --server`).

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use thiserror::Error;

use super::status::StatusDocument;

/// A stuck daemon must not hang `switchyard status`.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Far above a fleet of thousands of runners, far below what would hurt the CLI.
const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("GET {url} failed: {source}")]
    Request {
        url: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error("GET {url} timed out after {}s", TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error("GET {url} answered {status}: {body}")]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("GET {url}: reading the response failed: {reason}")]
    Body { url: String, reason: String },
    #[error("GET {url}: the response is not a status document: {source}")]
    Decode {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

/// `base_url` is the daemon's address, e.g. `http://127.0.0.1:9254` (a trailing `/` is fine).
pub async fn fetch_status(base_url: &str) -> Result<StatusDocument, FetchError> {
    let url = format!("{}/api/v1/status", base_url.trim_end_matches('/'));
    let uri: Uri =
        url.parse()
            .map_err(|e: hyper::http::uri::InvalidUri| FetchError::InvalidUrl {
                url: base_url.to_owned(),
                reason: e.to_string(),
            })?;
    // The daemon serves plain HTTP on loopback or inside a cluster; TLS is the proxy's job.
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(FetchError::InvalidUrl {
            url: base_url.to_owned(),
            reason: "expected http://HOST:PORT".to_owned(),
        });
    }
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let exchange = async {
        let response = client
            .get(uri)
            .await
            .map_err(|source| FetchError::Request {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| FetchError::Body {
                url: url.clone(),
                reason: e.to_string(),
            })?
            .to_bytes();
        Ok::<_, FetchError>((status, body))
    };
    let (status, body) = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| FetchError::Timeout { url: url.clone() })??;
    if !status.is_success() {
        return Err(FetchError::Status {
            url,
            status,
            body: String::from_utf8_lossy(&body).trim().to_owned(),
        });
    }
    serde_json::from_slice(&body).map_err(|source| FetchError::Decode { url, source })
}

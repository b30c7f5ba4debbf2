//! HTTP plumbing: one reqwest client, URLs built by encoding, and status codes mapped to the
//! port's errors.

use std::time::Duration;

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use super::wire::{ErrorBody, StoredMemory};
use crate::core::ports::MemoryStoreError;
use crate::core::CallerId;

/// What a newest OpenMemory server answers to a `user_id` that is not its key's tenant
/// (exchanges-newest/a03, a14).
pub(super) const TENANT_MISMATCH: &str = "tenant_mismatch";

pub(super) const TENANT_MISMATCH_EXPLANATION: &str =
    "this openmemory server derives the user from \
the api key (it answered 403 tenant_mismatch to a per-caller user_id), so it cannot keep callers \
apart; use an openmemory release that accepts user_id (up to commit 1d38638, before the \
fail-closed tenant change) or set MEMORY_BACKEND=embedded";

/// Who a memory read by id belongs to.
pub(super) enum Ownership {
    /// The caller's own memory.
    Own(StoredMemory),
    /// Another caller's memory, or one that no longer exists (403 or 404).
    NotOwn,
}

#[derive(Debug, Clone)]
pub(super) struct Api {
    client: Client,
    base: Url,
}

impl Api {
    pub fn new(base: Url, api_key: &str, timeout: Duration) -> Result<Self, MemoryStoreError> {
        if base.cannot_be_a_base() {
            return Err(MemoryStoreError::Unknown(anyhow::anyhow!(
                "openmemory url {base} cannot have paths"
            )));
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {api_key}"))
            .context("openmemory key contains characters not allowed in an http header")?;
        authorization.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization);
        // Legacy servers crash on a query without this header (exchanges-legacy/l84).
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let client = Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the openmemory http client")?;
        Ok(Self { client, base })
    }

    /// The URL of `segments` under the base URL. Each segment is percent-encoded whole, so a
    /// value can never produce a malformed escape (exchanges-legacy/l82).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// POSTs `body` as JSON (serde always produces valid JSON, exchanges-legacy/l81) and parses
    /// a 2xx answer.
    pub async fn post<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &impl Serialize,
    ) -> Result<T, MemoryStoreError> {
        let response = self
            .client
            .post(self.url(segments))
            .json(body)
            .send()
            .await
            .map_err(transport_error)?;
        parse(success(response).await?).await
    }

    /// `GET /health`, which needs no key.
    pub async fn health(&self) -> Result<(), MemoryStoreError> {
        let response = self
            .client
            .get(self.url(&["health"]))
            .send()
            .await
            .map_err(transport_error)?;
        success(response).await.map(drop)
    }

    /// Reads a memory by id as `caller`: the server checks ownership only when `user_id` is
    /// sent, and the `+` must be encoded or it decodes to a space (exchanges-legacy/l32, l33).
    pub async fn read_as(
        &self,
        id: &str,
        caller: &CallerId,
    ) -> Result<Ownership, MemoryStoreError> {
        let mut url = self.url(&["memory", id]);
        url.query_pairs_mut()
            .append_pair("user_id", caller.as_e164());
        let response = self.client.get(url).send().await.map_err(transport_error)?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(Ownership::NotOwn);
        }
        if status == StatusCode::FORBIDDEN {
            let body = error_body(response).await;
            if body.code() == Some(TENANT_MISMATCH) {
                return Err(MemoryStoreError::Incompatible(
                    TENANT_MISMATCH_EXPLANATION.to_owned(),
                ));
            }
            return Ok(Ownership::NotOwn);
        }
        Ok(Ownership::Own(parse(success(response).await?).await?))
    }

    /// GETs `segments` with `query` pairs (encoded, so a `+` is sent as `%2B`) and parses a 2xx
    /// answer.
    pub async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, MemoryStoreError> {
        let mut url = self.url(segments);
        url.query_pairs_mut().extend_pairs(query);
        let response = self.client.get(url).send().await.map_err(transport_error)?;
        parse(success(response).await?).await
    }

    /// Deletes a memory by id as `caller` (`DELETE /memory/:id?user_id=`, exchanges-legacy/l37;
    /// exchanges-newest/a22, a24): `true` when it was deleted, `false` when it was already gone.
    /// Another caller's memory is refused by the server and reported as rejected.
    pub async fn delete_as(&self, id: &str, caller: &CallerId) -> Result<bool, MemoryStoreError> {
        let mut url = self.url(&["memory", id]);
        url.query_pairs_mut()
            .append_pair("user_id", caller.as_e164());
        let response = self
            .client
            .delete(url)
            .send()
            .await
            .map_err(transport_error)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        success(response).await.map(|_| true)
    }
}

fn transport_error(error: reqwest::Error) -> MemoryStoreError {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    MemoryStoreError::Unavailable(format!("openmemory {what}: {}", without_url(error)))
}

/// reqwest errors print the URL, which can hold a caller's number in its query string.
fn without_url(error: reqwest::Error) -> String {
    error.without_url().to_string()
}

async fn parse<T: DeserializeOwned>(response: Response) -> Result<T, MemoryStoreError> {
    let bytes = response.bytes().await.map_err(transport_error)?;
    serde_json::from_slice(&bytes)
        .context("openmemory answered with unexpected json")
        .map_err(MemoryStoreError::Unknown)
}

/// Passes 2xx answers through and turns the rest into the port's errors.
pub(super) async fn success(response: Response) -> Result<Response, MemoryStoreError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = error_body(response).await;
    // Error codes are short words; the cap keeps a misbehaving server's body out of logs.
    let code: String = body
        .code()
        .unwrap_or("no detail")
        .chars()
        .take(80)
        .collect();
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS => {
            MemoryStoreError::Unavailable(format!("openmemory is rate limiting ({code})"))
        }
        status if status.is_server_error() => {
            MemoryStoreError::Unavailable(format!("openmemory answered {status} ({code})"))
        }
        StatusCode::FORBIDDEN if code == TENANT_MISMATCH => {
            MemoryStoreError::Incompatible(TENANT_MISMATCH_EXPLANATION.to_owned())
        }
        status if status.is_client_error() => {
            MemoryStoreError::Rejected(format!("openmemory answered {status} ({code})"))
        }
        status => MemoryStoreError::Unknown(anyhow::anyhow!("openmemory answered {status}")),
    })
}

async fn error_body(response: Response) -> ErrorBody {
    match response.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => ErrorBody::default(),
    }
}

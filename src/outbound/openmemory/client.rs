//! HTTP plumbing: one reqwest client, URLs built by encoding, and status codes mapped to the
//! port's errors.

use std::time::Duration;

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use super::wire::{ErrorBody, StoredMemory, UserMemories};
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

/// What a newest OpenMemory server started without `OM_API_KEY` answers, with a 503, to every
/// protected route (exchanges-newest/c01): a configuration error of that server, not an outage.
pub(super) const AUTH_NOT_CONFIGURED: &str = "auth_not_configured";

pub(super) const AUTH_NOT_CONFIGURED_EXPLANATION: &str =
    "this openmemory server has no OM_API_KEY configured (it answered 503 \
auth_not_configured), so it serves no memory route; set OM_API_KEY on that server to the value \
of OPENMEMORY_KEY and restart it";

/// Why a POST failed, and whether the server may still have acted on it.
pub(super) struct PostFailure {
    pub error: MemoryStoreError,
    pub maybe_received: bool,
}

impl From<PostFailure> for MemoryStoreError {
    fn from(failure: PostFailure) -> Self {
        failure.error
    }
}

/// The server answered with an error: the answer is the outcome.
impl From<MemoryStoreError> for PostFailure {
    fn from(error: MemoryStoreError) -> Self {
        Self {
            error,
            maybe_received: false,
        }
    }
}

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
        Ok(self.post_telling_if_sent(segments, body, None).await?)
    }

    /// [`Api::post`], giving up after `timeout` instead of the client's timeout when given, and
    /// telling apart a failure where the server may still act on the request (it timed out or
    /// the connection broke after sending) from one where it certainly will not.
    pub async fn post_telling_if_sent<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &impl Serialize,
        timeout: Option<Duration>,
    ) -> Result<T, PostFailure> {
        let mut request = self.client.post(self.url(segments)).json(body);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.map_err(|error| PostFailure {
            // A connection never made carried nothing; anything later may have reached the server.
            maybe_received: !error.is_connect(),
            error: self.transport_error(error),
        })?;
        let answered = success(response).await?;
        // A success whose body could not be read: the server acted, the answer is lost.
        parse(answered).await.map_err(|error| PostFailure {
            error,
            maybe_received: true,
        })
    }

    /// One page of `caller`'s memories, newest first (`GET /users/:id/memories?l=&u=`; the id is
    /// a path segment, where a `+` is kept, exchanges-legacy/l20, l25).
    pub async fn memories_of(
        &self,
        caller: &CallerId,
        limit: usize,
        offset: usize,
    ) -> Result<UserMemories, MemoryStoreError> {
        let mut url = self.url(&["users", caller.as_e164(), "memories"]);
        url.query_pairs_mut()
            .append_pair("l", &limit.to_string())
            .append_pair("u", &offset.to_string());
        parse(success(self.get(url).await?).await?).await
    }

    /// GETs `url`; any answer is returned, whatever its status.
    async fn get(&self, url: Url) -> Result<Response, MemoryStoreError> {
        self.client
            .get(url)
            .send()
            .await
            .map_err(|error| self.transport_error(error))
    }

    /// `GET /health`, which needs no key, within `timeout`.
    pub async fn health(&self, timeout: Duration) -> Result<(), MemoryStoreError> {
        let response = self
            .client
            .get(self.url(&["health"]))
            .timeout(timeout)
            .send()
            .await
            .map_err(|error| self.transport_error(error))?;
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
        let response = self.get(url).await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(Ownership::NotOwn);
        }
        if status == StatusCode::FORBIDDEN {
            let body = error_body(response).await;
            if body.code() == Some(TENANT_MISMATCH) {
                return Err(MemoryStoreError::incompatible(TENANT_MISMATCH_EXPLANATION));
            }
            return Ok(Ownership::NotOwn);
        }
        Ok(Ownership::Own(parse(success(response).await?).await?))
    }
}

impl Api {
    /// Deletes a memory by id as `caller`: the server checks ownership only when `user_id` is
    /// sent (`DELETE /memory/:id?user_id=`, exchanges-legacy/l37; exchanges-newest/a22, a24):
    /// `true` when it was deleted, `false` when it was already gone (404). Another caller's
    /// memory is refused by the server and reported as rejected.
    pub async fn delete_as(&self, id: &str, caller: &CallerId) -> Result<bool, MemoryStoreError> {
        let mut url = self.url(&["memory", id]);
        url.query_pairs_mut()
            .append_pair("user_id", caller.as_e164());
        let response = self
            .client
            .delete(url)
            .send()
            .await
            .map_err(|error| self.transport_error(error))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        success(response).await.map(|_| true)
    }

    /// A request that got no answer, keeping reqwest's error (and so the whole cause:
    /// connection refused, DNS, TLS...) as the source.
    fn transport_error(&self, error: reqwest::Error) -> MemoryStoreError {
        let what = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        MemoryStoreError::unavailable(Unanswered {
            server: server_of(&self.base),
            what,
            cause: error.without_url(),
        })
    }
}

/// A request that got no answer. It names the server, never the request's URL, whose query
/// string can hold a caller's number.
#[derive(Debug, thiserror::Error)]
#[error("openmemory at {server} {what}")]
struct Unanswered {
    server: String,
    what: &'static str,
    #[source]
    cause: reqwest::Error,
}

/// The server part of the base URL, without credentials, path or query.
fn server_of(base: &Url) -> String {
    match base.port() {
        Some(port) => format!(
            "{}://{}:{port}",
            base.scheme(),
            base.host_str().unwrap_or_default()
        ),
        None => format!(
            "{}://{}",
            base.scheme(),
            base.host_str().unwrap_or_default()
        ),
    }
}

async fn parse<T: DeserializeOwned>(response: Response) -> Result<T, MemoryStoreError> {
    let bytes = response.bytes().await.map_err(|error| {
        MemoryStoreError::unavailable(
            anyhow::Error::new(error.without_url()).context("openmemory answer could not be read"),
        )
    })?;
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
        StatusCode::SERVICE_UNAVAILABLE if code == AUTH_NOT_CONFIGURED => {
            MemoryStoreError::incompatible(AUTH_NOT_CONFIGURED_EXPLANATION)
        }
        StatusCode::TOO_MANY_REQUESTS => {
            MemoryStoreError::unavailable(format!("openmemory is rate limiting ({code})"))
        }
        status if status.is_server_error() => {
            MemoryStoreError::unavailable(format!("openmemory answered {status} ({code})"))
        }
        StatusCode::FORBIDDEN if code == TENANT_MISMATCH => {
            MemoryStoreError::incompatible(TENANT_MISMATCH_EXPLANATION)
        }
        status if status.is_client_error() => {
            MemoryStoreError::rejected(format!("openmemory answered {status} ({code})"))
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

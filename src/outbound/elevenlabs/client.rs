//! HTTP plumbing: the `xi-api-key` header, JSON in and out, ElevenLabs' error bodies, and waits
//! on 429 as `Retry-After` asks.

use std::time::Duration;

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use url::Url;

use error_body::error_message;

use crate::core::ports::{BoxError, ErrorChain};

mod error_body;

/// The header ElevenLabs reads the API key from.
const API_KEY_HEADER: &str = "xi-api-key";

/// The longest wait honoured for one 429, whatever `Retry-After` says.
const LONGEST_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: the agent, tool or conversation does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// 401 or 403: the key is wrong or lacks a permission.
    #[error("the ElevenLabs API refused the key ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// 429 after every allowed retry.
    #[error("rate limited by the ElevenLabs API (429) after {attempts} attempts: {message}")]
    RateLimited { attempts: u32, message: String },
    /// Unreachable, timed out, or a 5xx.
    #[error("the ElevenLabs API is unavailable: {}", ErrorChain(.0.as_ref()))]
    Unavailable(#[source] BoxError),
    /// Another 4xx, such as a 422 validation error.
    #[error("the ElevenLabs API refused the request ({status}): {message}")]
    Invalid { status: u16, message: String },
    /// A 2xx whose body is not the JSON expected.
    #[error("the ElevenLabs API answered something unreadable: {0}")]
    Unreadable(String),
}

/// How many times a 429 is waited out before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitRetries(pub u32);

/// An ElevenLabs API client.
#[derive(Debug, Clone)]
pub struct ElevenLabsApi {
    client: Client,
    base: Url,
    retries: RateLimitRetries,
}

impl ElevenLabsApi {
    /// A client of the API at `base` (normally `https://api.elevenlabs.io`); each request gives
    /// up after `timeout`.
    ///
    /// # Errors
    /// When the key cannot be sent as a header or `base` cannot have paths.
    pub fn new(
        base: Url,
        api_key: &str,
        timeout: Duration,
        retries: RateLimitRetries,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !base.cannot_be_a_base(),
            "elevenlabs api url {base} cannot have paths"
        );
        let mut key = HeaderValue::from_str(api_key)
            .context("ELEVENLABS_API_KEY contains characters not allowed in an http header")?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(API_KEY_HEADER, key);
        let client = Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .context("cannot build the elevenlabs http client")?;
        Ok(Self {
            client,
            base,
            retries,
        })
    }

    /// `GET /v1/convai/agents/{agent_id}`.
    pub async fn agent(&self, agent_id: &str) -> Result<Value, ApiError> {
        self.get(&["v1", "convai", "agents", agent_id], &[]).await
    }

    /// `GET /v1/convai/settings`: the workspace's agent settings (webhooks).
    pub async fn workspace_settings(&self) -> Result<Value, ApiError> {
        self.get(&["v1", "convai", "settings"], &[]).await
    }

    /// `GET /v1/workspace/webhooks?include_usages=true`.
    pub async fn workspace_webhooks(&self) -> Result<Value, ApiError> {
        self.get(
            &["v1", "workspace", "webhooks"],
            &[("include_usages", "true".to_owned())],
        )
        .await
    }

    /// `GET /v1/convai/tools/{tool_id}`.
    pub async fn tool(&self, tool_id: &str) -> Result<Value, ApiError> {
        self.get(&["v1", "convai", "tools", tool_id], &[]).await
    }

    /// `GET /v1/convai/tools?search=...`, every page.
    pub async fn tools_named(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("search", name.to_owned()), ("page_size", "100".to_owned())];
            if let Some(cursor) = cursor.take() {
                query.push(("cursor", cursor));
            }
            let page = self.get(&["v1", "convai", "tools"], &query).await?;
            if let Some(found) = page.get("tools").and_then(Value::as_array) {
                tools.extend(found.iter().cloned());
            }
            match next_cursor(&page) {
                Some(next) => cursor = Some(next),
                None => return Ok(tools),
            }
        }
    }

    /// `GET /v1/convai/secrets?search=...`: the workspace secrets whose names start with `name`.
    pub async fn secrets_named(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        let page = self
            .get(&["v1", "convai", "secrets"], &[("search", name.to_owned())])
            .await?;
        Ok(page
            .get("secrets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// `POST /v1/convai/secrets` with `{"type": "new", name, value}`.
    pub async fn create_secret(&self, name: &str, value: &str) -> Result<Value, ApiError> {
        let body = serde_json::json!({"type": "new", "name": name, "value": value});
        self.send(Method::POST, &["v1", "convai", "secrets"], &body)
            .await
    }

    /// `POST /v1/convai/tools`.
    pub async fn create_tool(&self, tool: &Value) -> Result<Value, ApiError> {
        self.send(Method::POST, &["v1", "convai", "tools"], tool)
            .await
    }

    /// `PATCH /v1/convai/tools/{tool_id}`.
    pub async fn update_tool(&self, tool_id: &str, tool: &Value) -> Result<Value, ApiError> {
        self.send(Method::PATCH, &["v1", "convai", "tools", tool_id], tool)
            .await
    }

    /// `PATCH /v1/convai/agents/{agent_id}`.
    pub async fn update_agent(&self, agent_id: &str, patch: &Value) -> Result<Value, ApiError> {
        self.send(Method::PATCH, &["v1", "convai", "agents", agent_id], patch)
            .await
    }

    /// `GET /v1/convai/conversations` with `query` (cursor, agent_id, call_start_after_unix...).
    pub async fn conversations(&self, query: &[(&str, String)]) -> Result<Value, ApiError> {
        self.get(&["v1", "convai", "conversations"], query).await
    }

    /// `GET /v1/convai/conversations/{conversation_id}`.
    pub async fn conversation(&self, conversation_id: &str) -> Result<Value, ApiError> {
        self.get(&["v1", "convai", "conversations", conversation_id], &[])
            .await
    }

    async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Value, ApiError> {
        let url = self.url(segments);
        self.call(|| self.client.get(url.clone()).query(query))
            .await
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: &Value,
    ) -> Result<Value, ApiError> {
        let url = self.url(segments);
        self.call(|| self.client.request(method.clone(), url.clone()).json(body))
            .await
    }

    /// Each segment is percent-encoded whole, so an id cannot change the path.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends the request, waiting out 429s as `Retry-After` asks (or with exponential backoff).
    async fn call(&self, request: impl Fn() -> RequestBuilder) -> Result<Value, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = request()
                .send()
                .await
                .map_err(|error| ApiError::Unavailable(error.without_url().into()))?;
            if response.status() != StatusCode::TOO_MANY_REQUESTS {
                return read(response).await;
            }
            let wait = retry_after(&response)
                .unwrap_or_else(|| Duration::from_secs(1 << attempt.min(6)))
                .min(LONGEST_RATE_LIMIT_WAIT);
            let message = error_message(&response.text().await.unwrap_or_default());
            if attempt > self.retries.0 {
                return Err(ApiError::RateLimited {
                    attempts: attempt,
                    message,
                });
            }
            tracing::info!(
                attempt,
                wait_secs = wait.as_secs_f64(),
                "rate limited by the ElevenLabs API; waiting before trying again"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// The cursor of the next page, when `has_more` says there is one.
pub(super) fn next_cursor(page: &Value) -> Option<String> {
    let has_more = page
        .get("has_more")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let cursor = page.get("next_cursor").and_then(Value::as_str)?;
    (has_more && !cursor.is_empty()).then(|| cursor.to_owned())
}

/// `Retry-After` in seconds (the form ElevenLabs sends); an HTTP date is not expected.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

async fn read(response: Response) -> Result<Value, ApiError> {
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|error| ApiError::Unavailable(error.without_url().into()))?;
    if status.is_success() {
        return serde_json::from_str(&body)
            .map_err(|error| ApiError::Unreadable(format!("not JSON: {error}")));
    }
    let message = error_message(&body);
    Err(match status.as_u16() {
        404 => ApiError::NotFound(message),
        401 | 403 => ApiError::Rejected {
            status: status.as_u16(),
            message,
        },
        code if status.is_server_error() => {
            ApiError::Unavailable(format!("{code}: {message}").into())
        }
        code => ApiError::Invalid {
            status: code,
            message,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_followed_only_while_has_more_is_true() {
        let page =
            |has_more, cursor| serde_json::json!({"has_more": has_more, "next_cursor": cursor});
        assert_eq!(next_cursor(&page(true, "c2")), Some("c2".to_owned()));
        assert_eq!(next_cursor(&page(false, "c2")), None);
        assert_eq!(next_cursor(&page(true, "")), None);
    }
}

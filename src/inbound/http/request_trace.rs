//! Every request gets an id (taken from `X-Request-Id` when the caller sent a sane one), a
//! tracing span carrying it, a log line with its outcome, and the id in the response headers.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Request, Response, Result};
use tracing::Instrument;

const REQUEST_ID_HEADER: &str = "x-request-id";

fn request_id(request: &Request) -> String {
    request
        .header(REQUEST_ID_HEADER)
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Wraps an endpoint with request ids and request logging.
pub async fn trace_request<E: Endpoint>(
    endpoint: std::sync::Arc<E>,
    request: Request,
) -> Result<Response> {
    let id = request_id(&request);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    async move {
        let started = Instant::now();
        let mut response = match endpoint.call(request).await {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };
        let status = response.status();
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), elapsed_ms, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), elapsed_ms, "request handled");
        }
        if let Ok(value) = id.parse() {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        Ok(response)
    }
    .instrument(span)
    .await
}

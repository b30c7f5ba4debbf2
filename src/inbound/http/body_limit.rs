//! A cap on the bodies of the small JSON webhooks, so that nobody can make the service buffer a
//! huge body in memory, or hold a request open with a body that never comes. Post-call is left
//! out: it streams to disk under its own limits (`MAX_BODY_BYTES`, `MAX_UNVERIFIED_BYTES`).

use std::sync::Arc;

use bytes::BytesMut;
use poem::error::ReadBodyError;
use poem::http::StatusCode;
use poem::{Body, Endpoint, IntoResponse, Request, Response, Result};

use crate::inbound::http::edge::{BodyReadError, Edge};

/// The largest body of `client-data`, `search-data` and the probes. Real requests are well under
/// a kilobyte (a search query is at most 1,000 characters).
pub const MAX_SMALL_BODY_BYTES: usize = 64 * 1024;

/// The one route whose body may be large.
const STREAMED_PATH: &str = "/webhook/post-call";

/// Refuses with 413 a body over [`MAX_SMALL_BODY_BYTES`], whether or not it declares its length,
/// and with 408 one that stops arriving for `BODY_STALL_TIMEOUT_MS`.
pub async fn limit_small_bodies<E: Endpoint>(
    edge: Arc<Edge>,
    endpoint: Arc<E>,
    mut request: Request,
) -> Result<Response> {
    if request.uri().path() != STREAMED_PATH {
        let declared = request
            .header(poem::http::header::CONTENT_LENGTH)
            .and_then(|length| length.parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_SMALL_BODY_BYTES as u64) {
            return Err(ReadBodyError::PayloadTooLarge.into());
        }
        let mut chunks = request.take_body().into_bytes_stream();
        let mut body = BytesMut::new();
        while let Some(chunk) = edge.next_chunk(&mut chunks).await.map_err(body_error)? {
            if body.len() + chunk.len() > MAX_SMALL_BODY_BYTES {
                return Err(ReadBodyError::PayloadTooLarge.into());
            }
            body.extend_from_slice(&chunk);
        }
        request.set_body(Body::from_bytes(body.freeze()));
    }
    Ok(endpoint.call(request).await?.into_response())
}

fn body_error(error: BodyReadError) -> poem::Error {
    let status = match error {
        BodyReadError::Stalled(_) => StatusCode::REQUEST_TIMEOUT,
        BodyReadError::Broken(_) => StatusCode::BAD_REQUEST,
    };
    poem::Error::from_string(error.to_string(), status)
}

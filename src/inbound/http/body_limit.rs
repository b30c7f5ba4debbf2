//! A cap on the bodies of the small JSON webhooks, so that nobody can make the service buffer a
//! huge body in memory, or hold a request open with a body that never comes. Each operation that
//! buffers its body opts in with `#[oai(transform = "small_bodies")]`; post-call does not: it
//! streams to disk under its own limits (`MAX_BODY_BYTES`, `MAX_UNVERIFIED_BYTES`). So where the
//! API is mounted does not matter.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use poem::error::ReadBodyError;
use poem::http::StatusCode;
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Result};

use crate::inbound::http::edge::{BodyReadError, Edge};

/// The largest body of `client-data`, `search-data`, the probes and the administration API. Real requests are well under
/// a kilobyte (a search query is at most 1,000 characters).
pub const MAX_SMALL_BODY_BYTES: usize = 64 * 1024;

/// An operation's endpoint with [`limit_small_bodies`] in front of it.
pub fn small_bodies<E: Endpoint + 'static>(endpoint: E) -> impl Endpoint {
    endpoint.around(limit_small_bodies)
}

/// Refuses with 413 a body over [`MAX_SMALL_BODY_BYTES`], whether or not it declares its length,
/// and with 408 one that stops arriving for `BODY_STALL_TIMEOUT_MS` (the edge's deadline, when
/// the route carries the edge).
async fn limit_small_bodies<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
) -> Result<Response> {
    let edge = request.data::<Arc<Edge>>().cloned();
    let body = read_small_body(&mut request, edge.as_deref()).await?;
    request.set_body(Body::from_bytes(body));
    Ok(endpoint.call(request).await?.into_response())
}

/// Takes the whole body of `request`, refusing with 413 one over [`MAX_SMALL_BODY_BYTES`]
/// (declared or not), and with 408 one that stops arriving for the `edge`'s deadline.
pub async fn read_small_body(request: &mut Request, edge: Option<&Edge>) -> Result<Bytes> {
    let declared = request
        .header(poem::http::header::CONTENT_LENGTH)
        .and_then(|length| length.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_SMALL_BODY_BYTES as u64) {
        return Err(ReadBodyError::PayloadTooLarge.into());
    }
    let Some(edge) = edge else {
        return request
            .take_body()
            .into_bytes_limit(MAX_SMALL_BODY_BYTES)
            .await
            .map_err(Into::into);
    };
    let mut chunks = request.take_body().into_bytes_stream();
    // A small body usually comes in one chunk, which is kept as it is; only a body in several
    // chunks is copied into one buffer.
    let mut only_chunk: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    while let Some(chunk) = edge.next_chunk(&mut chunks).await.map_err(body_error)? {
        let received = only_chunk.as_ref().map_or(0, Bytes::len) + joined.len();
        if received + chunk.len() > MAX_SMALL_BODY_BYTES {
            return Err(ReadBodyError::PayloadTooLarge.into());
        }
        if only_chunk.is_none() && joined.is_empty() {
            only_chunk = Some(chunk);
            continue;
        }
        if let Some(first) = only_chunk.take() {
            joined.extend_from_slice(&first);
        }
        joined.extend_from_slice(&chunk);
    }
    Ok(only_chunk.unwrap_or_else(|| joined.freeze()))
}

fn body_error(error: BodyReadError) -> poem::Error {
    let status = match error {
        BodyReadError::Stalled(_) => StatusCode::REQUEST_TIMEOUT,
        BodyReadError::Broken(_) => StatusCode::BAD_REQUEST,
    };
    poem::Error::from_string(error.to_string(), status)
}

//! Every request gets an id (taken from `X-Request-Id` when the caller sent a sane one), a
//! tracing span carrying it, a log line with its outcome, and the id in the response headers
//! (put together by [`super::front`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

use poem::http::{HeaderName, HeaderValue, StatusCode};
use poem::{Request, Response};
use tracing::Span;

const REQUEST_ID_HEADER: &str = "x-request-id";

/// Ids made here are this process's prefix and a sequence number (`5f0c2a9e41d7-1b`): unique
/// across restarts and instances without asking the system for randomness on every request.
struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

static REQUEST_IDS: LazyLock<RequestIds> = LazyLock::new(|| RequestIds {
    prefix: format!("{:012x}", rand::random::<u64>() >> 16),
    next: AtomicU64::new(1),
});

impl RequestIds {
    fn next(&self) -> String {
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        // Written digit by digit: made at every request, and `format!` costs several times more.
        let digits = (u64::BITS - sequence.leading_zeros()).div_ceil(4).max(1);
        let mut id = String::with_capacity(self.prefix.len() + 1 + digits as usize);
        id.push_str(&self.prefix);
        id.push('-');
        for digit in (0..digits).rev() {
            let value = (sequence >> (digit * 4)) & 0xf;
            id.push(char::from_digit(value as u32, 16).expect("a nibble is a hex digit"));
        }
        id
    }
}

/// The header's name, made once rather than parsed from text at every lookup.
static REQUEST_ID_HEADER_NAME: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);

pub fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(&REQUEST_ID_HEADER_NAME)
        .and_then(|id| id.to_str().ok())
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| REQUEST_IDS.next())
}

/// The span of a request's log lines, carrying its id.
pub fn span(id: &str, request: &Request) -> Span {
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// The log line of a request's outcome (inside its span).
pub fn log_outcome(status: StatusCode, started: Instant) {
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), elapsed_ms, "request failed");
    } else {
        tracing::info!(status = status.as_u16(), elapsed_ms, "request handled");
    }
}

/// Gives the answer its request's id.
pub fn tag(response: &mut Response, id: String) {
    // The id is made of header-safe characters only, so this never fails.
    if let Ok(value) = HeaderValue::try_from(id) {
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER_NAME.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_ids_share_the_process_prefix_and_never_repeat() {
        let first = REQUEST_IDS.next();
        let second = REQUEST_IDS.next();
        assert_ne!(first, second);
        let (prefix, _) = first.split_once('-').unwrap();
        assert_eq!(prefix.len(), 12);
        assert!(second.starts_with(&format!("{prefix}-")));
    }

    #[test]
    fn a_made_up_id_ends_with_its_sequence_number_in_hexadecimal() {
        for sequence in [0, 1, 0xf, 0x10, 0x1b, 0xdead_beef, u64::MAX] {
            let ids = RequestIds {
                prefix: "5f0c2a9e41d7".to_owned(),
                next: AtomicU64::new(sequence),
            };
            assert_eq!(ids.next(), format!("5f0c2a9e41d7-{sequence:x}"));
        }
    }

    #[test]
    fn a_sane_id_from_the_caller_is_kept_and_anything_else_is_replaced() {
        let with =
            |id: &str| request_id(&Request::builder().header(REQUEST_ID_HEADER, id).finish());
        assert_eq!(with("abc-123_X"), "abc-123_X");
        let replaced = with("no spaces or; semicolons");
        assert!(replaced.starts_with(&REQUEST_IDS.prefix), "{replaced}");
    }
}

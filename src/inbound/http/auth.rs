//! Shared-secret authentication of the client-data and search-data webhooks, and the pieces the
//! administration API's bearer key shares with it.
//!
//! ElevenLabs does not sign these calls; it sends a header configured in its dashboard. Keys are
//! compared in constant time so that their value cannot be guessed byte by byte.

use std::sync::Arc;

use poem::http::HeaderName;
use poem::Request;
use poem_openapi::auth::ApiKey;
use poem_openapi::SecurityScheme;
use subtle::ConstantTimeEq;

use crate::inbound::http::state::AppState;

/// The header both webhooks authenticate with.
pub const API_KEY_HEADER: &str = "X-Api-Key";

/// Whether `presented` equals `expected`, compared in constant time.
pub(super) fn same_key(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// A 401 in the error schema; `message` says which credential is missing or wrong.
pub(super) fn unauthorized(message: String) -> poem::Error {
    poem::Error::from_string(message, poem::http::StatusCode::UNAUTHORIZED)
}

/// Accepts `presented` when it equals `expected`; otherwise answers 401 naming the header, and
/// logs that the key was wrong (never the key).
fn check(presented: &str, expected: &str, webhook: &str) -> poem::Result<()> {
    if same_key(presented, expected) {
        return Ok(());
    }
    tracing::warn!(webhook, "refused: {API_KEY_HEADER} is wrong");
    Err(unauthorized(format!(
        "{API_KEY_HEADER} does not match the key configured for this webhook"
    )))
}

/// The settings are always there; without them nothing could be checked.
pub(super) fn state(request: &Request) -> poem::Result<&Arc<AppState>> {
    request.data::<Arc<AppState>>().ok_or_else(|| {
        poem::Error::from_string(
            "the service state is missing",
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        )
    })
}

/// `X-Api-Key` equal to `ELEVENLABS_CLIENT_DATA_KEY`.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "X-Api-Key",
    key_in = "header",
    checker = "check_client_data_key"
)]
pub struct ClientDataKey(());

async fn check_client_data_key(request: &Request, key: ApiKey) -> poem::Result<()> {
    check_client_data(state(request)?, &key.key)
}

/// Accepts `presented` when it is the client-data key; shared by [`ClientDataKey`] and the
/// client-data route in front of the OpenAPI service.
pub(super) fn check_client_data(state: &AppState, presented: &str) -> poem::Result<()> {
    check(presented, state.keys.client_data.expose(), "client-data")
}

/// The `X-Api-Key` header, read as poem-openapi reads an API key for [`ClientDataKey`] and
/// [`SearchDataKey`]: missing or not text is the framework's `AuthorizationError`, which the
/// error converter answers (and logs) as a missing key.
pub(super) fn presented_key(request: &Request) -> poem::Result<&str> {
    request
        .headers()
        .get(&API_KEY_HEADER_NAME)
        .and_then(|key| key.to_str().ok())
        .ok_or_else(|| poem_openapi::error::AuthorizationError.into())
}

/// [`API_KEY_HEADER`] as a header name, made once rather than parsed from text at every ring.
static API_KEY_HEADER_NAME: HeaderName = HeaderName::from_static("x-api-key");

/// `X-Api-Key` equal to `ELEVENLABS_SEARCH_DATA_KEY`.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "X-Api-Key",
    key_in = "header",
    checker = "check_search_data_key"
)]
pub struct SearchDataKey(());

async fn check_search_data_key(request: &Request, key: ApiKey) -> poem::Result<()> {
    let expected = state(request)?.keys.search_data.expose();
    check(&key.key, expected, "search-data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_header_is_looked_up_by_its_documented_name() {
        assert_eq!(
            API_KEY_HEADER_NAME,
            HeaderName::try_from(API_KEY_HEADER).unwrap()
        );
    }
}

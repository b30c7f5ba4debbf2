//! Shared-secret authentication of the client-data and search-data webhooks.
//!
//! ElevenLabs does not sign these calls; it sends a header configured in its dashboard. The
//! header is compared in constant time so that its value cannot be guessed byte by byte.

use std::sync::Arc;

use poem::Request;
use poem_openapi::auth::ApiKey;
use poem_openapi::SecurityScheme;
use subtle::ConstantTimeEq;

use crate::inbound::http::state::AppState;

fn matches(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
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

async fn check_client_data_key(request: &Request, key: ApiKey) -> Option<()> {
    let state = request.data::<Arc<AppState>>()?;
    matches(&key.key, state.keys.client_data.expose()).then_some(())
}

/// `X-Api-Key` equal to `ELEVENLABS_SEARCH_DATA_KEY`.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "X-Api-Key",
    key_in = "header",
    checker = "check_search_data_key"
)]
pub struct SearchDataKey(());

async fn check_search_data_key(request: &Request, key: ApiKey) -> Option<()> {
    let state = request.data::<Arc<AppState>>()?;
    matches(&key.key, state.keys.search_data.expose()).then_some(())
}

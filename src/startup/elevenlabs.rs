//! Wiring of the ElevenLabs API: safe overrides for the greeting, and the client the commands
//! and `check` use.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::{Secret, Settings};
use crate::core::ports::Clock;
use crate::core::use_cases::OverrideGate;
use crate::outbound::elevenlabs::{ElevenLabsApi, RateLimitRetries};

/// How long one ElevenLabs API request may take.
const ELEVENLABS_API_TIMEOUT: Duration = Duration::from_secs(10);

/// With `ELEVENLABS_API_KEY`, overrides are sent only to agents that allow them; a 429 is not
/// waited out (the gate tries again later, and the greeting never waits for it).
pub(super) fn override_gate(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Option<Arc<OverrideGate>>> {
    if !settings.first_message_override {
        return Ok(None);
    }
    let Some(key) = &settings.elevenlabs_api_key else {
        tracing::warn!("FIRST_MESSAGE_OVERRIDE is on without ELEVENLABS_API_KEY: an agent that does not allow the first-message override rejects every returning caller's call; set the key (or run `caller-memory elevenlabs doctor`)");
        return Ok(None);
    };
    tracing::info!(
        refresh_secs = settings.elevenlabs_settings_refresh.as_secs(),
        "safe overrides on: the first message is sent only to agents whose settings allow it"
    );
    let api = elevenlabs_api(settings, key, RateLimitRetries(0))?;
    Ok(Some(Arc::new(OverrideGate::new(
        Arc::new(api),
        clock,
        settings.elevenlabs_settings_refresh,
    ))))
}

/// The ElevenLabs API client of `settings`.
pub fn elevenlabs_api(
    settings: &Settings,
    key: &Secret,
    retries: RateLimitRetries,
) -> anyhow::Result<ElevenLabsApi> {
    ElevenLabsApi::new(
        settings.elevenlabs_api_url.clone(),
        key.expose(),
        ELEVENLABS_API_TIMEOUT,
        retries,
    )
    .context("the ElevenLabs API client cannot be built")
}

/// With `ELEVENLABS_API_KEY`, whether the ElevenLabs API accepts it; `None` when it does or when
/// no key is set.
pub(super) async fn check_elevenlabs_api(settings: &Settings) -> Option<String> {
    let key = settings.elevenlabs_api_key.as_ref()?;
    let outcome = match elevenlabs_api(settings, key, RateLimitRetries(0)) {
        Ok(api) => api
            .workspace_settings()
            .await
            .map(|_| ())
            .map_err(anyhow::Error::new),
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => {
            println!("elevenlabs api: ok ({})", settings.elevenlabs_api_url);
            None
        }
        Err(error) => Some(format!(
            "elevenlabs api ({}): {error:#}",
            settings.elevenlabs_api_url
        )),
    }
}

//! The condensation probe: does the server shorten long content?
//!
//! One fixed text over 200 characters is added for [`CONDENSATION_PROBE_USER_ID`] and read back
//! with a read scoped to that user. The server's global deduplication answers every later add with
//! the same memory's id, so the probe stores one memory, once.

use std::time::Duration;

use super::client::{Api, Ownership};
use super::wire::{AddResponse, MemoryMetadata};
use super::CONDENSATION_PROBE_USER_ID;
use crate::core::ports::MemoryStoreError;
use crate::core::CallerId;

/// What `check` and `/ready` say about a server that condenses.
pub(super) const NOTICE: &str = "openmemory condenses memories over 200 characters \
(OM_USE_SUMMARY_ONLY is not false): long exchanges keep only the end of the agent's question, \
other long memories are stored in several parts; set OM_USE_SUMMARY_ONLY=false on the server to \
keep each one whole";

/// Over 200 characters, several sentences, words that no call would say in this order.
const PROBE_TEXT: &str = "caller-memory condensation probe, stored once per server. \
Quartz lanterns hum beside violet harbours at dawn. Seven copper kites drift over the quiet \
orchard. Amber trains whistle past the northern salt flats. The probe ends with this sentence.";

#[derive(serde::Serialize)]
struct ProbeAdd<'a> {
    content: &'a str,
    user_id: &'a str,
    metadata: MemoryMetadata,
}

/// Whether the server stored the probe text shortened.
pub(super) async fn condenses(api: &Api, timeout: Duration) -> Result<bool, MemoryStoreError> {
    let request = ProbeAdd {
        content: PROBE_TEXT,
        user_id: CONDENSATION_PROBE_USER_ID,
        metadata: MemoryMetadata {
            source: super::add::SOURCE.to_owned(),
            kind: "probe".to_owned(),
            ..MemoryMetadata::default()
        },
    };
    let added: AddResponse = api
        .post_telling_if_sent(&["memory", "add"], &request, Some(timeout))
        .await?;
    let probe_user = CallerId::parse(CONDENSATION_PROBE_USER_ID)
        .map_err(|error| MemoryStoreError::Unknown(anyhow::anyhow!("{error}")))?;
    match api.read_as(&added.id, &probe_user).await? {
        Ownership::Own(stored) => Ok(stored.content.as_deref() != Some(PROBE_TEXT)),
        // Merged into a memory of another user: nothing to learn this time.
        Ownership::NotOwn => Err(MemoryStoreError::unavailable(
            "the condensation probe could not be read back",
        )),
    }
}

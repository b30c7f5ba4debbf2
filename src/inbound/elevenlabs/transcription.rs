//! Reads an archived `post_call_transcription` webhook body into a [`CompletedCall`].
//!
//! ElevenLabs adds fields over time and fills many with `null`, so every field here is optional
//! and a field of an unexpected type is treated as absent rather than failing the whole call.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::core::{
    AgentId, CallerCandidates, CompletedCall, ConversationId, Speaker, Turn,
    UnreadableTranscription,
};

/// The event type this parser accepts.
const TRANSCRIPTION_TYPE: &str = "post_call_transcription";

/// Parses the exact bytes of a `post_call_transcription` webhook body.
///
/// Only a body that is not JSON, is another event type, or has no usable conversation id is
/// unreadable; everything else missing or malformed is simply not learnt.
pub fn parse_transcription(bytes: &[u8]) -> Result<CompletedCall, UnreadableTranscription> {
    let envelope: Envelope = serde_json::from_slice(bytes)
        .map_err(|error| UnreadableTranscription(format!("not a JSON object: {error}")))?;
    if let Some(kind) = envelope
        .kind
        .as_deref()
        .filter(|k| *k != TRANSCRIPTION_TYPE)
    {
        return Err(UnreadableTranscription(format!(
            "event type is {kind:?}, not {TRANSCRIPTION_TYPE}"
        )));
    }
    let data = envelope
        .data
        .ok_or_else(|| UnreadableTranscription("the body has no data object".into()))?;
    let conversation_id = data
        .conversation_id
        .as_deref()
        .ok_or_else(|| UnreadableTranscription("data.conversation_id is missing".into()))
        .and_then(|raw| {
            ConversationId::parse(raw)
                .map_err(|error| UnreadableTranscription(format!("data.conversation_id: {error}")))
        })?;
    let metadata = data.metadata.unwrap_or_default();
    let analysis = data.analysis.unwrap_or_default();
    Ok(CompletedCall {
        conversation_id,
        agent_id: data
            .agent_id
            .as_deref()
            .and_then(|raw| AgentId::parse(raw).ok()),
        caller: caller_candidates(
            metadata.phone_call.unwrap_or_default(),
            data.conversation_initiation_client_data,
            data.user_id,
        ),
        started_at: metadata
            .start_time_unix_secs
            .or(envelope.event_timestamp)
            .and_then(UnixSeconds::to_datetime),
        transcript: data
            .transcript
            .unwrap_or_default()
            .into_iter()
            .map(|turn| {
                serde_json::from_value::<WireTurn>(turn)
                    .unwrap_or_default()
                    .into_turn()
            })
            .collect(),
        collected: collected_values(analysis.data_collection_results.unwrap_or_default()),
        summary: analysis
            .transcript_summary
            .and_then(non_blank)
            .filter(|summary| summary != PLACEHOLDER_SUMMARY),
        failed: data.status.as_deref() == Some(FAILED_STATUS),
    })
}

/// What ElevenLabs writes as the summary of a call it could not summarise.
const PLACEHOLDER_SUMMARY: &str = "Summary couldn't be generated for this call.";

/// `data.status` of a call that never became a conversation.
const FAILED_STATUS: &str = "failed";

fn caller_candidates(
    phone_call: PhoneCall,
    client_data: Option<ClientData>,
    user_id: Option<String>,
) -> CallerCandidates {
    let caller_id_variable = client_data
        .and_then(|client| client.dynamic_variables)
        .and_then(|mut variables| variables.remove("system__caller_id"))
        .and_then(|value| match value {
            Value::String(text) => Some(text),
            _ => None,
        });
    CallerCandidates {
        external_number: phone_call.external_number.and_then(non_blank),
        caller_id_variable: caller_id_variable.and_then(non_blank),
        user_id: user_id.and_then(non_blank),
        agent_number: phone_call.agent_number.and_then(non_blank),
    }
}

/// Data-collection values as text: strings trimmed, numbers and booleans written out, lists and
/// objects as compact JSON; `null` and blank values are left out.
fn collected_values(results: BTreeMap<String, Value>) -> BTreeMap<String, String> {
    results
        .into_iter()
        .filter_map(|(field, mut result)| {
            let text = match result.get_mut("value")?.take() {
                Value::Null => return None,
                Value::String(text) => text,
                Value::Bool(flag) => flag.to_string(),
                Value::Number(number) => number.to_string(),
                structured => structured.to_string(),
            };
            Some((field, non_blank(text)?))
        })
        .collect()
}

fn non_blank(text: String) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Deserialises a field of type `T`, or `None` when it has another type.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default, rename = "type", deserialize_with = "lenient")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    event_timestamp: Option<UnixSeconds>,
    #[serde(default, deserialize_with = "lenient")]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default, deserialize_with = "lenient")]
    agent_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    conversation_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    status: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    transcript: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "lenient")]
    metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "lenient")]
    analysis: Option<Analysis>,
    #[serde(default, deserialize_with = "lenient")]
    conversation_initiation_client_data: Option<ClientData>,
}

#[derive(Deserialize, Default)]
struct WireTurn {
    #[serde(default, deserialize_with = "lenient")]
    role: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    time_in_call_secs: Option<f64>,
}

impl WireTurn {
    fn into_turn(self) -> Turn {
        let speaker = match self.role.as_deref() {
            Some("user") => Speaker::User,
            Some("agent") => Speaker::Agent,
            _ => Speaker::Other,
        };
        Turn {
            speaker,
            message: self.message.and_then(non_blank),
            // Negative or non-finite times saturate to 0; the cast cannot panic.
            time_in_call_secs: self.time_in_call_secs.unwrap_or(0.0).max(0.0) as u64,
        }
    }
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default, deserialize_with = "lenient")]
    start_time_unix_secs: Option<UnixSeconds>,
    #[serde(default, deserialize_with = "lenient")]
    phone_call: Option<PhoneCall>,
}

#[derive(Deserialize, Default)]
struct PhoneCall {
    #[serde(default, deserialize_with = "lenient")]
    agent_number: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    external_number: Option<String>,
}

#[derive(Deserialize, Default)]
struct Analysis {
    #[serde(default, deserialize_with = "lenient")]
    data_collection_results: Option<BTreeMap<String, Value>>,
    #[serde(default, deserialize_with = "lenient")]
    transcript_summary: Option<String>,
}

#[derive(Deserialize)]
struct ClientData {
    #[serde(default, deserialize_with = "lenient")]
    dynamic_variables: Option<BTreeMap<String, Value>>,
}

/// Unix seconds, sent as a number in practice but documented as a string in places.
#[derive(Deserialize, Clone, Copy)]
#[serde(try_from = "Value")]
struct UnixSeconds(i64);

impl TryFrom<Value> for UnixSeconds {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, Self::Error> {
        let seconds = match &value {
            Value::Number(number) => number
                .as_i64()
                .or_else(|| number.as_f64().map(|float| float as i64)),
            Value::String(text) => text.trim().parse::<f64>().ok().map(|float| float as i64),
            _ => None,
        };
        seconds
            .map(UnixSeconds)
            .ok_or_else(|| format!("not a unix time: {value}"))
    }
}

impl UnixSeconds {
    fn to_datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.0, 0)
    }
}

#[cfg(test)]
mod tests;

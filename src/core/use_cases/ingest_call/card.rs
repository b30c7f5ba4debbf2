//! Folding a finished call into the caller's profile card.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::core::ports::{BlobStore, BlobStoreError, PutCondition};
use crate::core::{CallRecord, CallerId, CompletedCall, ProfileCard};

/// How many counted conversation ids a card keeps; older ones are still protected by the
/// conversation's own ingestion record.
const COUNTED_CONVERSATIONS_KEPT: usize = 100;

/// How often a card update is retried when other ingests keep changing the card under it.
const MAX_CONDITION_RETRIES: usize = 50;

/// Why the card could not be updated.
#[derive(Debug, thiserror::Error)]
pub(super) enum CardError {
    /// The stored card is not valid JSON; it is left as it is for someone to look at.
    #[error("the profile card of {0} is not valid JSON: {1}")]
    Unreadable(CallerId, serde_json::Error),
    #[error(transparent)]
    Storage(#[from] BlobStoreError),
}

/// Adds `call` to the caller's card with a conditional read-modify-write, so that concurrent
/// ingests for one caller never lose each other's update. A call already counted changes nothing.
pub(super) async fn record_call(
    blobs: &dyn BlobStore,
    caller: &CallerId,
    call: &CompletedCall,
    at: DateTime<Utc>,
    name_fields: &[String],
) -> Result<(), CardError> {
    let key = ProfileCard::storage_key(caller);
    for _ in 0..MAX_CONDITION_RETRIES {
        let (mut card, condition) = match blobs.get(&key).await? {
            None => (ProfileCard::default(), PutCondition::IfAbsent),
            Some(blob) => {
                let card = ProfileCard::decode(&blob.bytes)
                    .map_err(|error| CardError::Unreadable(caller.clone(), error))?;
                (card, PutCondition::IfVersion(blob.version))
            }
        };
        if !apply(&mut card, call, at, name_fields) {
            return Ok(());
        }
        let bytes =
            serde_json::to_vec(&card).map_err(|error| BlobStoreError::Unknown(error.into()))?;
        match blobs.put(&key, Bytes::from(bytes), condition).await {
            Ok(_) => return Ok(()),
            Err(BlobStoreError::ConditionFailed) => tokio::task::yield_now().await,
            Err(error) => return Err(error.into()),
        }
    }
    Err(CardError::Storage(BlobStoreError::storage(format!(
        "the profile card of {caller} kept changing during {MAX_CONDITION_RETRIES} attempts"
    ))))
}

/// Folds `call` into `card`; returns `false` when the call was already counted.
///
/// The name, facts and last call only move forward in time, so replaying an old call never
/// overwrites what a newer call taught.
fn apply(
    card: &mut ProfileCard,
    call: &CompletedCall,
    at: DateTime<Utc>,
    name_fields: &[String],
) -> bool {
    let conversation = call.conversation_id.as_str();
    if card
        .counted_conversations
        .iter()
        .any(|id| id == conversation)
    {
        return false;
    }
    let is_latest = card.last_seen.is_none_or(|seen| at >= seen);
    let name = name_fields
        .iter()
        .find_map(|wanted| {
            call.collected
                .iter()
                .find(|(field, _)| same_field(field, wanted))
        })
        .map(|(_, value)| value.clone());
    if name.is_some() && (is_latest || card.name.is_none()) {
        card.name = name;
    }
    for (field, value) in call
        .collected
        .iter()
        .filter(|(field, _)| !name_fields.iter().any(|name| same_field(field, name)))
    {
        if is_latest || !card.facts.contains_key(field) {
            card.facts.insert(field.clone(), value.clone());
        }
    }
    let record = CallRecord {
        conversation_id: conversation.to_owned(),
        at,
        summary: call.summary.clone(),
    };
    if is_latest {
        card.last_call = Some(record.clone());
    }
    if let Some(agent) = &call.agent_id {
        let previous = card.last_call_per_agent.get(agent.as_str());
        if previous.is_none_or(|previous| at >= previous.at) {
            card.last_call_per_agent.insert(agent.to_string(), record);
        }
    }
    card.first_seen = Some(card.first_seen.map_or(at, |seen| seen.min(at)));
    card.last_seen = Some(card.last_seen.map_or(at, |seen| seen.max(at)));
    card.call_count += 1;
    card.counted_conversations.push(conversation.to_owned());
    let excess = card
        .counted_conversations
        .len()
        .saturating_sub(COUNTED_CONVERSATIONS_KEPT);
    card.counted_conversations.drain(..excess);
    true
}

/// Whether two data-collection field names are the same field, whatever their case and
/// separators: `First Name`, `first_name` and `firstName` are one field.
fn same_field(a: &str, b: &str) -> bool {
    let letters = |name: &str| {
        name.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    letters(a) == letters(b)
}

#[cfg(test)]
mod tests;

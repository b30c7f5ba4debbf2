//! Folding a finished call into the caller's profile card.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::core::ports::{BlobStore, BlobStoreError, PutCondition};
use crate::core::{CallRecord, CallerId, CompletedCall, ConversationId, ProfileCard};

/// How many counted conversation ids a card keeps; older ones are still protected by the
/// conversation's own ingestion record.
const COUNTED_CONVERSATIONS_KEPT: usize = 100;

/// How often a card update is retried when other ingests keep changing the card under it.
const MAX_CONDITION_RETRIES: usize = 50;

/// Why the card could not be updated.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CardError {
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
    update(blobs, caller, |card| apply(card, call, at, name_fields)).await?;
    Ok(())
}

/// Takes back what `conversation` added to the caller's card, for a call whose caller was erased
/// while it was being learnt: the card goes when no other call is counted in it.
pub(super) async fn withdraw_call(
    blobs: &dyn BlobStore,
    caller: &CallerId,
    conversation: &ConversationId,
) -> Result<(), CardError> {
    let key = ProfileCard::storage_key(caller);
    let conversation = conversation.as_str();
    update(blobs, caller, |card| {
        let before = card.counted_conversations.len();
        card.counted_conversations.retain(|id| id != conversation);
        if card.counted_conversations.len() == before {
            return false;
        }
        card.call_count = card.call_count.saturating_sub(1);
        if card
            .last_call
            .as_ref()
            .is_some_and(|call| call.conversation_id == conversation)
        {
            card.last_call = None;
        }
        card.last_call_per_agent
            .retain(|_, call| call.conversation_id != conversation);
        true
    })
    .await?;
    let card: Option<ProfileCard> = super::records::read(blobs, &key).await?;
    if card.is_some_and(|card| card.counted_conversations.is_empty()) {
        blobs.delete(&key).await?;
    }
    Ok(())
}

/// Removes the summary of `conversation` from the caller's card (its last call, and its last
/// call per agent), keeping the call itself counted; `true` when a summary was removed.
pub(crate) async fn forget_summary(
    blobs: &dyn BlobStore,
    caller: &CallerId,
    conversation: &ConversationId,
) -> Result<bool, CardError> {
    update(blobs, caller, |card| {
        let mut removed = false;
        for call in card
            .last_call
            .iter_mut()
            .chain(card.last_call_per_agent.values_mut())
            .filter(|call| call.conversation_id == conversation.as_str())
        {
            removed |= call.summary.take().is_some();
        }
        removed
    })
    .await
}

/// Changes the caller's card with a conditional read-modify-write, retried while other writers
/// change it under us; `change` answers whether it changed anything (nothing is written when it
/// did not, nor when there is no card and it made none). Answers whether the card was written.
async fn update(
    blobs: &dyn BlobStore,
    caller: &CallerId,
    mut change: impl FnMut(&mut ProfileCard) -> bool,
) -> Result<bool, CardError> {
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
        if !change(&mut card) {
            return Ok(false);
        }
        let bytes =
            serde_json::to_vec(&card).map_err(|error| BlobStoreError::Unknown(error.into()))?;
        match blobs.put(&key, Bytes::from(bytes), condition).await {
            Ok(_) => return Ok(true),
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

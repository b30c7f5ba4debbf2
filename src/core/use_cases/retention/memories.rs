//! Expiring memories, caller by caller, in the order of their keyed hashes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{SweepError, SweepReport, SweepRetention};
use crate::core::ports::BlobKey;
use crate::core::use_cases::ingest_call::records::{read, write};
use crate::core::{CallerId, ConversationId, STATE_PREFIX};

/// Where the last memory sweep stopped: the keyed hash of the last caller it looked at (never a
/// number). Stored as JSON.
#[derive(Debug, Serialize, Deserialize)]
struct MemoryCursor {
    after: String,
}

fn cursor_key() -> BlobKey {
    BlobKey::parse(&format!("{STATE_PREFIX}retention/memory-cursor.json"))
        .expect("a valid literal key")
}

fn profiles_prefix() -> String {
    format!("{STATE_PREFIX}profiles/")
}

impl SweepRetention {
    /// Looks at up to a batch of callers (every caller with a profile card, in hash order,
    /// starting after the last one looked at) and deletes their calls' memories older than
    /// `cutoff`.
    pub(super) async fn sweep_memories(
        &self,
        cutoff: DateTime<Utc>,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        let prefix = profiles_prefix();
        let mut callers: Vec<(String, CallerId)> = self
            .blobs
            .list(&prefix)
            .await?
            .iter()
            .filter_map(|key| {
                let digits = key.as_str().strip_prefix(&prefix)?.strip_suffix(".json")?;
                let caller = CallerId::parse(&format!("+{digits}")).ok()?;
                Some((self.index.hash(&caller).to_string(), caller))
            })
            .collect();
        if callers.is_empty() {
            return Ok(());
        }
        callers.sort();
        let cursor: Option<MemoryCursor> = read(&*self.blobs, &cursor_key()).await?;
        let start = cursor.map_or(0, |cursor| {
            callers.partition_point(|(hash, _)| *hash <= cursor.after)
        });
        let looked_at = self.policy.batch.min(callers.len());
        report.unfinished |= looked_at < callers.len();
        for offset in 0..looked_at {
            let (hash, caller) = &callers[(start + offset) % callers.len()];
            self.expire_memories(caller, cutoff, report).await?;
            let cursor = MemoryCursor {
                after: hash.clone(),
            };
            write(&*self.blobs, &cursor_key(), &cursor).await?;
        }
        Ok(())
    }

    /// Deletes the memories of each call of `caller` whose newest memory is older than `cutoff`.
    async fn expire_memories(
        &self,
        caller: &CallerId,
        cutoff: DateTime<Utc>,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        // Conversation -> its newest memory, `None` when one of them has no time.
        let mut newest: BTreeMap<ConversationId, Option<DateTime<Utc>>> = BTreeMap::new();
        for memory in self.memories.memories_of(caller).await? {
            let Some(conversation) = memory.conversation_id else {
                continue;
            };
            let entry = newest.entry(conversation).or_insert(memory.created_at);
            *entry = entry.zip(memory.created_at).map(|(a, b)| a.max(b));
        }
        for (conversation, newest) in newest {
            if newest.is_none_or(|newest| newest >= cutoff) {
                continue;
            }
            report.memories += self
                .memories
                .delete_conversation(caller, &conversation)
                .await?;
            self.forget_summary(caller, &conversation, report).await?;
        }
        Ok(())
    }
}

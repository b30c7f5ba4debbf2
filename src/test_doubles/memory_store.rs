use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::core::ports::{MemoryStore, MemoryStoreError};
use crate::core::{
    AddOutcome, CallerId, ConversationId, MemoryHit, NewMemory, SearchLimit, SearchQuery,
};

/// A memory store held in process memory. Ranks by the number of query words a memory contains,
/// newest first on ties; a query with no matching word returns the newest memories.
#[derive(Debug, Default)]
pub struct InMemoryMemoryStore {
    memories: Mutex<Vec<NewMemory>>,
}

impl InMemoryMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every memory stored so far, in the order they were added.
    pub fn all(&self) -> Vec<NewMemory> {
        self.memories
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[async_trait]
impl MemoryStore for InMemoryMemoryStore {
    async fn add(&self, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        let mut memories = self.memories.lock().unwrap_or_else(|p| p.into_inner());
        let already = memories.iter().any(|existing| {
            existing.caller == memory.caller
                && existing.conversation_id == memory.conversation_id
                && existing.key == memory.key
        });
        if already {
            return Ok(AddOutcome::AlreadyStored);
        }
        memories.push(memory.clone());
        Ok(AddOutcome::Stored)
    }

    async fn search(
        &self,
        caller: &CallerId,
        query: &SearchQuery,
        limit: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let wanted = words(query.as_str());
        let memories = self.memories.lock().unwrap_or_else(|p| p.into_inner());
        let mut scored: Vec<(usize, usize, &NewMemory)> = memories
            .iter()
            .enumerate()
            .filter(|(_, memory)| &memory.caller == caller)
            .map(|(order, memory)| {
                (
                    words(&memory.content).intersection(&wanted).count(),
                    order,
                    memory,
                )
            })
            .collect();
        if scored.iter().any(|(score, _, _)| *score > 0) {
            scored.retain(|(score, _, _)| *score > 0);
        }
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        Ok(scored
            .into_iter()
            .take(limit.get())
            .map(|(score, _, memory)| MemoryHit {
                content: memory.content.clone(),
                kind: memory.kind,
                score: score as f64,
                created_at: Some(memory.occurred_at),
                conversation_id: Some(memory.conversation_id.clone()),
            })
            .collect())
    }

    async fn memories_of(&self, caller: &CallerId) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let memories = self.memories.lock().unwrap_or_else(|p| p.into_inner());
        Ok(memories
            .iter()
            .rev()
            .filter(|memory| &memory.caller == caller)
            .map(|memory| MemoryHit {
                content: memory.content.clone(),
                kind: memory.kind,
                score: 0.0,
                created_at: Some(memory.occurred_at),
                conversation_id: Some(memory.conversation_id.clone()),
            })
            .collect())
    }

    async fn delete_conversation(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
    ) -> Result<usize, MemoryStoreError> {
        let mut memories = self.memories.lock().unwrap_or_else(|p| p.into_inner());
        let before = memories.len();
        memories
            .retain(|memory| &memory.caller != caller || &memory.conversation_id != conversation);
        Ok(before - memories.len())
    }

    async fn check(&self) -> Result<(), MemoryStoreError> {
        Ok(())
    }
}

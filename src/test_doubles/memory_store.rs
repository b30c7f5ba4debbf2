use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::core::ports::{Embedder, MemoryStore, MemoryStoreError};
use crate::core::recall::{rank, recent_context, word_overlap, Candidate, RecallQuery};
use crate::core::{
    AddOutcome, CallerId, ConversationId, Embedding, MemoryHit, NewMemory, SearchLimit,
};

/// A memory store held in process memory, ranked by the core scorer like every store: the
/// number of topic words a memory contains (any word form) and, with an embedder, the similarity
/// of embeddings computed when each memory is added.
#[derive(Default)]
pub struct InMemoryMemoryStore {
    memories: Mutex<Vec<Stored>>,
    embedder: Option<Arc<dyn Embedder>>,
}

struct Stored {
    memory: NewMemory,
    vector: Option<(String, Embedding)>,
}

impl std::fmt::Debug for InMemoryMemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryMemoryStore")
            .finish_non_exhaustive()
    }
}

impl InMemoryMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Embeds each added memory with `embedder`, for semantic ranking.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    /// Every memory stored so far, in the order they were added.
    pub fn all(&self) -> Vec<NewMemory> {
        self.lock()
            .iter()
            .map(|stored| stored.memory.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Stored>> {
        self.memories.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn hit(memory: &NewMemory) -> MemoryHit {
    MemoryHit {
        content: memory.content.clone(),
        kind: memory.kind,
        score: 0.0,
        created_at: Some(memory.occurred_at),
        conversation_id: Some(memory.conversation_id.clone()),
    }
}

#[async_trait]
impl MemoryStore for InMemoryMemoryStore {
    async fn add(&self, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        let vector = match &self.embedder {
            Some(embedder) => embedder
                .embed(std::slice::from_ref(&memory.content))
                .await
                .ok()
                .and_then(|mut vectors| vectors.pop())
                .map(|vector| (embedder.model_id().to_owned(), vector)),
            None => None,
        };
        let mut memories = self.lock();
        let already = memories.iter().any(|stored| {
            stored.memory.caller == memory.caller
                && stored.memory.conversation_id == memory.conversation_id
                && stored.memory.key == memory.key
        });
        if already {
            return Ok(AddOutcome::AlreadyStored);
        }
        memories.push(Stored {
            memory: memory.clone(),
            vector,
        });
        Ok(AddOutcome::Stored)
    }

    async fn search(
        &self,
        caller: &CallerId,
        query: &RecallQuery,
        limit: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let memories = self.lock();
        let own = memories
            .iter()
            .filter(|stored| &stored.memory.caller == caller);
        if query.is_generic() {
            return Ok(recent_context(
                own.map(|stored| hit(&stored.memory)).collect(),
                limit.get(),
            ));
        }
        let topic = query.topic_words();
        let candidates = own
            .map(|stored| Candidate {
                hit: hit(&stored.memory),
                lexical: word_overlap(&topic, &stored.memory.content),
                similarity: query.embedding().and_then(|wanted| {
                    let (model, vector) = stored.vector.as_ref()?;
                    (model == &wanted.model_id).then(|| wanted.embedding.similarity(vector))
                }),
            })
            .collect();
        Ok(rank(candidates, query.chance(), limit.get()))
    }

    async fn forget(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        keys: &[String],
    ) -> Result<usize, MemoryStoreError> {
        let mut memories = self.lock();
        let before = memories.len();
        memories.retain(|stored| {
            !(&stored.memory.caller == caller
                && &stored.memory.conversation_id == conversation
                && keys.contains(&stored.memory.key))
        });
        Ok(before - memories.len())
    }

    async fn memories_of(&self, caller: &CallerId) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let memories = self.lock();
        Ok(memories
            .iter()
            .rev()
            .filter(|stored| &stored.memory.caller == caller)
            .map(|stored| MemoryHit {
                score: 0.0,
                ..hit(&stored.memory)
            })
            .collect())
    }

    async fn delete_conversation(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
    ) -> Result<usize, MemoryStoreError> {
        let mut memories = self.lock();
        let before = memories.len();
        memories.retain(|stored| {
            &stored.memory.caller != caller || &stored.memory.conversation_id != conversation
        });
        Ok(before - memories.len())
    }

    async fn check(&self) -> Result<(), MemoryStoreError> {
        Ok(())
    }
}

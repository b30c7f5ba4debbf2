//! What the fake stores and how it finds memories again.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::text::{canonical_tokens, condense, overlap, token_set_hash, z_scores};
use super::{FakeMemory, State};

/// Stores a memory (condensed when long) and creates its user row.
// exchanges-legacy/l61_add_long_content.json, l62_get_long_content_stored.json
pub(super) fn store(
    state: &mut State,
    user: &str,
    content: &str,
    tags: Value,
    metadata: Value,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_millis();
    state.memories.push(FakeMemory {
        id: id.clone(),
        user_id: user.to_owned(),
        content: condense(content),
        tags: if tags.is_null() { json!([]) } else { tags },
        metadata: if metadata.is_null() {
            json!({})
        } else {
            metadata
        },
        created_at: now,
        hash: token_set_hash(content),
    });
    if user != "anonymous" {
        state.users.entry(user.to_owned()).or_insert(now);
    }
    id
}

/// Up to `k` of the user's memories (every user's without one), most shared tokens first, newest
/// first on ties, with no relevance cut-off.
pub(super) fn rank(state: &State, user: Option<&str>, text: &str, k: usize) -> Vec<Value> {
    let wanted = canonical_tokens(text);
    let mut candidates: Vec<(usize, usize, &FakeMemory)> = state
        .memories
        .iter()
        .enumerate()
        .filter(|(_, memory)| user.is_none_or(|user| memory.user_id == user))
        .map(|(order, memory)| (overlap(&wanted, &memory.content), order, memory))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    candidates.truncate(k);
    let raw: Vec<f64> = candidates
        .iter()
        .map(|(score, _, _)| *score as f64)
        .collect();
    candidates
        .iter()
        .zip(z_scores(&raw))
        .map(|((_, _, memory), score)| {
            json!({"id": memory.id, "content": memory.content, "score": score, "sectors": ["semantic"],
                   "primary_sector": "semantic", "path": [memory.id], "salience": 0.4,
                   "last_seen_at": memory.created_at})
        })
        .collect()
}

pub(super) fn memory_json(memory: &FakeMemory) -> Value {
    json!({"id": memory.id, "content": memory.content, "tags": memory.tags, "metadata": memory.metadata,
           "created_at": memory.created_at, "updated_at": memory.created_at,
           "last_seen_at": memory.created_at, "salience": 0.4, "decay_lambda": 0.005,
           "primary_sector": "semantic", "version": 1})
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

//! The SQL the embedded store runs, as blocking functions over one connection.

use std::collections::HashMap;

use chrono::DateTime;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::fts_query::any_of;
use super::schema::id_range;
use crate::core::recall::{
    add_similar, rank, recent_context, Candidate, Evidence, QueryEmbedding, RecallQuery,
};
use crate::core::{
    AddOutcome, CallerId, ConversationId, Embedding, MemoryHit, MemoryKind, NewMemory,
};
use crate::outbound::vector_bytes as vectors;

const INSERT_CALLER: &str =
    "INSERT INTO callers (caller) VALUES (?1) ON CONFLICT (caller) DO NOTHING";
const FIND_SLOT: &str = "SELECT slot FROM callers WHERE caller = ?1";
const NEXT_ID: &str = "SELECT max(id) FROM memories WHERE id BETWEEN ?1 AND ?2";

const INSERT_MEMORY: &str = "
INSERT INTO memories (id, caller, conversation_id, memory_key, kind, content, agent_id, tags,
                      salience, occurred_at, turn_index, time_in_call)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
ON CONFLICT (caller, conversation_id, memory_key) DO NOTHING";

const INSERT_INDEX: &str = "INSERT INTO memories_fts (rowid, content) VALUES (?1, ?2)";

/// The best lexical matches inside the caller's id range (BM25 is negative, lower is better).
const SEARCH_LEXICAL: &str = "
SELECT rowid, -bm25(memories_fts) AS score FROM memories_fts
WHERE memories_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3
ORDER BY bm25(memories_fts) LIMIT ?4";

const COUNT_MATCHES: &str =
    "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3";

/// How many postings a ranked search may score. Scoring costs a few microseconds per matching
/// memory, so this bounds a search to a few milliseconds; see [`distinctive_words`].
const SCORING_BUDGET: i64 = 800;

/// How many of the best lexical matches, and of the most similar memories, are scored.
const CANDIDATES: usize = 50;

/// The caller's vectors of one model: a range scan of the caller's ids.
const SEARCH_VECTORS: &str =
    "SELECT id, vector FROM memory_vectors WHERE id BETWEEN ?1 AND ?2 AND model = ?3";

/// One memory, the caller check a second guard on top of the id range.
const READ_MEMORY: &str = "
SELECT content, kind, occurred_at, conversation_id FROM memories WHERE id = ?1 AND caller = ?2";

const SEARCH_RECENT: &str = "
SELECT content, kind, occurred_at, conversation_id
FROM memories
WHERE caller = ?1
ORDER BY occurred_at DESC, id DESC
LIMIT ?2";

const LAST_SUMMARY: &str = "
SELECT content, kind, occurred_at, conversation_id
FROM memories
WHERE caller = ?1 AND kind = 'call_summary'
ORDER BY occurred_at DESC, id DESC
LIMIT 1";

const FIND_KEY: &str = "
SELECT id, content FROM memories WHERE caller = ?1 AND conversation_id = ?2 AND memory_key = ?3";
const DELETE_INDEX: &str =
    "INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', ?1, ?2)";
const DELETE_VECTOR: &str = "DELETE FROM memory_vectors WHERE id = ?1";
const DELETE_MEMORY: &str = "DELETE FROM memories WHERE id = ?1";

const STORE_VECTOR: &str =
    "INSERT OR REPLACE INTO memory_vectors (id, model, vector) VALUES (?1, ?2, ?3)";
const MISSING_VECTORS: &str = "
SELECT m.id, m.content FROM memories AS m
LEFT JOIN memory_vectors AS v ON v.id = m.id AND v.model = ?1
WHERE v.id IS NULL
ORDER BY m.id
LIMIT ?2";

/// Inserts one memory, its index entry and its embedding (model, vector) if any; the caller
/// provides the transaction.
pub(super) fn insert(
    connection: &Connection,
    memory: &NewMemory,
    vector: Option<(&str, &Embedding)>,
) -> rusqlite::Result<AddOutcome> {
    let caller = memory.caller.as_e164();
    let id = next_id(connection, caller)?;
    let tags = serde_json::to_string(&memory.tags).unwrap_or_else(|_| "[]".to_owned());
    let inserted = connection.prepare_cached(INSERT_MEMORY)?.execute(params![
        id,
        caller,
        memory.conversation_id.as_str(),
        memory.key,
        memory.kind.as_str(),
        memory.content,
        memory.agent_id.as_ref().map(|agent| agent.as_str()),
        tags,
        f64::from(memory.salience),
        memory.occurred_at.timestamp_millis(),
        memory.turn.map(|turn| turn.index as i64),
        memory.turn.map(|turn| turn.time_in_call_secs as i64),
    ])?;
    if inserted == 0 {
        return Ok(AddOutcome::AlreadyStored);
    }
    connection
        .prepare_cached(INSERT_INDEX)?
        .execute(params![id, memory.content])?;
    if let Some((model, vector)) = vector {
        store_vector(connection, id, model, vector)?;
    }
    Ok(AddOutcome::Stored)
}

pub(super) fn store_vector(
    connection: &Connection,
    id: i64,
    model: &str,
    vector: &Embedding,
) -> rusqlite::Result<()> {
    connection.prepare_cached(STORE_VECTOR)?.execute(params![
        id,
        model,
        vectors::to_bytes(vector)
    ])?;
    Ok(())
}

/// Up to `batch` memories without a vector of `model`: (id, content).
pub(super) fn missing_vectors(
    connection: &Connection,
    model: &str,
    batch: usize,
) -> rusqlite::Result<Vec<(i64, String)>> {
    connection
        .prepare_cached(MISSING_VECTORS)?
        .query_map(params![model, batch as i64], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect()
}

/// Removes the caller's memories of `conversation` with one of `keys`, with their index entries
/// and vectors; the caller provides the transaction.
pub(super) fn forget(
    connection: &Connection,
    caller: &CallerId,
    conversation: &ConversationId,
    keys: &[String],
) -> rusqlite::Result<usize> {
    let mut removed = 0;
    for key in keys {
        let found: Option<(i64, String)> = connection
            .prepare_cached(FIND_KEY)?
            .query_row(
                params![caller.as_e164(), conversation.as_str(), key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((id, content)) = found else {
            continue;
        };
        connection
            .prepare_cached(DELETE_INDEX)?
            .execute(params![id, content])?;
        connection.prepare_cached(DELETE_VECTOR)?.execute([id])?;
        connection.prepare_cached(DELETE_MEMORY)?.execute([id])?;
        removed += 1;
    }
    Ok(removed)
}

/// The next free id in the caller's range, giving the caller a slot on first use.
fn next_id(connection: &Connection, caller: &str) -> rusqlite::Result<i64> {
    connection
        .prepare_cached(INSERT_CALLER)?
        .execute([caller])?;
    let slot = find_slot(connection, caller)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    let (first, last) = id_range(slot);
    let highest: Option<i64> = connection
        .prepare_cached(NEXT_ID)?
        .query_row([first, last], |row| row.get(0))?;
    match highest {
        None => Ok(first),
        Some(highest) if highest < last => Ok(highest + 1),
        Some(_) => Err(rusqlite::Error::ToSqlConversionFailure(
            "this caller has the maximum number of memories".into(),
        )),
    }
}

fn find_slot(connection: &Connection, caller: &str) -> rusqlite::Result<Option<i64>> {
    connection
        .prepare_cached(FIND_SLOT)?
        .query_row([caller], |row| row.get(0))
        .optional()
}

/// The caller's memories for `query`: recent context for a generic request, otherwise the best
/// lexical matches and the most similar memories, ranked by the core scorer.
pub(super) fn search(
    connection: &Connection,
    caller: &CallerId,
    query: &RecallQuery,
    limit: usize,
) -> rusqlite::Result<Vec<MemoryHit>> {
    let caller = caller.as_e164();
    let Some(slot) = find_slot(connection, caller)? else {
        return Ok(Vec::new());
    };
    if query.is_generic() {
        return recent(connection, caller, limit);
    }
    let range = id_range(slot);
    let mut evidence = lexical_evidence(connection, query, range)?;
    if let Some(wanted) = query.embedding() {
        let similar = similarities(connection, range, wanted)?;
        add_similar(&mut evidence, similar, CANDIDATES);
    }
    let mut candidates = Vec::with_capacity(evidence.len());
    for (id, (lexical, similarity)) in evidence {
        let hit = connection
            .prepare_cached(READ_MEMORY)?
            .query_row(params![id, caller], hit_from_row)
            .optional()?;
        if let Some(hit) = hit {
            candidates.push(Candidate {
                hit,
                lexical,
                similarity,
            });
        }
    }
    Ok(rank(candidates, query.chance(), limit))
}

/// What each memory id has for it: its BM25 score among the best lexical matches of the
/// question's topic words (no similarity yet).
fn lexical_evidence(
    connection: &Connection,
    query: &RecallQuery,
    (first, last): (i64, i64),
) -> rusqlite::Result<HashMap<i64, Evidence>> {
    let mut evidence = HashMap::new();
    let words = distinctive_words(connection, &query.topic_words(), (first, last))?;
    if words.is_empty() {
        return Ok(evidence);
    }
    let mut statement = connection.prepare_cached(SEARCH_LEXICAL)?;
    let matches = statement.query_map(
        params![any_of(&words), first, last, CANDIDATES as i64],
        |row| Ok((row.get::<_, i64>(0)?, row.get::<_, f64>(1)?)),
    )?;
    for found in matches {
        let (id, score) = found?;
        evidence.insert(id, (Some(score), None));
    }
    Ok(evidence)
}

/// The similarity of each of the caller's vectors of the query's model, most similar first.
fn similarities(
    connection: &Connection,
    (first, last): (i64, i64),
    wanted: &QueryEmbedding,
) -> rusqlite::Result<Vec<(i64, f32)>> {
    let mut statement = connection.prepare_cached(SEARCH_VECTORS)?;
    let mut rows = statement.query(params![first, last, wanted.model_id])?;
    let mut comparison = vectors::Comparison::new(&wanted.embedding);
    let mut similar = Vec::new();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let bytes = row.get_ref(1)?.as_blob()?;
        similar.push((id, comparison.similarity(bytes)));
    }
    similar.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(similar)
}

/// The words of `text` to rank by: those found in the caller's memories, rarest first, as long as
/// their matches fit the scoring budget. Words found in a large share of the caller's memories
/// ("the", "caller") barely change BM25's order but would dominate its cost, so they are left out;
/// counting a word's matches in the caller's id range is cheap (no scoring).
fn distinctive_words(
    connection: &Connection,
    topic_words: &[String],
    (first, last): (i64, i64),
) -> rusqlite::Result<Vec<String>> {
    let mut counted = Vec::new();
    for word in topic_words {
        let matches: i64 = connection
            .prepare_cached(COUNT_MATCHES)?
            .query_row(params![any_of(&[&word]), first, last], |row| row.get(0))?;
        if matches > 0 {
            counted.push((matches, word.clone()));
        }
    }
    counted.sort();
    let mut budget = SCORING_BUDGET;
    let mut words = Vec::new();
    for (matches, word) in counted {
        if matches > budget {
            break;
        }
        budget -= matches;
        words.push(word);
    }
    Ok(words)
}

/// The caller's most recent memories and their last call's summary, as the core orders them for
/// a generic request.
fn recent(connection: &Connection, caller: &str, limit: usize) -> rusqlite::Result<Vec<MemoryHit>> {
    let mut hits: Vec<MemoryHit> = connection
        .prepare_cached(SEARCH_RECENT)?
        .query_map(params![caller, limit as i64], hit_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let summary = connection
        .prepare_cached(LAST_SUMMARY)?
        .query_row([caller], hit_from_row)
        .optional()?;
    if let Some(summary) = summary.filter(|summary| !hits.contains(summary)) {
        hits.push(summary);
    }
    Ok(recent_context(hits, limit))
}

fn hit_from_row(row: &Row<'_>) -> rusqlite::Result<MemoryHit> {
    let kind: String = row.get(1)?;
    let occurred_at: i64 = row.get(2)?;
    let conversation: String = row.get(3)?;
    Ok(MemoryHit {
        content: row.get(0)?,
        // Rows are only written by this adapter, so an unknown kind means a newer writer; the
        // content is still worth returning.
        kind: MemoryKind::from_name(&kind).unwrap_or(MemoryKind::Utterance),
        score: 0.0,
        created_at: DateTime::from_timestamp_millis(occurred_at),
        conversation_id: ConversationId::parse(&conversation).ok(),
    })
}

const LIST_CALLER: &str = "
SELECT content, kind, occurred_at, conversation_id, 0.0
FROM memories
WHERE caller = ?1
ORDER BY occurred_at DESC, id DESC";

const CONVERSATION_MEMORIES: &str =
    "SELECT id, content FROM memories WHERE caller = ?1 AND conversation_id = ?2";

/// A caller without memories keeps no row, so an erased number is nowhere in the file.
const FORGET_EMPTY_CALLER: &str = "
DELETE FROM callers WHERE caller = ?1
AND NOT EXISTS (SELECT 1 FROM memories WHERE caller = ?1)";

pub(super) fn list(connection: &Connection, caller: &CallerId) -> rusqlite::Result<Vec<MemoryHit>> {
    connection
        .prepare_cached(LIST_CALLER)?
        .query_map([caller.as_e164()], hit_from_row)?
        .collect()
}

/// Deletes the caller's memories of one conversation with their index entries; the caller
/// provides the transaction.
pub(super) fn delete_conversation(
    connection: &Connection,
    caller: &CallerId,
    conversation: &ConversationId,
) -> rusqlite::Result<usize> {
    let caller = caller.as_e164();
    let rows: Vec<(i64, String)> = connection
        .prepare_cached(CONVERSATION_MEMORIES)?
        .query_map(params![caller, conversation.as_str()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (id, content) in &rows {
        connection
            .prepare_cached(DELETE_INDEX)?
            .execute(params![id, content])?;
        connection.prepare_cached(DELETE_VECTOR)?.execute([id])?;
        connection.prepare_cached(DELETE_MEMORY)?.execute([id])?;
    }
    connection
        .prepare_cached(FORGET_EMPTY_CALLER)?
        .execute([caller])?;
    Ok(rows.len())
}

//! The SQL the embedded store runs, as blocking functions over one connection.

use chrono::DateTime;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::fts_query::{any_of, searchable_words};
use super::schema::id_range;
use crate::core::{AddOutcome, CallerId, ConversationId, MemoryHit, MemoryKind, NewMemory};

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

/// Ranks inside the caller's id range first (BM25: negative, lower is better), then reads only
/// the rows that made the cut; the caller check on the row is a second guard.
const SEARCH_RANKED: &str = "
SELECT m.content, m.kind, m.occurred_at, m.conversation_id, -ranked.score
FROM (SELECT rowid, bm25(memories_fts) AS score FROM memories_fts
      WHERE memories_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3
      ORDER BY score LIMIT ?4) AS ranked
JOIN memories AS m ON m.id = ranked.rowid
WHERE m.caller = ?5
ORDER BY ranked.score, m.occurred_at DESC";

const COUNT_MATCHES: &str =
    "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3";

/// How many postings a ranked search may score. Scoring costs a few microseconds per matching
/// memory, so this bounds a search to a few milliseconds; see [`distinctive_words`].
const SCORING_BUDGET: i64 = 800;

const SEARCH_RECENT: &str = "
SELECT content, kind, occurred_at, conversation_id, 0.0
FROM memories
WHERE caller = ?1
ORDER BY occurred_at DESC, id DESC
LIMIT ?2";

/// Inserts one memory and its index entry; the caller provides the transaction.
pub(super) fn insert(connection: &Connection, memory: &NewMemory) -> rusqlite::Result<AddOutcome> {
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
    Ok(AddOutcome::Stored)
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

pub(super) fn search(
    connection: &Connection,
    caller: &CallerId,
    text: &str,
    limit: usize,
) -> rusqlite::Result<Vec<MemoryHit>> {
    let limit = limit as i64;
    let caller = caller.as_e164();
    let Some(slot) = find_slot(connection, caller)? else {
        return Ok(Vec::new());
    };
    let (first, last) = id_range(slot);
    let words = distinctive_words(connection, text, (first, last))?;
    if !words.is_empty() {
        let expression = any_of(&words);
        let hits = connection
            .prepare_cached(SEARCH_RANKED)?
            .query_map(
                params![expression, first, last, limit, caller],
                hit_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if !hits.is_empty() {
            return Ok(hits);
        }
    }
    // No searchable word, or no memory shares one with the question: the most recent memories
    // are the best context there is.
    recent(connection, caller, limit)
}

/// The words of `text` to rank by: those found in the caller's memories, rarest first, as long as
/// their matches fit the scoring budget. Words found in a large share of the caller's memories
/// ("the", "caller") barely change BM25's order but would dominate its cost, so they are left out;
/// counting a word's matches in the caller's id range is cheap (no scoring).
fn distinctive_words(
    connection: &Connection,
    text: &str,
    (first, last): (i64, i64),
) -> rusqlite::Result<Vec<String>> {
    let mut counted = Vec::new();
    for word in searchable_words(text) {
        let matches: i64 = connection
            .prepare_cached(COUNT_MATCHES)?
            .query_row(params![any_of(&[&word]), first, last], |row| row.get(0))?;
        if matches > 0 {
            counted.push((matches, word));
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

fn recent(connection: &Connection, caller: &str, limit: i64) -> rusqlite::Result<Vec<MemoryHit>> {
    connection
        .prepare_cached(SEARCH_RECENT)?
        .query_map(params![caller, limit], hit_from_row)?
        .collect()
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
        score: row.get(4)?,
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

/// A contentless FTS5 index forgets a row only when told its exact indexed content.
const DELETE_INDEX: &str =
    "INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', ?1, ?2)";

const DELETE_MEMORY: &str = "DELETE FROM memories WHERE id = ?1";

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
        connection.prepare_cached(DELETE_MEMORY)?.execute([id])?;
    }
    connection
        .prepare_cached(FORGET_EMPTY_CALLER)?
        .execute([caller])?;
    Ok(rows.len())
}

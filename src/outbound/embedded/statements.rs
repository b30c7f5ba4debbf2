//! The SQL the embedded store runs, as blocking functions over one connection.

use chrono::DateTime;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::fts_query::match_expression;
use super::schema::caller_token;
use crate::core::{AddOutcome, CallerId, ConversationId, MemoryHit, MemoryKind, NewMemory};

const INSERT_MEMORY: &str = "
INSERT INTO memories (caller, conversation_id, memory_key, kind, content, agent_id, tags,
                      salience, occurred_at, turn_index, time_in_call)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT (caller, conversation_id, memory_key) DO NOTHING
RETURNING id";

const INSERT_INDEX: &str =
    "INSERT INTO memories_fts (rowid, caller_token, content) VALUES (?1, ?2, ?3)";

/// The FTS table drives the join (CROSS JOIN fixes the loop order), so only rows matching this
/// caller's token and at least one word are read. `bm25` is negative, lower is better; the weight
/// 0 keeps the caller column out of the score.
const SEARCH_RANKED: &str = "
SELECT m.content, m.kind, m.occurred_at, m.conversation_id, -bm25(memories_fts, 0.0, 1.0) AS score
FROM memories_fts CROSS JOIN memories AS m ON m.id = memories_fts.rowid
WHERE memories_fts MATCH ?1 AND m.caller = ?2
ORDER BY score DESC, m.occurred_at DESC
LIMIT ?3";

const SEARCH_RECENT: &str = "
SELECT content, kind, occurred_at, conversation_id, 0.0 AS score
FROM memories
WHERE caller = ?1
ORDER BY occurred_at DESC, id DESC
LIMIT ?2";

/// Inserts one memory and its index entry; the caller provides the transaction.
pub(super) fn insert(connection: &Connection, memory: &NewMemory) -> rusqlite::Result<AddOutcome> {
    let tags = serde_json::to_string(&memory.tags).unwrap_or_else(|_| "[]".to_owned());
    let caller = memory.caller.as_e164();
    let inserted: Option<i64> = connection
        .prepare_cached(INSERT_MEMORY)?
        .query_row(
            params![
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
            ],
            |row| row.get(0),
        )
        .optional()?;
    let Some(id) = inserted else {
        return Ok(AddOutcome::AlreadyStored);
    };
    connection.prepare_cached(INSERT_INDEX)?.execute(params![
        id,
        caller_token(caller),
        memory.content
    ])?;
    Ok(AddOutcome::Stored)
}

pub(super) fn search(
    connection: &Connection,
    caller: &CallerId,
    text: &str,
    limit: usize,
) -> rusqlite::Result<Vec<MemoryHit>> {
    let limit = limit as i64;
    let caller_e164 = caller.as_e164();
    match match_expression(caller_token(caller_e164), text) {
        Some(expression) => {
            let mut statement = connection.prepare_cached(SEARCH_RANKED)?;
            let hits = statement
                .query_map(params![expression, caller_e164, limit], hit_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if hits.is_empty() {
                // No memory shares a word with the question: the most recent ones are the best
                // context there is.
                return recent(connection, caller_e164, limit);
            }
            Ok(hits)
        }
        None => recent(connection, caller_e164, limit),
    }
}

fn recent(connection: &Connection, caller: &str, limit: i64) -> rusqlite::Result<Vec<MemoryHit>> {
    let mut statement = connection.prepare_cached(SEARCH_RECENT)?;
    let hits = statement
        .query_map(params![caller, limit], hit_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(hits)
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

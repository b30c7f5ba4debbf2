//! The SQL the Postgres store runs. Every statement names the caller, and user text only ever
//! reaches Postgres as a bound parameter.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Client, GenericClient};
use tokio_postgres::Row;

use crate::core::recall::{add_similar, rank, recent_context, Candidate, Evidence, RecallQuery};
use crate::core::{
    AddOutcome, CallerId, ConversationId, Embedding, MemoryHit, MemoryKind, NewMemory,
};
use crate::outbound::vector_bytes;

/// How many of the best lexical matches, and of the most similar memories, are scored.
const CANDIDATES: i64 = 50;

const INSERT_MEMORY: &str = "
INSERT INTO memories (caller, conversation_id, memory_key, kind, content, agent_id, tags,
                      salience, occurred_at, turn_index, time_in_call, embedding_model, embedding)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT ON CONSTRAINT memories_identity DO NOTHING";

/// The caller's best lexical matches for the topic words in `$2`. Each word is one `tsquery`
/// (`plainto_tsquery`: any text is plain words, never query syntax), weighted by how rare it is
/// among the caller's memories (BM25's inverse document frequency), so a match on "penicillin"
/// outranks one on "order"; a memory's score sums its words' `ts_rank` times their weight.
const SEARCH_LEXICAL: &str = "
WITH words AS (
    SELECT DISTINCT query FROM unnest($2::text[]) AS word,
        plainto_tsquery('caller_memory_text', word) AS query
    WHERE numnode(query) > 0
), total AS (
    SELECT count(*) AS memories FROM memories WHERE caller = $1
), weighted AS (
    SELECT query,
        ln(1 + (total.memories - matches + 0.5)::float8 / (matches + 0.5)::float8) AS weight
    FROM (
        SELECT query,
            (SELECT count(*) FROM memories WHERE caller = $1 AND search @@ query) AS matches
        FROM words
    ) AS counted, total
    WHERE matches > 0
)
SELECT m.id, sum(w.weight * ts_rank(m.search, w.query)::float8) AS score
FROM memories AS m JOIN weighted AS w ON m.search @@ w.query
WHERE m.caller = $1
GROUP BY m.id
ORDER BY score DESC, m.id DESC
LIMIT $3";

/// The caller's vectors of one model, and nothing else of them: the texts of the best
/// candidates only are read afterwards.
const SEARCH_VECTORS: &str =
    "SELECT id, embedding FROM memories WHERE caller = $1 AND embedding_model = $2";

const READ_MEMORIES: &str = "
SELECT id, content, kind, occurred_at, conversation_id FROM memories
WHERE caller = $1 AND id = ANY($2)";

const SEARCH_RECENT: &str = "
SELECT id, content, kind, occurred_at, conversation_id FROM memories
WHERE caller = $1
ORDER BY occurred_at DESC, id DESC
LIMIT $2";

const LAST_SUMMARY: &str = "
SELECT id, content, kind, occurred_at, conversation_id FROM memories
WHERE caller = $1 AND kind = 'call_summary'
ORDER BY occurred_at DESC, id DESC
LIMIT 1";

const LIST_CALLER: &str = "
SELECT id, content, kind, occurred_at, conversation_id FROM memories
WHERE caller = $1
ORDER BY occurred_at DESC, id DESC";

const FORGET: &str = "
DELETE FROM memories WHERE caller = $1 AND conversation_id = $2 AND memory_key = ANY($3)";

const DELETE_CONVERSATION: &str = "DELETE FROM memories WHERE caller = $1 AND conversation_id = $2";

const MISSING_VECTORS: &str = "
SELECT id, content FROM memories
WHERE embedding_model IS DISTINCT FROM $1
ORDER BY id
LIMIT $2";

const STORE_VECTOR: &str = "UPDATE memories SET embedding_model = $2, embedding = $3 WHERE id = $1";

/// Inserts one memory with its embedding (model, vector) if any.
pub(super) async fn insert(
    client: &impl GenericClient,
    memory: &NewMemory,
    vector: Option<(&str, &Embedding)>,
) -> Result<AddOutcome, tokio_postgres::Error> {
    let inserted = client
        .execute(
            &client.prepare_cached(INSERT_MEMORY).await?,
            &[
                &memory.caller.as_e164(),
                &memory.conversation_id.as_str(),
                &memory.key,
                &memory.kind.as_str(),
                &memory.content,
                &memory.agent_id.as_ref().map(|agent| agent.as_str()),
                &memory.tags,
                &memory.salience,
                &memory.occurred_at,
                &memory.turn.map(|turn| turn.index as i64),
                &memory.turn.map(|turn| turn.time_in_call_secs as i64),
                &vector.map(|(model, _)| model),
                &vector.map(|(_, vector)| vector_bytes::to_bytes(vector)),
            ],
        )
        .await?;
    Ok(if inserted == 0 {
        AddOutcome::AlreadyStored
    } else {
        AddOutcome::Stored
    })
}

/// The caller's memories for `query`: recent context for a generic request, otherwise the best
/// lexical matches and the most similar memories, ranked by the core scorer.
pub(super) async fn search(
    client: &Client,
    caller: &CallerId,
    query: &RecallQuery,
    limit: usize,
) -> Result<Vec<MemoryHit>, tokio_postgres::Error> {
    let caller = caller.as_e164();
    if query.is_generic() {
        return recent(client, caller, limit).await;
    }
    let mut evidence: HashMap<i64, Evidence> = client
        .query(
            &client.prepare_cached(SEARCH_LEXICAL).await?,
            &[&caller, &query.topic_words(), &CANDIDATES],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), (Some(row.get(1)), None)))
        .collect();
    if let Some(wanted) = query.embedding() {
        let mut comparison = vector_bytes::Comparison::new(&wanted.embedding);
        let mut similar: Vec<(i64, f32)> = client
            .query(
                &client.prepare_cached(SEARCH_VECTORS).await?,
                &[&caller, &wanted.model_id],
            )
            .await?
            .iter()
            .map(|row| {
                let similarity = comparison.similarity(row.get(1));
                (row.get(0), similarity)
            })
            .collect();
        similar.sort_by(|a, b| b.1.total_cmp(&a.1));
        add_similar(&mut evidence, similar, CANDIDATES as usize);
    }
    let ids: Vec<i64> = evidence.keys().copied().collect();
    let candidates = client
        .query(
            &client.prepare_cached(READ_MEMORIES).await?,
            &[&caller, &ids],
        )
        .await?
        .iter()
        .map(|row| {
            let (lexical, similarity) = evidence[&row.get::<_, i64>(0)];
            Candidate {
                hit: hit_from_row(row),
                lexical,
                similarity,
            }
        })
        .collect();
    Ok(rank(candidates, query.chance(), limit))
}

/// The caller's most recent memories and their last call's summary, as the core orders them for
/// a generic request.
async fn recent(
    client: &Client,
    caller: &str,
    limit: usize,
) -> Result<Vec<MemoryHit>, tokio_postgres::Error> {
    let mut hits: Vec<MemoryHit> = client
        .query(
            &client.prepare_cached(SEARCH_RECENT).await?,
            &[&caller, &(limit as i64)],
        )
        .await?
        .iter()
        .map(hit_from_row)
        .collect();
    let summary = client
        .query_opt(&client.prepare_cached(LAST_SUMMARY).await?, &[&caller])
        .await?;
    if let Some(summary) = summary
        .as_ref()
        .map(hit_from_row)
        .filter(|summary| !hits.contains(summary))
    {
        hits.push(summary);
    }
    Ok(recent_context(hits, limit))
}

pub(super) async fn list(
    client: &Client,
    caller: &CallerId,
) -> Result<Vec<MemoryHit>, tokio_postgres::Error> {
    Ok(client
        .query(
            &client.prepare_cached(LIST_CALLER).await?,
            &[&caller.as_e164()],
        )
        .await?
        .iter()
        .map(hit_from_row)
        .collect())
}

pub(super) async fn forget(
    client: &Client,
    caller: &CallerId,
    conversation: &ConversationId,
    keys: &[String],
) -> Result<usize, tokio_postgres::Error> {
    let removed = client
        .execute(
            &client.prepare_cached(FORGET).await?,
            &[&caller.as_e164(), &conversation.as_str(), &keys],
        )
        .await?;
    Ok(removed as usize)
}

pub(super) async fn delete_conversation(
    client: &Client,
    caller: &CallerId,
    conversation: &ConversationId,
) -> Result<usize, tokio_postgres::Error> {
    let deleted = client
        .execute(
            &client.prepare_cached(DELETE_CONVERSATION).await?,
            &[&caller.as_e164(), &conversation.as_str()],
        )
        .await?;
    Ok(deleted as usize)
}

/// Up to `batch` memories without a vector of `model`: (id, content).
pub(super) async fn missing_vectors(
    client: &Client,
    model: &str,
    batch: usize,
) -> Result<Vec<(i64, String)>, tokio_postgres::Error> {
    Ok(client
        .query(
            &client.prepare_cached(MISSING_VECTORS).await?,
            &[&model, &(batch as i64)],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

pub(super) async fn store_vector(
    client: &impl GenericClient,
    id: i64,
    model: &str,
    vector: &Embedding,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            &client.prepare_cached(STORE_VECTOR).await?,
            &[&id, &model, &vector_bytes::to_bytes(vector)],
        )
        .await?;
    Ok(())
}

fn hit_from_row(row: &Row) -> MemoryHit {
    let kind: &str = row.get(2);
    let occurred_at: DateTime<Utc> = row.get(3);
    let conversation: &str = row.get(4);
    MemoryHit {
        content: row.get(1),
        // Rows are only written by this adapter, so an unknown kind means a newer writer; the
        // content is still worth returning.
        kind: MemoryKind::from_name(kind).unwrap_or(MemoryKind::Utterance),
        score: 0.0,
        created_at: Some(occurred_at),
        conversation_id: ConversationId::parse(conversation).ok(),
    }
}

//! The Postgres store's schema: versioned migrations, applied at start in one transaction under
//! an advisory lock, so that several instances starting at once apply each step exactly once.

use anyhow::{bail, Context};
use tokio_postgres::Transaction;

/// The schema version this build writes and reads.
pub(super) const SCHEMA_VERSION: i32 = 2;

/// The advisory lock held while migrating (any constant the database's other users do not take;
/// this one spells "cmem" in ASCII).
const MIGRATION_LOCK: i64 = 0x636d_656d;

/// Version 1: one row per memory, unique per (caller, conversation, key) so that a repeated add
/// is recognised; its words as a generated `tsvector`, indexed by GIN together with the caller
/// (`btree_gin`), so a search reads only that caller's postings; its embedding beside it with
/// the model that computed it.
const MEMORIES_V1: &str = "
CREATE TABLE memories (
    id              bigserial   PRIMARY KEY,
    caller          text        NOT NULL,
    conversation_id text        NOT NULL,
    memory_key      text        NOT NULL,
    kind            text        NOT NULL,
    content         text        NOT NULL,
    agent_id        text,
    tags            text[]      NOT NULL,
    salience        real        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    turn_index      bigint,
    time_in_call    bigint,
    search          tsvector    NOT NULL
                    GENERATED ALWAYS AS (to_tsvector('caller_memory_text', content)) STORED,
    embedding_model text,
    embedding       real[],
    CONSTRAINT memories_identity UNIQUE (caller, conversation_id, memory_key)
);
CREATE INDEX memories_recent ON memories (caller, occurred_at DESC, id DESC);
";

/// Version 2: each embedding as `bytea`, its `f32` values little-endian (as the embedded store
/// keeps them), instead of `real[]`. A search reads the caller's vectors, and Postgres sends a
/// `real[]` element by element, where it sends a `bytea` as it is. The vector is kept in the
/// row (storage `MAIN`: not moved to the TOAST table while the row fits), so reading it costs
/// no second lookup.
/// Existing vectors are converted (`float4send` writes a `real` big-endian: its bytes are
/// reversed); a memory whose vector cannot be converted loses its model too, so that
/// `embed_missing` embeds it again.
const VECTORS_AS_BYTES_V2: &str = "
ALTER TABLE memories ADD COLUMN vector bytea;
ALTER TABLE memories ALTER COLUMN vector SET STORAGE MAIN;
UPDATE memories SET vector = (
    SELECT string_agg(substr(bytes, 4, 1) || substr(bytes, 3, 1) || substr(bytes, 2, 1)
                      || substr(bytes, 1, 1), ''::bytea ORDER BY position)
    FROM unnest(embedding) WITH ORDINALITY AS element(value, position),
        float4send(value) AS bytes
) WHERE embedding IS NOT NULL;
UPDATE memories SET embedding_model = NULL WHERE vector IS NULL;
ALTER TABLE memories DROP COLUMN embedding;
ALTER TABLE memories RENAME COLUMN vector TO embedding;
";

/// Applies every missing step. Refuses a database written by a newer build (reading it could
/// silently lose data).
///
/// # Errors
/// When the database cannot be read or a step fails; nothing of that step is kept then.
pub(super) async fn migrate(transaction: &Transaction<'_>) -> anyhow::Result<()> {
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("cannot take the migration lock")?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS caller_memory_schema (
                 version    integer     PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .context("cannot create the schema version table")?;
    let version: i32 = transaction
        .query_one(
            "SELECT coalesce(max(version), 0) FROM caller_memory_schema",
            &[],
        )
        .await?
        .get(0);
    if version > SCHEMA_VERSION {
        bail!(
            "the memory database has schema version {version}, newer than the supported version {SCHEMA_VERSION}"
        );
    }
    if version < 1 {
        version_1(transaction)
            .await
            .context("cannot create the memory database schema (version 1)")?;
        transaction
            .execute("INSERT INTO caller_memory_schema (version) VALUES (1)", &[])
            .await?;
    }
    if version < 2 {
        transaction
            .batch_execute(VECTORS_AS_BYTES_V2)
            .await
            .context("cannot store the embeddings as bytes (schema version 2)")?;
        transaction
            .execute("INSERT INTO caller_memory_schema (version) VALUES (2)", &[])
            .await?;
    }
    Ok(())
}

/// Version 1. The text search configuration `caller_memory_text` stems English words
/// (`cancelled` and `cancellation` match, as in the embedded store's `porter` tokenizer) and
/// folds accents when the `unaccent` extension is available (`crème` matches `creme`, as
/// `remove_diacritics` does).
async fn version_1(transaction: &Transaction<'_>) -> anyhow::Result<()> {
    let unaccent = try_extension(transaction, "unaccent").await?;
    let btree_gin = try_extension(transaction, "btree_gin").await?;
    transaction
        .batch_execute("CREATE TEXT SEARCH CONFIGURATION caller_memory_text (COPY = english)")
        .await?;
    if unaccent {
        transaction
            .batch_execute(
                "ALTER TEXT SEARCH CONFIGURATION caller_memory_text
                 ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem",
            )
            .await?;
    }
    transaction.batch_execute(MEMORIES_V1).await?;
    // With btree_gin one index answers "this caller's memories with this word"; without it the
    // caller's rows are found by `memories_recent` and their words checked one by one.
    let index = if btree_gin {
        "CREATE INDEX memories_search ON memories USING gin (caller, search)"
    } else {
        "CREATE INDEX memories_search ON memories USING gin (search)"
    };
    transaction.batch_execute(index).await?;
    Ok(())
}

/// Creates `name` if the server has it and lets us; answers whether it is there. A failure is
/// rolled back to a savepoint, so the migration goes on without it.
async fn try_extension(transaction: &Transaction<'_>, name: &str) -> anyhow::Result<bool> {
    transaction.batch_execute("SAVEPOINT extension").await?;
    let created = transaction
        .batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {name}"))
        .await;
    match created {
        Ok(()) => {
            transaction
                .batch_execute("RELEASE SAVEPOINT extension")
                .await?;
            Ok(true)
        }
        Err(error) => {
            tracing::warn!(extension = name, %error, "a Postgres extension is not available");
            transaction
                .batch_execute("ROLLBACK TO SAVEPOINT extension")
                .await?;
            Ok(false)
        }
    }
}

//! The embedded store's SQLite schema, created on first run and versioned with `user_version`.

use anyhow::{bail, Context};
use rusqlite::Connection;

/// The schema version this build writes and reads.
pub(super) const SCHEMA_VERSION: i64 = 1;

/// Version 1: one row per memory, unique per (caller, conversation, key) so that a repeated add
/// is recognised, and a contentless FTS5 index over the caller and the content. The caller is
/// indexed as a token so that a search only walks that caller's postings, whatever the store size.
const SCHEMA_V1: &str = "
CREATE TABLE memories (
    id              INTEGER PRIMARY KEY,
    caller          TEXT    NOT NULL,
    conversation_id TEXT    NOT NULL,
    memory_key      TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    content         TEXT    NOT NULL,
    agent_id        TEXT,
    tags            TEXT    NOT NULL,
    salience        REAL    NOT NULL,
    occurred_at     INTEGER NOT NULL,
    turn_index      INTEGER,
    time_in_call    INTEGER
);
CREATE UNIQUE INDEX memories_identity ON memories (caller, conversation_id, memory_key);
CREATE INDEX memories_recent ON memories (caller, occurred_at DESC);
CREATE VIRTUAL TABLE memories_fts USING fts5(
    caller_token, content, content='', tokenize='unicode61 remove_diacritics 2'
);
";

/// Settings every connection needs: WAL lets readers run while the writer commits, and the busy
/// timeout turns short lock waits into waiting instead of errors.
pub(super) fn configure(connection: &Connection) -> anyhow::Result<()> {
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .context("cannot switch the memory database to WAL mode")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Creates the schema on an empty database, accepts the current version and refuses a database
/// written by a newer build (reading it could silently lose data).
pub(super) fn migrate(connection: &mut Connection) -> anyhow::Result<()> {
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    match version {
        0 => {
            let transaction = connection.transaction()?;
            transaction
                .execute_batch(SCHEMA_V1)
                .context("cannot create the memory database schema")?;
            transaction.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            transaction.commit()?;
            Ok(())
        }
        SCHEMA_VERSION => Ok(()),
        newer => bail!(
            "memory database schema version {newer} is newer than the supported version {SCHEMA_VERSION}"
        ),
    }
}

/// The token the caller is indexed under: the E.164 digits without the `+`, which the FTS
/// tokenizer would drop anyway.
pub(super) fn caller_token(e164: &str) -> &str {
    e164.trim_start_matches('+')
}

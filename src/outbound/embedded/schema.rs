//! The embedded store's SQLite schema, created on first run and versioned with `user_version`.

use anyhow::{bail, Context};
use rusqlite::Connection;

/// The schema version this build writes and reads.
pub(super) const SCHEMA_VERSION: i64 = 1;

/// Version 1: one row per memory, unique per (caller, conversation, key) so that a repeated add
/// is recognised, and a contentless FTS5 index over the content.
///
/// Each caller gets a slot, and a memory's id is `slot << SEQUENCE_BITS | sequence`: one caller's
/// memories occupy one contiguous id range. FTS5 keeps its postings in id order and can seek to an
/// id range, so a search scoped by that range reads only this caller's postings, however large
/// the store and however common the words (a word in 40 % of a million memories would otherwise
/// cost a walk over 400,000 postings).
const SCHEMA_V1: &str = "
CREATE TABLE callers (
    slot   INTEGER PRIMARY KEY,
    caller TEXT    NOT NULL UNIQUE
);
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
    content, content='', tokenize='unicode61 remove_diacritics 2'
);
";

/// Bits of a memory id that number the memories of one caller (16.7 million each).
pub(super) const SEQUENCE_BITS: u32 = 24;

/// The first and last memory id of a caller's slot.
pub(super) fn id_range(slot: i64) -> (i64, i64) {
    let first = slot << SEQUENCE_BITS;
    (first, first | ((1 << SEQUENCE_BITS) - 1))
}

/// Settings every connection needs: WAL lets readers run while the writer commits, and the busy
/// timeout turns short lock waits into waiting instead of errors.
pub(super) fn configure(connection: &Connection) -> anyhow::Result<()> {
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .context("cannot switch the memory database to WAL mode")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // Erased memories must not survive in free pages of the file.
    connection.pragma_update(None, "secure_delete", "ON")?;
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

//! The embedded store's SQLite schema, created on first run and versioned with `user_version`.

use anyhow::{bail, Context};
use rusqlite::Connection;

/// The schema version this build writes and reads.
pub(super) const SCHEMA_VERSION: i64 = 2;

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

/// Version 2: the full-text index stems English words (`cancelled` and `cancellation` match)
/// and still folds diacritics, so it is rebuilt from the stored contents; and each memory may
/// have a sentence embedding beside it, tagged with the model that computed it, in the same id
/// space (a caller's vectors are one contiguous range too).
const SCHEMA_V2: &str = "
DROP TABLE memories_fts;
CREATE VIRTUAL TABLE memories_fts USING fts5(
    content, content='', tokenize='porter unicode61 remove_diacritics 2'
);
INSERT INTO memories_fts (rowid, content) SELECT id, content FROM memories;
CREATE TABLE memory_vectors (
    id     INTEGER PRIMARY KEY,
    model  TEXT NOT NULL,
    vector BLOB NOT NULL
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

/// Creates the schema on an empty database, upgrades an older one step by step in one
/// transaction each, and refuses a database written by a newer build (reading it could silently
/// lose data).
pub(super) fn migrate(connection: &mut Connection) -> anyhow::Result<()> {
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        bail!(
            "memory database schema version {version} is newer than the supported version {SCHEMA_VERSION}"
        );
    }
    for (target, script) in [(1, SCHEMA_V1), (2, SCHEMA_V2)] {
        if version < target {
            let transaction = connection.transaction()?;
            transaction.execute_batch(script).with_context(|| {
                format!("cannot upgrade the memory database to version {target}")
            })?;
            transaction.pragma_update(None, "user_version", target)?;
            transaction.commit()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_file_is_upgraded_and_keeps_its_memories_searchable_by_word_form() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("memory.sqlite3");
        let mut connection = Connection::open(&path).unwrap();
        connection.execute_batch(SCHEMA_V1).unwrap();
        connection.pragma_update(None, "user_version", 1).unwrap();
        connection
            .execute_batch(
                "INSERT INTO memories VALUES (1, '+14155550123', 'conv_1', 'utterance-1', \
                 'utterance', 'I cancelled the order', NULL, '[]', 0.5, 0, 1, 0); \
                 INSERT INTO memories_fts (rowid, content) VALUES (1, 'I cancelled the order');",
            )
            .unwrap();

        migrate(&mut connection).unwrap();

        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let found: i64 = connection
            .query_row(
                "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH '\"cancellation\"'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(found, 1);
        migrate(&mut connection).unwrap();
    }
}

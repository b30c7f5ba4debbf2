//! The embedded memory store: one SQLite file, hybrid search (full-text BM25 and sentence
//! embeddings, fused by the core scorer), no network.
//!
//! - The file (`OPENMEMORY_DB_PATH`) is created on first run, in WAL mode, with a schema version
//!   kept in `user_version` (see [`schema`]); older files are upgraded when opened.
//! - With an embedder, each memory's embedding is computed once when it is added and stored
//!   beside it with the model's id; memories stored without one (or with another model) get one
//!   from [`EmbeddedMemoryStore::embed_missing`]. A search compares the question's embedding
//!   with the caller's stored vectors only, never embedding memories at query time.
//! - Every memory is unique per (caller, conversation, key): adding it again answers
//!   [`AddOutcome::AlreadyStored`], so repeated webhook deliveries never duplicate memories.
//! - Searches are always scoped to one caller, and any text is safe: it is reduced to quoted words
//!   (see [`fts_query`]). A generic request gets the caller's recent context instead.
//! - SQLite calls block, so they run on tokio's blocking pool: one writer connection (SQLite
//!   allows one writer at a time anyway) and a few reader connections, which WAL lets run
//!   alongside the writer.

mod fts_query;
mod schema;
mod statements;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::core::ports::{
    add_as_one_of_many, results_of_one_transaction, Embedder, MemoryStore, MemoryStoreError,
};
use crate::core::recall::{embed_missing, memory_embeddings, MissingVectors, RecallQuery};
use crate::core::{
    AddOutcome, CallerId, ConversationId, Embedding, MemoryHit, NewMemory, SearchLimit,
};

/// How many idle reader connections are kept open for reuse.
const IDLE_READERS: usize = 4;

/// How much of the file a reader maps into memory (see [`open_reader`]).
const READER_MAP_BYTES: i64 = 256 * 1024 * 1024;

/// A [`MemoryStore`] in a local SQLite file.
#[derive(Clone)]
pub struct EmbeddedMemoryStore {
    inner: Arc<Inner>,
    embedder: Option<Arc<dyn Embedder>>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    idle_readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for EmbeddedMemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedMemoryStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedMemoryStore {
    /// Opens the store at `path`, creating the file, its folder and the schema when missing.
    ///
    /// # Errors
    /// [`MemoryStoreError::Unknown`] when the file cannot be created or opened, or was written by a
    /// newer schema version.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, MemoryStoreError> {
        let path = path.into();
        let writer = tokio::task::spawn_blocking({
            let path = path.clone();
            move || open_writer(&path)
        })
        .await
        .map_err(|join| MemoryStoreError::Unknown(join.into()))??;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                idle_readers: Mutex::new(Vec::new()),
            }),
            embedder: None,
        })
    }

    /// Embeds each memory with `embedder` when it is added, so searches can rank by meaning.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    /// Embeds every stored memory that has no vector of the embedder's model (stored before an
    /// embedder was configured, with another model, or while the embedder was failing), in
    /// batches; returns how many were embedded. Does nothing without an embedder.
    ///
    /// # Errors
    /// [`MemoryStoreError::Unavailable`] when the embedder fails (what was embedded so far is
    /// kept), [`MemoryStoreError::Unknown`] when the file cannot be read or written.
    pub async fn embed_missing(&self) -> Result<usize, MemoryStoreError> {
        embed_missing(self.embedder.as_ref(), self).await
    }

    /// Adds many memories in one transaction, much faster than one [`MemoryStore::add`] each; for
    /// seeding, imports and benchmarks. Blocking: call it from a blocking context. Returns how
    /// many were newly stored (repeats are skipped as in `add`).
    ///
    /// # Errors
    /// [`MemoryStoreError::Unknown`] when the file cannot be opened or written; nothing is stored
    /// then.
    pub fn bulk_load(
        path: &Path,
        memories: impl IntoIterator<Item = NewMemory>,
    ) -> Result<u64, MemoryStoreError> {
        let mut connection = open_writer(path)?;
        // Durability per commit does not matter for a load that is one transaction, and a larger
        // page cache keeps the index build in memory.
        connection
            .execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")
            .map_err(storage_error)?;
        let transaction = connection.transaction().map_err(storage_error)?;
        let mut stored = 0;
        for memory in memories {
            if statements::insert(&transaction, &memory, None).map_err(storage_error)?
                == AddOutcome::Stored
            {
                stored += 1;
            }
        }
        transaction.commit().map_err(storage_error)?;
        // Merging the index segments once after a bulk load keeps searches fast.
        connection
            .execute(
                "INSERT INTO memories_fts (memories_fts) VALUES ('optimize')",
                [],
            )
            .map_err(storage_error)?;
        Ok(stored)
    }

    /// Runs `work` with the writer connection on the blocking pool.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, MemoryStoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut writer = lock(&inner.writer);
            work(&mut writer).map_err(storage_error)
        })
        .await
        .map_err(|join| MemoryStoreError::Unknown(join.into()))?
    }

    /// Runs `work` with a reader connection on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, MemoryStoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let reader = lock(&inner.idle_readers).pop();
            let reader = match reader {
                Some(reader) => reader,
                None => open_reader(&inner.path)?,
            };
            let result = work(&reader).map_err(storage_error);
            let mut idle = lock(&inner.idle_readers);
            if idle.len() < IDLE_READERS {
                idle.push(reader);
            }
            result
        })
        .await
        .map_err(|join| MemoryStoreError::Unknown(join.into()))?
    }
}

#[async_trait]
impl MissingVectors for EmbeddedMemoryStore {
    async fn without_vector(
        &self,
        model: &str,
        batch: usize,
    ) -> Result<Vec<(i64, String)>, MemoryStoreError> {
        let model = model.to_owned();
        self.read(move |connection| statements::missing_vectors(connection, &model, batch))
            .await
    }

    async fn store_vectors(
        &self,
        model: &str,
        vectors: Vec<(i64, Embedding)>,
    ) -> Result<(), MemoryStoreError> {
        let model = model.to_owned();
        self.write(move |connection| {
            let transaction = connection.transaction()?;
            for (id, vector) in &vectors {
                statements::store_vector(&transaction, *id, &model, vector)?;
            }
            transaction.commit()
        })
        .await
    }
}

#[async_trait]
impl MemoryStore for EmbeddedMemoryStore {
    /// Without a working embedder the memory is stored without a vector (and found by its
    /// words) rather than held back: [`EmbeddedMemoryStore::embed_missing`] catches up later.
    async fn add(&self, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        add_as_one_of_many(self, memory).await
    }

    /// The memories are embedded in one call to the embedder (one padded batch for a local
    /// model) and stored in one transaction: all of them, or none when the transaction fails
    /// (then the one result is that error).
    async fn add_many(&self, memories: &[NewMemory]) -> Vec<Result<AddOutcome, MemoryStoreError>> {
        if memories.is_empty() {
            return Vec::new();
        }
        let vectors = memory_embeddings(self.embedder.as_ref(), memories).await;
        let memories = memories.to_vec();
        let stored = self
            .write(move |connection| {
                let transaction = connection.transaction()?;
                let mut outcomes = Vec::with_capacity(memories.len());
                for (memory, vector) in memories.iter().zip(&vectors) {
                    let vector = vector
                        .as_ref()
                        .map(|found| (found.model_id.as_str(), &found.embedding));
                    outcomes.push(statements::insert(&transaction, memory, vector)?);
                }
                transaction.commit()?;
                Ok(outcomes)
            })
            .await;
        results_of_one_transaction(stored)
    }

    async fn search(
        &self,
        caller: &CallerId,
        query: &RecallQuery,
        limit: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let caller = caller.clone();
        let query = query.clone();
        self.read(move |connection| statements::search(connection, &caller, &query, limit.get()))
            .await
    }

    async fn forget(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        keys: &[String],
    ) -> Result<usize, MemoryStoreError> {
        let (caller, conversation, keys) = (caller.clone(), conversation.clone(), keys.to_vec());
        self.write(move |connection| {
            let transaction = connection.transaction()?;
            let removed = statements::forget(&transaction, &caller, &conversation, &keys)?;
            transaction.commit()?;
            Ok(removed)
        })
        .await
    }

    async fn memories_of(&self, caller: &CallerId) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let caller = caller.clone();
        self.read(move |connection| statements::list(connection, &caller))
            .await
    }

    /// Deleted rows are overwritten in the file (`secure_delete`), the full-text index is merged
    /// so that no segment keeps the deleted words, and the write-ahead log is checkpointed and
    /// truncated, so that erased text is left in no page of either file.
    async fn delete_conversation(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
    ) -> Result<usize, MemoryStoreError> {
        let (caller, conversation) = (caller.clone(), conversation.clone());
        self.write(move |connection| {
            let transaction = connection.transaction()?;
            let deleted = statements::delete_conversation(&transaction, &caller, &conversation)?;
            transaction.commit()?;
            if deleted > 0 {
                connection.execute(
                    "INSERT INTO memories_fts (memories_fts) VALUES ('optimize')",
                    [],
                )?;
                connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
            Ok(deleted)
        })
        .await
    }

    async fn check(&self) -> Result<(), MemoryStoreError> {
        self.read(|connection| {
            connection.query_row(
                "SELECT count(*) FROM memories_fts WHERE rowid = 0",
                [],
                |_| Ok(()),
            )
        })
        .await
    }
}

fn open_writer(path: &Path) -> Result<Connection, MemoryStoreError> {
    let open = || -> anyhow::Result<Connection> {
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create folder {}", folder.display()))?;
        }
        let mut connection = Connection::open(path)
            .with_context(|| format!("cannot open memory database {}", path.display()))?;
        schema::configure(&connection)?;
        schema::migrate(&mut connection)?;
        Ok(connection)
    };
    open().map_err(MemoryStoreError::Unknown)
}

fn open_reader(path: &Path) -> Result<Connection, MemoryStoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(storage_error)?;
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(storage_error)?;
    // A search reads all of the caller's vectors: mapped, the file's pages are read in place
    // instead of copied through a system call each (about 5,000 pages for 10,000 memories).
    connection
        .pragma_update(None, "mmap_size", READER_MAP_BYTES)
        .map_err(storage_error)?;
    Ok(connection)
}

/// Lock contention is worth retrying; anything else is a defect or a broken file.
fn storage_error(error: rusqlite::Error) -> MemoryStoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => MemoryStoreError::unavailable(
            anyhow::Error::new(error).context("memory database is busy"),
        ),
        _ => MemoryStoreError::Unknown(anyhow::Error::new(error).context("memory database error")),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a connection half-used: every transaction
    // rolls back when dropped.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

//! The Postgres memory store: memories shared by any number of instances, searched like the
//! embedded store (full-text and sentence embeddings, fused by the core scorer).
//!
//! - The schema is versioned and migrated at start, under an advisory lock (see [`schema`]).
//! - Full-text search: a generated `tsvector` per memory (English stemming, accents folded with
//!   `unaccent`), GIN-indexed with the caller; only the question's topic words are searched,
//!   each as a bound parameter (see [`statements`]).
//! - Embeddings: each memory's vector is stored beside it (`bytea`, its `f32` values
//!   little-endian) with the model's id when it is added; a search reads only the ids and vectors
//!   of the caller's memories of the same model, compares them with the question's embedding in
//!   the service, and reads the texts of the best candidates only. (pgvector is not used:
//!   scoring one caller's vectors needs no index.)
//! - Every memory is unique per (caller, conversation, key): adding it again answers
//!   [`AddOutcome::AlreadyStored`], so repeated deliveries, to any instance, never duplicate it.
//! - Connections come from a pool whose waits are bounded (`DATABASE_ACQUIRE_TIMEOUT_MS`, also
//!   for connecting), and every statement is bounded by the server (`statement_timeout`).
//!
//! The driver is tokio-postgres with a deadpool pool, and rustls for TLS (see [`tls`]): plain SQL
//! with bound parameters and no database needed at build time, a small dependency tree, and the
//! TLS stack the HTTP clients already use.

mod schema;
mod statements;
mod tls;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;

use crate::core::ports::{
    add_as_one_of_many, results_of_one_transaction, Embedder, MemoryStore, MemoryStoreError,
};
use crate::core::recall::{
    embed_missing, memory_embeddings, MissingVectors, QueryEmbedding, RecallQuery,
};
use crate::core::{
    AddOutcome, CallerId, ConversationId, Embedding, MemoryHit, NewMemory, SearchLimit,
};

/// How the pool behaves.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Connections at most.
    pub size: usize,
    /// How long a call waits for a connection (from the pool, or a new one) before the store
    /// counts as unavailable.
    pub acquire_timeout: Duration,
    /// How long the server lets one statement run before cancelling it.
    pub statement_timeout: Duration,
}

/// A [`MemoryStore`] in a Postgres database.
#[derive(Clone)]
pub struct PostgresMemoryStore {
    pool: Pool,
    embedder: Option<Arc<dyn Embedder>>,
    /// Where the database is, without credentials, for messages.
    place: String,
}

impl std::fmt::Debug for PostgresMemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresMemoryStore")
            .field("database", &self.place)
            .finish_non_exhaustive()
    }
}

impl PostgresMemoryStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, with
    /// `sslmode` as libpq reads it), creates or upgrades its schema, and keeps a pool.
    ///
    /// # Errors
    /// [`MemoryStoreError::Rejected`] for a URL that cannot be read;
    /// [`MemoryStoreError::Unavailable`] when the database cannot be reached in time;
    /// [`MemoryStoreError::Unknown`] when the schema cannot be created, or was written by a
    /// newer version.
    pub async fn connect(url: &str, options: PoolOptions) -> Result<Self, MemoryStoreError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(|error| {
            MemoryStoreError::rejected(
                anyhow::Error::new(error).context("DATABASE_URL cannot be read"),
            )
        })?;
        config
            .connect_timeout(options.acquire_timeout)
            .options(format!(
                "-c statement_timeout={}",
                options.statement_timeout.as_millis()
            ))
            .application_name("caller-memory");
        let place = describe(&config);
        let manager = Manager::from_config(
            config,
            tls::connector(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.size.max(1))
            .wait_timeout(Some(options.acquire_timeout))
            .create_timeout(Some(options.acquire_timeout))
            .recycle_timeout(Some(options.acquire_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|error| MemoryStoreError::Unknown(anyhow::Error::new(error)))?;
        let store = Self {
            pool,
            embedder: None,
            place,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Embeds each memory with `embedder` when it is added, so searches can rank by meaning.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    /// Embeds every stored memory that has no vector of the embedder's model, in batches; returns
    /// how many were embedded. Does nothing without an embedder. Safe beside other instances
    /// doing the same: a memory embedded twice gets the same vector.
    ///
    /// # Errors
    /// [`MemoryStoreError::Unavailable`] when the embedder or the database fails (what was
    /// embedded so far is kept).
    pub async fn embed_missing(&self) -> Result<usize, MemoryStoreError> {
        embed_missing(self.embedder.as_ref(), self).await
    }

    /// Inserts `memories` with their `vectors` (one each) in one transaction; a memory already
    /// stored is left as it is.
    async fn insert_all(
        &self,
        memories: &[NewMemory],
        vectors: &[Option<QueryEmbedding>],
    ) -> Result<Vec<AddOutcome>, MemoryStoreError> {
        let mut client = self.client().await?;
        let inserted = async {
            let transaction = client.transaction().await?;
            let mut outcomes = Vec::with_capacity(memories.len());
            for (memory, vector) in memories.iter().zip(vectors) {
                let vector = vector
                    .as_ref()
                    .map(|found| (found.model_id.as_str(), &found.embedding));
                outcomes.push(statements::insert(&transaction, memory, vector).await?);
            }
            transaction.commit().await?;
            Ok(outcomes)
        };
        inserted.await.map_err(|error| self.failed(error))
    }

    async fn migrate(&self) -> Result<(), MemoryStoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(|error| self.failed(error))?;
        schema::migrate(&transaction)
            .await
            .with_context(|| format!("cannot migrate the memory database {}", self.place))?;
        transaction
            .commit()
            .await
            .map_err(|error| self.failed(error))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, MemoryStoreError> {
        self.pool.get().await.map_err(|error| match error {
            PoolError::Backend(error) => self.failed(error),
            PoolError::Timeout(kind) => MemoryStoreError::unavailable(format!(
                "no connection to the memory database {} in time ({kind:?})",
                self.place
            )),
            other => MemoryStoreError::unavailable(format!(
                "no connection to the memory database {}: {other}",
                self.place
            )),
        })
    }

    /// A failed statement or connection: worth retrying when the server is unreachable, busy,
    /// shutting down or cancelled the statement for time; a defect otherwise.
    fn failed(&self, error: tokio_postgres::Error) -> MemoryStoreError {
        let retryable = match error.code() {
            None => true,
            Some(code) => {
                let class = &code.code()[..2];
                matches!(class, "08" | "53" | "57" | "40") || *code == SqlState::LOCK_NOT_AVAILABLE
            }
        };
        if retryable {
            MemoryStoreError::unavailable(
                anyhow::Error::new(error).context(format!("memory database {}", self.place)),
            )
        } else {
            MemoryStoreError::Unknown(
                anyhow::Error::new(error).context(format!("memory database {}", self.place)),
            )
        }
    }
}

#[async_trait]
impl MissingVectors for PostgresMemoryStore {
    async fn without_vector(
        &self,
        model: &str,
        batch: usize,
    ) -> Result<Vec<(i64, String)>, MemoryStoreError> {
        let client = self.client().await?;
        statements::missing_vectors(&client, model, batch)
            .await
            .map_err(|error| self.failed(error))
    }

    async fn store_vectors(
        &self,
        model: &str,
        vectors: Vec<(i64, Embedding)>,
    ) -> Result<(), MemoryStoreError> {
        let mut client = self.client().await?;
        let stored = async {
            let transaction = client.transaction().await?;
            for (id, vector) in &vectors {
                statements::store_vector(&transaction, *id, model, vector).await?;
            }
            transaction.commit().await
        };
        stored.await.map_err(|error| self.failed(error))
    }
}

#[async_trait]
impl MemoryStore for PostgresMemoryStore {
    /// Without a working embedder the memory is stored without a vector (and found by its
    /// words) rather than held back: [`PostgresMemoryStore::embed_missing`] catches up later.
    async fn add(&self, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        add_as_one_of_many(self, memory).await
    }

    /// The memories are embedded in one call to the embedder and stored in one transaction: all
    /// of them, or none when the transaction fails (then the one result is that error).
    async fn add_many(&self, memories: &[NewMemory]) -> Vec<Result<AddOutcome, MemoryStoreError>> {
        if memories.is_empty() {
            return Vec::new();
        }
        let vectors = memory_embeddings(self.embedder.as_ref(), memories).await;
        results_of_one_transaction(self.insert_all(memories, &vectors).await)
    }

    async fn search(
        &self,
        caller: &CallerId,
        query: &RecallQuery,
        limit: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let client = self.client().await?;
        statements::search(&client, caller, query, limit.get())
            .await
            .map_err(|error| self.failed(error))
    }

    async fn forget(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        keys: &[String],
    ) -> Result<usize, MemoryStoreError> {
        let client = self.client().await?;
        statements::forget(&client, caller, conversation, keys)
            .await
            .map_err(|error| self.failed(error))
    }

    async fn memories_of(&self, caller: &CallerId) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let client = self.client().await?;
        statements::list(&client, caller)
            .await
            .map_err(|error| self.failed(error))
    }

    /// The rows are deleted at once; Postgres reclaims their space (and the erased text in it)
    /// when autovacuum next processes the table.
    async fn delete_conversation(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
    ) -> Result<usize, MemoryStoreError> {
        let client = self.client().await?;
        statements::delete_conversation(&client, caller, conversation)
            .await
            .map_err(|error| self.failed(error))
    }

    /// One pooled connection and one indexed read of no rows.
    async fn check(&self) -> Result<(), MemoryStoreError> {
        let client = self.client().await?;
        client
            .query("SELECT 1 FROM memories WHERE caller = '' LIMIT 1", &[])
            .await
            .map(|_| ())
            .map_err(|error| self.failed(error))
    }
}

/// `user@host:port/database`, never the password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

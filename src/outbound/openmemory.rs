//! The OpenMemory adapter: memories in an OpenMemory server over HTTP.
//!
//! It targets the OpenMemory releases that take the user from the request (`user_id`), where
//! one service key serves every caller; the caller's E.164 number is the `user_id` of every add
//! and query, and no request is ever sent without one (a query without it searches every
//! caller). Newer releases tie the user to the API key; [`MemoryStore::check`] detects them and
//! refuses to run.
//!
//! How a search result keeps its kind, time and conversation: query matches carry only the
//! content, so each memory is stored with a short marker at the start of its content,
//! `[cm <kind> <time> <conversation>] <text>` (see [`marker`]), and the marker is stripped from
//! results. When a match has no readable marker (for example when the server condensed a long
//! memory past it), one read scoped to the caller (`GET /memory/:id?user_id=`) recovers the same
//! fields from the metadata stored with it.
//!
//! Recordings of real servers are cited by name, such as `exchanges-legacy/l61`; they are in
//! `tests/api/support/fake_openmemory/recordings/`.
//!
//! How deduplication is handled: see [`add`]. Every add ends in an explicit [`AddOutcome`],
//! logged with the caller masked.

mod add;
mod client;
mod condensation;
mod embeddings;
mod erase;
mod marker;
mod parts;
mod search;
mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;
use url::Url;

use self::client::Api;
use self::embeddings::CandidateEmbeddings;
use self::parts::LongContent;
use self::wire::{QueryFilters, QueryRequest, QueryResponse};
use crate::core::ports::{BoxError, Embedder, ErrorChain, MemoryStore, MemoryStoreError};
use crate::core::recall::RecallQuery;
use crate::core::{AddOutcome, CallerId, ConversationId, MemoryHit, NewMemory, SearchLimit};

/// The `user_id` of the compatibility probe: `+999` is not an assigned country code, so no
/// caller has it, and the probe only queries, so nothing is ever stored under it.
pub const PROBE_USER_ID: &str = "+99900000000000";

/// Memories listed per request while looking for the ones to forget.
const LIST_PAGE: usize = 500;

/// The `user_id` of the condensation probe, the one memory this service stores for no caller (in
/// the same unassigned `+999` range): a fixed text over 200 characters, read back to see whether
/// the server condenses long content.
pub const CONDENSATION_PROBE_USER_ID: &str = "+99900000000001";

/// How long the condensation probe's finding is reused: it changes only with the server's
/// settings.
const CONDENSATION_PROBE_FOR: Duration = Duration::from_secs(600);

/// How long a failed condensation probe is not repeated: adds meanwhile assume the server's
/// default (it condenses), so an unreachable server costs one probe, not one per memory.
const CONDENSATION_RETRY_AFTER: Duration = Duration::from_secs(10);

/// How long a probe ([`MemoryStore::check`], behind `/ready` and `check`) may wait for the server,
/// whatever `OPENMEMORY_TIMEOUT_MS` says: a load balancer's probe must never hang.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a failed probe's result is reused, so that frequent probes of a hanging server cost
/// one request at most. A passed probe is not reused: an outage shows at the next probe.
const PROBE_CACHE_FOR: Duration = Duration::from_secs(1);

/// When the condensation probe ran, and whether the server condenses (`None`: it could not tell).
type CondensationFinding = (Instant, Option<bool>);

/// A [`MemoryStore`] backed by an OpenMemory server.
#[derive(Debug, Clone)]
pub struct OpenMemoryStore {
    api: Api,
    embeddings: Option<Arc<CandidateEmbeddings>>,
    /// Whether the server condenses long content (`None`: the probe failed), and when that was
    /// found.
    condenses: Arc<Mutex<Option<CondensationFinding>>>,
    /// Memories whose add had an unknown outcome; see [`add`].
    unsettled: add::Unsettled,
    /// The last probe's result and when it ended; concurrent probes wait for one request.
    last_probe: Arc<Mutex<Option<(Instant, ProbeFailure)>>>,
}

/// A failed probe, kept so that it can be answered again with the same cause.
#[derive(Debug, Clone)]
struct ProbeFailure(Arc<MemoryStoreError>);

impl ProbeFailure {
    /// The same failure again; its cause is this one's cause, shared.
    fn revive(&self) -> MemoryStoreError {
        let cause = Box::new(self.clone());
        match &*self.0 {
            MemoryStoreError::Unavailable(_) => MemoryStoreError::Unavailable(cause),
            MemoryStoreError::Rejected(_) => MemoryStoreError::Rejected(cause),
            MemoryStoreError::Incompatible(_) => MemoryStoreError::Incompatible(cause),
            MemoryStoreError::Unknown(_) => MemoryStoreError::Unknown(anyhow::Error::new(*cause)),
        }
    }

    fn cause(&self) -> &(dyn std::error::Error + 'static) {
        match &*self.0 {
            MemoryStoreError::Unavailable(cause)
            | MemoryStoreError::Rejected(cause)
            | MemoryStoreError::Incompatible(cause) => cause.as_ref(),
            MemoryStoreError::Unknown(error) => error.as_ref(),
        }
    }
}

impl std::fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.cause(), f)
    }
}

impl std::error::Error for ProbeFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause().source()
    }
}

impl OpenMemoryStore {
    /// A store talking to the server at `base_url` with `api_key`, giving up on any request after
    /// `timeout`. Connections are reused across requests.
    ///
    /// # Errors
    /// [`MemoryStoreError::Unknown`] when the URL cannot take paths or the key cannot be sent in
    /// an HTTP header.
    pub fn new(
        base_url: Url,
        api_key: impl AsRef<str>,
        timeout: Duration,
    ) -> Result<Self, MemoryStoreError> {
        Ok(Self {
            api: Api::new(base_url, api_key.as_ref(), timeout)?,
            embeddings: None,
            condenses: Arc::default(),
            unsettled: add::Unsettled::default(),
            last_probe: Arc::default(),
        })
    }

    /// A request just succeeded: a cached "unavailable" is out of date.
    async fn seen_reachable(&self) {
        let mut last_probe = self.last_probe.lock().await;
        if let Some((_, failure)) = &*last_probe {
            if failure.0.is_retryable() {
                *last_probe = None;
            }
        }
    }

    /// Reachable, key accepted, per-caller scoping honoured; see [`MemoryStore::check`].
    async fn probe(&self) -> Result<(), MemoryStoreError> {
        self.api.health(PROBE_TIMEOUT).await?;
        let probe = QueryRequest {
            query: "caller-memory compatibility probe",
            k: 1,
            filters: QueryFilters {
                user_id: PROBE_USER_ID,
            },
            user_id: PROBE_USER_ID,
        };
        let answer: QueryResponse = self
            .api
            .post_telling_if_sent(&["memory", "query"], &probe, Some(PROBE_TIMEOUT))
            .await
            .map_err(|failure| explain_check_failure(failure.error))?;
        if !answer.matches.is_empty() {
            return Err(MemoryStoreError::incompatible(
                "openmemory returned memories for a user that never stored any, so it does not \
                 scope queries by user_id; use an openmemory release that honours user_id or set \
                 MEMORY_BACKEND=embedded",
            ));
        }
        Ok(())
    }

    /// Whether the server condenses long content, found by [`condensation::condenses`] at most
    /// every [`CONDENSATION_PROBE_FOR`] (every [`CONDENSATION_RETRY_AFTER`] while the probe
    /// fails); `None` when the probe failed.
    async fn server_condenses(&self) -> Option<bool> {
        let mut condenses = self.condenses.lock().await;
        let fresh = |(at, found): &CondensationFinding| {
            let reuse_for = if found.is_some() {
                CONDENSATION_PROBE_FOR
            } else {
                CONDENSATION_RETRY_AFTER
            };
            at.elapsed() < reuse_for
        };
        if let Some((_, found)) = condenses.filter(fresh) {
            return found;
        }
        let probe = condensation::condenses(&self.api, PROBE_TIMEOUT);
        let found = match tokio::time::timeout(2 * PROBE_TIMEOUT, probe).await {
            Ok(Ok(found)) => Some(found),
            Ok(Err(error)) => {
                tracing::debug!(error = %ErrorChain(&error), "the condensation probe failed");
                None
            }
            Err(_) => None,
        };
        *condenses = Some((Instant::now(), found));
        found
    }

    /// Ranks candidates by meaning too: each candidate's text is embedded with `embedder` (at
    /// most `budget` per search, cached by text) and compared with the question's embedding.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>, budget: Duration) -> Self {
        self.embeddings = Some(Arc::new(CandidateEmbeddings::new(embedder, budget)));
        self
    }
}

#[async_trait]
impl MemoryStore for OpenMemoryStore {
    /// A memory too long for a server that condenses is shortened or stored in parts (see
    /// [`parts`]); when the probe cannot tell, the server is assumed to condense, as it does by
    /// default.
    async fn add(&self, memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        let server = match self.server_condenses().await {
            Some(false) => LongContent::KeptWhole,
            Some(true) | None => LongContent::Condensed,
        };
        let outcome = add::add(&self.api, memory, &self.unsettled, server).await;
        if outcome.is_ok() {
            self.seen_reachable().await;
        }
        let caller = &memory.caller;
        let conversation = memory.conversation_id.as_str();
        match &outcome {
            // The call's ingestion warns once for all its memories not stored.
            Ok(AddOutcome::NotStored { reason }) => {
                tracing::debug!(%caller, conversation, key = memory.key, reason, "memory not stored")
            }
            Ok(AddOutcome::StoredDistinguished) => tracing::info!(
                %caller, conversation, key = memory.key,
                "memory stored in a distinguished form to escape deduplication"
            ),
            Ok(outcome) => {
                tracing::debug!(%caller, conversation, key = memory.key, ?outcome, "memory added")
            }
            Err(error) => {
                tracing::debug!(%caller, conversation, key = memory.key, error = %ErrorChain(error), "memory add failed")
            }
        }
        outcome
    }

    async fn search(
        &self,
        caller: &CallerId,
        query: &RecallQuery,
        limit: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        let embeddings = self.embeddings.as_deref();
        let hits = search::search(&self.api, embeddings, caller, query, limit).await;
        if hits.is_ok() {
            self.seen_reachable().await;
        }
        hits
    }

    /// Lists the caller's memories (`GET /users/:id/memories`, paged) to find those of the
    /// conversation with one of `keys` by their metadata, then deletes each by id with
    /// `?user_id=` so the server checks that it is the caller's (exchanges-legacy/l37).
    async fn forget(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        keys: &[String],
    ) -> Result<usize, MemoryStoreError> {
        let mut doomed = Vec::new();
        for page in 0.. {
            let items = self
                .api
                .memories_of(caller, LIST_PAGE, page * LIST_PAGE)
                .await?
                .items;
            let last_page = items.len() < LIST_PAGE;
            doomed.extend(items.into_iter().filter_map(|item| {
                let metadata = item.metadata();
                (metadata.source == add::SOURCE
                    && metadata.conversation_id == conversation.as_str()
                    && keys
                        .iter()
                        .any(|key| parts::is_key_or_part(&metadata.key, key)))
                .then_some(item.id)
            }));
            if last_page {
                break;
            }
        }
        for id in &doomed {
            let _deleted = self.api.delete_as(id, caller).await?;
        }
        Ok(doomed.len())
    }

    async fn memories_of(&self, caller: &CallerId) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        erase::list(&self.api, caller).await
    }

    async fn delete_conversation(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
    ) -> Result<usize, MemoryStoreError> {
        let embeddings = self.embeddings.as_deref();
        let deleted =
            erase::delete_conversation(&self.api, embeddings, caller, conversation).await?;
        self.unsettled.settle_conversation(caller, conversation);
        Ok(deleted)
    }

    /// Reachable (`GET /health`), key accepted, and per-caller scoping honoured: a query for
    /// [`PROBE_USER_ID`], who never has memories, must succeed and find nothing. A server that
    /// ties users to its key answers 403 `tenant_mismatch` (exchanges-newest/a14); one that
    /// ignores the user would return other callers' memories (exchanges-legacy/l13). Each request
    /// waits at most [`PROBE_TIMEOUT`], and a failure is reused for [`PROBE_CACHE_FOR`].
    async fn check(&self) -> Result<(), MemoryStoreError> {
        let mut last_probe = self.last_probe.lock().await;
        if let Some((at, failure)) = &*last_probe {
            if at.elapsed() < PROBE_CACHE_FOR {
                return Err(failure.revive());
            }
        }
        match self.probe().await {
            Ok(()) => {
                *last_probe = None;
                Ok(())
            }
            Err(error) => {
                let failure = ProbeFailure(Arc::new(error));
                let answer = failure.revive();
                *last_probe = Some((Instant::now(), failure));
                Err(answer)
            }
        }
    }

    /// Says when the server condenses long content (`OM_USE_SUMMARY_ONLY` not `false`), found by
    /// [`condensation::condenses`] at most every [`CONDENSATION_PROBE_FOR`].
    async fn notices(&self) -> Vec<String> {
        if self.server_condenses().await == Some(true) {
            vec![condensation::NOTICE.to_owned()]
        } else {
            Vec::new()
        }
    }
}

/// The probe query was refused: most often a wrong key.
#[derive(Debug, thiserror::Error)]
#[error("openmemory refused the probe query; check OPENMEMORY_KEY")]
struct ProbeRefused(#[source] BoxError);

fn explain_check_failure(error: MemoryStoreError) -> MemoryStoreError {
    match error {
        MemoryStoreError::Rejected(cause) => MemoryStoreError::rejected(ProbeRefused(cause)),
        other => other,
    }
}

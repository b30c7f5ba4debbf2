//! Learning from a finished call.
//!
//! The post-call webhook archives the transcription and calls [`IngestCall::schedule`], which
//! durably records a pending marker and wakes the background worker ([`IngestCall::run`]); the
//! webhook never waits for the memory store. The worker then updates the caller's profile card
//! and adds the call's memories, recording its progress after each step so that a repeated
//! delivery, a restart or a crash never adds anything twice, and retrying while the memory store
//! is unavailable. Nothing is deleted: the archived transcription stays, and the pending marker is
//! removed only once the call is resolved.
//!
//! Several instances may share the blob store: each conversation is learnt from under a claim
//! with an expiring lease ([`claims`]), progress records change only by conditional writes
//! ([`progress`]), and every worker also looks for pending work at a regular interval, so a call
//! whose delivering instance died is still learnt from.

mod backlog;
pub(crate) mod caller;
pub(crate) mod card;
mod claims;
mod memories;
mod progress;
pub(crate) mod records;
mod retry;
mod worker;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::core::ports::{
    BlobStore, BlobStoreError, Clock, ErrorChain, IngestionRetry, MemoryStore, MemoryStoreError,
    NoTelemetry, Telemetry,
};
use crate::core::redaction::Redaction;
use crate::core::use_cases::caller_privacy::{is_erased, CallerIndex};
use crate::core::{
    AddOutcome, CallerId, CompletedCall, ConversationId, InstanceId, NewMemory, ParseTranscription,
};
use backlog::LatestCount;
use claims::Claims;
use progress::{MemoryFate, Progress};
use records::{Folder, PendingMarker};
use retry::{pause, ShutDown};

pub use claims::{Sharing, DEFAULT_LEASE};

pub use crate::core::ports::IngestionCounts;
pub(crate) use records::{read as read_record, write as write_record};
pub use records::{transcription_key, IngestionRecord, IngestionStatus};
pub use retry::RetryPolicy;
pub use worker::{ReplayError, ReplayReport, ReplayTarget, DEFAULT_PENDING_SCAN};

/// Learns from finished calls. Share it as `Arc<IngestCall>` between the webhook (which calls
/// [`IngestCall::schedule`]) and one background task running [`IngestCall::run`].
pub struct IngestCall {
    memories: Arc<dyn MemoryStore>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    parse: ParseTranscription,
    name_fields: Vec<String>,
    retry: RetryPolicy,
    wake: Notify,
    telemetry: Arc<dyn Telemetry>,
    /// Ends a wait for the memory store early: it was seen working again.
    store_recovered: Notify,
    /// Kept up to date at each ingestion, when set.
    index: Option<CallerIndex>,
    /// Applied to a call before anything is learnt from it.
    redaction: Redaction,
    /// The data-collection field by which a caller asks not to be remembered.
    do_not_remember_field: Option<String>,
    /// Which conversations this instance learns from now.
    claims: Claims,
    /// How often the worker looks for pending work it was not woken for (delivered to another
    /// instance, or left by one that died), and how long a count of the backlog is answered.
    pending_scan: Duration,
    latest_count: LatestCount,
}

/// Why a call could not be scheduled for ingestion.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The pending marker could not be stored; the webhook should fail so that it is retried.
    #[error("the pending ingestion could not be recorded: {0}")]
    Storage(#[from] BlobStoreError),
}

/// Why the ingestion of a conversation stopped before it was resolved. Its pending marker stays,
/// so the work resumes later.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The shutdown signal fired.
    #[error("ingestion interrupted by shutdown")]
    Interrupted,
    /// The blob store failed while reading the call or recording progress.
    #[error("ingestion state could not be read or written: {0}")]
    Storage(#[from] BlobStoreError),
}

/// How the ingestion of a conversation was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Everything was learnt; `not_stored` memories were declined by the store (see the record).
    Ingested { memories: usize, not_stored: usize },
    /// Nothing was learnt on purpose (for example no usable phone number).
    Skipped { reason: String },
    /// Something could not be learnt; the conversation counts as failed until a replay succeeds.
    Failed { reason: String },
}

/// Why [`IngestCall::learn`] stopped.
enum Stop {
    Interrupted,
    Storage(BlobStoreError),
    Failed(String),
}

impl From<BlobStoreError> for Stop {
    fn from(error: BlobStoreError) -> Self {
        Stop::Storage(error)
    }
}

impl From<card::CardError> for Stop {
    fn from(error: card::CardError) -> Self {
        match error {
            card::CardError::Storage(error) => Stop::Storage(error),
            unreadable @ card::CardError::Unreadable(..) => Stop::Failed(unreadable.to_string()),
        }
    }
}

impl From<ShutDown> for Stop {
    fn from(_: ShutDown) -> Self {
        Stop::Interrupted
    }
}

impl IngestCall {
    /// `parse` reads archived transcription bytes (an inbound adapter provides it);
    /// `name_fields` are the data-collection fields that hold the caller's name, in order.
    pub fn new(
        memories: Arc<dyn MemoryStore>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        parse: ParseTranscription,
        name_fields: Vec<String>,
    ) -> Self {
        let claims = Claims::new(
            InstanceId::generate(),
            DEFAULT_LEASE,
            Sharing::Shared,
            blobs.clone(),
            clock.clone(),
        );
        Self {
            memories,
            blobs,
            clock,
            claims,
            pending_scan: DEFAULT_PENDING_SCAN,
            latest_count: LatestCount::default(),
            parse,
            name_fields,
            retry: RetryPolicy::default(),
            wake: Notify::new(),
            telemetry: Arc::new(NoTelemetry),
            store_recovered: Notify::new(),
            index: None,
            redaction: Redaction::default(),
            do_not_remember_field: None,
        }
    }

    /// Reports the progress of ingestion (calls in progress, retries, outcomes) to `telemetry`.
    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Claims conversations as `instance`, with leases of `lease`, honouring other instances'
    /// claims as `sharing` says (see [`claims`]).
    pub fn with_claims(mut self, instance: InstanceId, lease: Duration, sharing: Sharing) -> Self {
        self.claims = Claims::new(
            instance,
            lease,
            sharing,
            self.blobs.clone(),
            self.clock.clone(),
        );
        self
    }

    /// Looks for pending work every `interval` besides being woken by [`IngestCall::schedule`],
    /// and counts the backlog for probes at most once per `interval`.
    pub fn with_pending_scan(mut self, interval: Duration) -> Self {
        self.pending_scan = interval;
        self
    }

    /// Replaces the default backoff used while the memory store is unavailable.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Records each learnt conversation in the caller -> conversations index.
    pub fn with_caller_index(mut self, index: CallerIndex) -> Self {
        self.index = Some(index);
        self
    }

    /// Callers whose call collects a true value in `field` ("true", "yes" or "1") are not
    /// remembered from that call on.
    pub fn with_do_not_remember_field(mut self, field: String) -> Self {
        self.do_not_remember_field = Some(field);
        self
    }

    fn asks_not_to_be_remembered(&self, call: &CompletedCall) -> bool {
        self.do_not_remember_field
            .as_ref()
            .and_then(|field| call.collected.get(field))
            .is_some_and(|value| {
                matches!(
                    value.trim().to_ascii_lowercase().as_str(),
                    "true" | "yes" | "1"
                )
            })
    }

    /// Redacts each call (card numbers, emails...) before its card and memories are updated.
    pub fn with_redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Durably records that `conversation`'s archived transcription must be learnt from, then
    /// wakes the worker. Scheduling a conversation again is harmless.
    ///
    /// # Errors
    /// [`ScheduleError::Storage`] when the marker could not be stored.
    pub async fn schedule(&self, conversation: &ConversationId) -> Result<(), ScheduleError> {
        self.mark_pending(conversation).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// The memory store was seen working again (by a probe or a search): a memory waiting for it
    /// is tried now instead of at the end of its backoff.
    pub fn memory_store_healthy(&self) {
        self.store_recovered.notify_one();
    }

    async fn mark_pending(&self, conversation: &ConversationId) -> Result<(), BlobStoreError> {
        let marker = PendingMarker {
            conversation_id: conversation.to_string(),
            scheduled_at: self.clock.now(),
        };
        records::write(&*self.blobs, &Folder::Pending.key(conversation), &marker).await
    }

    /// Learns from one archived conversation now, resuming from its recorded progress, and
    /// resolves its pending marker (if any). While another instance holds the conversation, waits
    /// for it to finish (then nothing is learnt twice) or for its claim to expire.
    ///
    /// # Errors
    /// [`IngestError::Interrupted`] when `shutdown` fires, [`IngestError::Storage`] when the blob
    /// store fails; in both cases the conversation stays pending.
    pub async fn ingest(
        &self,
        conversation: &ConversationId,
        shutdown: &CancellationToken,
    ) -> Result<IngestOutcome, IngestError> {
        loop {
            if let Some(outcome) = self.ingest_if_free(conversation, shutdown).await? {
                return Ok(outcome);
            }
            tokio::select! {
                () = tokio::time::sleep(self.claims.poll_interval()) => {}
                () = shutdown.cancelled() => return Err(IngestError::Interrupted),
            }
        }
    }

    /// Claims `conversation` and learns from it while renewing the claim; `None` when another
    /// instance holds it, or took it over meanwhile.
    async fn ingest_if_free(
        &self,
        conversation: &ConversationId,
        shutdown: &CancellationToken,
    ) -> Result<Option<IngestOutcome>, IngestError> {
        let Some(mut claim) = self.claims.claim(conversation).await? else {
            return Ok(None);
        };
        let ingested = tokio::select! {
            ingested = self.ingest_claimed(conversation, shutdown) => ingested,
            () = self.claims.keep(&mut claim) => return Ok(None),
        };
        self.claims.release(claim).await;
        ingested.map(Some)
    }

    async fn ingest_claimed(
        &self,
        conversation: &ConversationId,
        shutdown: &CancellationToken,
    ) -> Result<IngestOutcome, IngestError> {
        let _in_progress = InProgress::start(self.telemetry.as_ref());
        let mut progress = Progress::load(&*self.blobs, conversation).await?;
        let outcome = match self.learn(conversation, &mut progress, shutdown).await {
            Ok(outcome) => outcome,
            Err(Stop::Failed(reason)) => IngestOutcome::Failed { reason },
            Err(Stop::Interrupted) => return Err(IngestError::Interrupted),
            Err(Stop::Storage(error)) => return Err(IngestError::Storage(error)),
        };
        self.resolve(conversation, &mut progress, &outcome).await?;
        Ok(outcome)
    }

    /// Updates the card, then adds every memory not yet recorded as added.
    async fn learn(
        &self,
        conversation: &ConversationId,
        progress: &mut Progress,
        shutdown: &CancellationToken,
    ) -> Result<IngestOutcome, Stop> {
        if is_erased(&*self.blobs, conversation).await? {
            let reason = "the caller's data was erased".to_owned();
            return Ok(IngestOutcome::Skipped { reason });
        }
        let mut call = self.read_call(conversation).await?;
        if let Some(reason) = call.not_a_conversation() {
            return Ok(IngestOutcome::Skipped {
                reason: reason.to_owned(),
            });
        }
        call.drop_empty_answers();
        self.redaction.redact_call(&mut call);
        let caller = match caller::resolve_caller(&call.caller) {
            Ok(caller) => caller,
            Err(reason) => return Ok(IngestOutcome::Skipped { reason }),
        };
        let at = call.started_at.unwrap_or_else(|| self.clock.now());
        if let Some(index) = &self.index {
            index.record(&*self.blobs, &caller, conversation).await?;
            if self.asks_not_to_be_remembered(&call) {
                index
                    .mark_do_not_remember(&*self.blobs, &caller, self.clock.now())
                    .await?;
            }
            if index.is_do_not_remember(&*self.blobs, &caller).await? {
                let reason = "the caller asked not to be remembered".to_owned();
                return Ok(IngestOutcome::Skipped { reason });
            }
        }
        if !progress.record().card_updated {
            card::record_call(&*self.blobs, &caller, &call, at, &self.name_fields).await?;
            progress
                .update(&*self.blobs, |record| {
                    record.status = IngestionStatus::InProgress;
                    record.card_updated = true;
                })
                .await?;
        }
        let memories = memories::memories_of(&call, &caller, at);
        self.add_memories(conversation, &memories, progress, shutdown)
            .await?;
        self.forget_outdated(&caller, conversation, &memories, progress, shutdown)
            .await?;
        if is_erased(&*self.blobs, conversation).await? {
            return self.withdraw(&caller, conversation).await;
        }
        let record = progress.record();
        if !record.rejected.is_empty() {
            let keys: Vec<&str> = record.rejected.keys().map(String::as_str).collect();
            let reason = format!("the memory store rejected {}", keys.join(", "));
            return Ok(IngestOutcome::Failed { reason });
        }
        Ok(IngestOutcome::Ingested {
            memories: record.added.len(),
            not_stored: record.not_stored.len(),
        })
    }

    /// The caller was erased while this call was being learnt (the erasure may have run before
    /// or after the card and the memories were written): what this call added goes again.
    async fn withdraw(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
    ) -> Result<IngestOutcome, Stop> {
        self.memories
            .delete_conversation(caller, conversation)
            .await
            .map_err(|error| Stop::Failed(format!("the memory store failed: {error}")))?;
        card::withdraw_call(&*self.blobs, caller, conversation).await?;
        let reason = "the caller's data was erased".to_owned();
        Ok(IngestOutcome::Skipped { reason })
    }

    /// Adds the memories not yet recorded as added, all at once (see
    /// [`MemoryStore::add_many`]), recording the outcome of each; while the store is unavailable,
    /// what is left waits and is tried again.
    async fn add_memories(
        &self,
        conversation: &ConversationId,
        memories: &[NewMemory],
        progress: &mut Progress,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        let mut remaining: Vec<NewMemory> = memories
            .iter()
            .filter(|memory| !progress.record().added.contains(&memory.key))
            .cloned()
            .collect();
        while !remaining.is_empty() {
            if shutdown.is_cancelled() {
                return Err(Stop::Interrupted);
            }
            let attempt = self.while_unavailable(conversation, shutdown, || async {
                let mut results = self.memories.add_many(&remaining).await;
                if let Some(Err(error)) = results.first() {
                    if error.is_retryable() {
                        results.remove(0)?;
                    }
                }
                Ok(results)
            });
            // A stop does not wait for the rest of the call: what was stored is recognised as
            // already stored when the work resumes.
            let added = tokio::select! {
                added = attempt => added?,
                () = shutdown.cancelled() => return Err(Stop::Interrupted),
            };
            let mut results = added.unwrap_or_else(|error| vec![Err(error)]);
            // What follows an error worth retrying was not added: it goes round again.
            let settled = results
                .iter()
                .position(|result| result.as_ref().is_err_and(MemoryStoreError::is_retryable))
                .unwrap_or(results.len());
            results.truncate(settled);
            if results.is_empty() {
                return Err(Stop::Failed(
                    "the memory store answered no outcome for the call's memories".to_owned(),
                ));
            }
            let settled = results.len();
            let mut fates = Vec::with_capacity(settled);
            for (memory, added) in remaining.iter().zip(results) {
                if let Ok(AddOutcome::NotStored { .. }) = added {
                    self.telemetry.memory_not_stored();
                }
                let fate = MemoryFate::of(added)
                    .map_err(|error| Stop::Failed(format!("the memory store failed: {error}")))?;
                fates.push((&memory.key, fate));
            }
            progress
                .update(&*self.blobs, |record| {
                    record.status = IngestionStatus::InProgress;
                    for (key, fate) in &fates {
                        fate.note(record, key);
                    }
                })
                .await?;
            remaining.drain(..settled);
        }
        Ok(())
    }

    async fn read_call(&self, conversation: &ConversationId) -> Result<CompletedCall, Stop> {
        let Some(blob) = self.blobs.get(&transcription_key(conversation)).await? else {
            return Err(Stop::Failed(
                "the archived transcription is missing".to_owned(),
            ));
        };
        let call = (self.parse)(&blob.bytes).map_err(|error| Stop::Failed(error.to_string()))?;
        if &call.conversation_id != conversation {
            return Err(Stop::Failed(format!(
                "the archived transcription belongs to conversation {}",
                call.conversation_id
            )));
        }
        Ok(call)
    }

    /// Removes the memories that earlier learning rules derived from this call and the current
    /// rules no longer do (for example a lone caller line now stored as an exchange), once the
    /// current ones are stored, so a replay migrates a call without losing or duplicating
    /// anything.
    async fn forget_outdated(
        &self,
        caller: &CallerId,
        conversation: &ConversationId,
        current: &[NewMemory],
        progress: &mut Progress,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        let record = progress.record();
        let outdated: Vec<String> = record
            .added
            .iter()
            .chain(record.not_stored.keys())
            .chain(record.rejected.keys())
            .filter(|key| !current.iter().any(|memory| &memory.key == *key))
            .cloned()
            .collect();
        if outdated.is_empty() {
            return Ok(());
        }
        let forgotten = self
            .while_unavailable(conversation, shutdown, || {
                self.memories.forget(caller, conversation, &outdated)
            })
            .await?
            .map_err(|error| Stop::Failed(format!("the memory store failed: {error}")))?;
        tracing::info!(%conversation, forgotten, "memories of earlier learning rules removed");
        progress
            .update(&*self.blobs, |record| {
                for key in &outdated {
                    record.added.remove(key);
                    record.not_stored.remove(key);
                    record.rejected.remove(key);
                }
            })
            .await?;
        Ok(())
    }

    /// Runs a memory store call, waiting with backoff for as long as the store is unavailable.
    async fn while_unavailable<T, Call, Attempt>(
        &self,
        conversation: &ConversationId,
        shutdown: &CancellationToken,
        call: Call,
    ) -> Result<Result<T, MemoryStoreError>, Stop>
    where
        Call: Fn() -> Attempt,
        Attempt: std::future::Future<Output = Result<T, MemoryStoreError>>,
    {
        let mut failed_attempts = 0;
        loop {
            match call().await {
                Err(error) if error.is_retryable() => {
                    failed_attempts += 1;
                    self.telemetry
                        .ingestion_retry(IngestionRetry::MemoryStoreUnavailable);
                    let delay = self.retry.delay(failed_attempts);
                    tracing::warn!(
                        %conversation,
                        attempt = failed_attempts,
                        retry_in_ms = delay.as_millis() as u64,
                        error = %ErrorChain(&error),
                        "memory store unavailable, will retry"
                    );
                    pause(delay, shutdown, &self.store_recovered).await?;
                }
                other => return Ok(other),
            }
        }
    }
}

/// Tells telemetry that a call is being learnt from, for as long as it lives.
struct InProgress<'a>(&'a dyn Telemetry);

impl<'a> InProgress<'a> {
    fn start(telemetry: &'a dyn Telemetry) -> Self {
        telemetry.ingestion_started();
        Self(telemetry)
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.ingestion_stopped();
    }
}

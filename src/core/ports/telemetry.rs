//! What the use cases tell operators as it happens: greeting fallbacks and the progress of
//! ingestion. In production these events become Prometheus metrics (`crate::metrics`).
//!
//! This is a port rather than a metrics library called from the core, so that the core keeps
//! importing no I/O or exporter crate. Every method has a default that does nothing: a use case
//! reports a new event by adding one method here (and its line in the metrics adapter), and
//! ports built without metrics ([`NoTelemetry`]) need no change.

use std::time::Duration;

/// Why a caller was greeted as new although their number was usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GreetingFallback {
    /// The profile card lookup did not finish before the greeting deadline.
    DeadlinePassed,
    /// The profile store failed.
    StoreFailed,
    /// The stored profile card could not be read.
    UnreadableCard,
}

/// How the ingestion of one call was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestionResolution {
    Ingested,
    Skipped,
    Failed,
}

/// Why ingestion is trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestionRetry {
    /// The memory store was unavailable; the memory is added again after a pause.
    MemoryStoreUnavailable,
    /// The ingestion state could not be read or written; the call is tried again later.
    Storage,
}

/// Receives the use cases' operational events. Calls must be cheap and must not block: they
/// happen on request paths.
pub trait Telemetry: Send + Sync + 'static {
    /// A caller with a usable number was greeted as new because their card could not be read.
    fn greeting_fallback(&self, _reason: GreetingFallback) {}

    /// The worker (or a replay) started learning from a call.
    fn ingestion_started(&self) {}

    /// It stopped learning from that call, resolved or not.
    fn ingestion_stopped(&self) {}

    /// A call's ingestion was resolved; `lag` is the time from its archiving (its latest
    /// scheduling) to now, when known.
    fn ingestion_resolved(&self, _resolution: IngestionResolution, _lag: Option<Duration>) {}

    /// Ingestion is trying something again.
    fn ingestion_retry(&self, _cause: IngestionRetry) {}

    /// The memory store declined to keep a memory (see `AddOutcome::NotStored`).
    fn memory_not_stored(&self) {}
}

/// Reports nothing: for use cases built without metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTelemetry;

impl Telemetry for NoTelemetry {}

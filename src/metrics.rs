//! Prometheus metrics of one running service, served as text at `GET /metrics`.
//!
//! Every instrument is declared once, in the `instruments!` list below: its field, its type, and
//! the Prometheus name, help and labels it is registered with. **Adding a metric is one line
//! there**, for example
//!
//! ```text
//! failed_auth: IntCounterVec = counter_vec("caller_memory_failed_auth_total", "Requests refused for their key", &["operation"]),
//! ```
//!
//! and then `metrics.instruments.failed_auth.with_label_values(&[...]).inc()` where it happens.
//! On a hot path, resolve the labelled child once (`with_label_values` returns a cheap handle
//! to keep) instead of on every event, as the request counters below do.
//!
//! The registry belongs to the [`Metrics`] value the service is built with, not to the process:
//! several services started in one process (the integration tests) each count their own
//! requests.
//!
//! Who reports what:
//! - the HTTP adapter: requests and their latency, post-call outcomes and the failure streak
//!   ([`Metrics::record_request`], [`Metrics::post_call_accepted`]);
//! - the use cases, through the core's `Telemetry` port ([`events`]): greeting fallbacks and
//!   ingestion progress;
//! - decorators around the memory and blob stores ([`stores`]): call latency, errors, and up or
//!   down as seen by the last probe;
//! - the read cache: hits and misses ([`CacheLookups`]);
//! - the client-data handler: first-message overrides withheld ([`Metrics::override_withheld`]);
//! - `/metrics` itself, at each scrape: the ingestion backlog, a fresh probe of each store, and
//!   the edge's figures ([`Metrics::set_edge`]).

mod edge;
mod events;
mod post_call;
mod requests;
pub mod stores;

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::core::ports::IngestionCounts;
use crate::core::use_cases::WithheldReason;
use crate::inbound::http::edge::EdgeStats;
pub use post_call::{PostCallOutcome, STREAK_CRITICAL, STREAK_WARNING};
pub use requests::Operation;
use requests::OperationInstruments;

/// Latency buckets, in seconds, fine enough to tell a 0.1 ms greeting from a 0.5 ms one.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Ingestion lag buckets, in seconds: from an idle worker (well under a second) to a memory
/// store down for a day.
const LAG_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
];

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid counter")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter family")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("a valid gauge")
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge family")
}

/// A count as a gauge's value (saturating, though no count gets near `i64::MAX`).
fn as_gauge(count: impl TryInto<i64>) -> i64 {
    count.try_into().unwrap_or(i64::MAX)
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("a valid histogram")
}

fn histogram_vec(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("a valid histogram family")
}

/// Declares the [`Instruments`] struct and registers every field in one registry.
macro_rules! instruments {
    ($($field:ident: $kind:ty = $make:expr,)*) => {
        /// Every registered instrument (see the module docs to add one).
        pub struct Instruments {
            $(pub $field: $kind,)*
        }

        impl Instruments {
            fn register(registry: &Registry) -> Self {
                $(
                    let $field: $kind = $make;
                    registry
                        .register(Box::new($field.clone()))
                        .expect("metric names are unique");
                )*
                Self { $($field,)* }
            }
        }
    };
}

#[rustfmt::skip]
instruments! {
    build_info: IntGaugeVec = gauge_vec("caller_memory_build_info", "Always 1: the version and the backends of this service", &["version", "memory_backend", "blob_backend"]),
    requests: IntCounterVec = counter_vec("caller_memory_http_requests_total", "HTTP requests answered, by operation and status code", &["operation", "status"]),
    request_duration: HistogramVec = histogram_vec("caller_memory_http_request_duration_seconds", "Time to answer an HTTP request, by operation", &["operation"], LATENCY_BUCKETS),
    post_call_deliveries: IntCounterVec = counter_vec("caller_memory_post_call_deliveries_total", "Post-call deliveries by event type (unknown when refused before it was read) and outcome: archived, ignored, refused_signature, refused_size, refused_shape, failed", &["event_type", "outcome"]),
    post_call_failure_streak: IntGauge = gauge("caller_memory_post_call_failure_streak", "Consecutive post-call deliveries answered with a non-2xx status, 0 after a success; ElevenLabs disables the webhook after 10"),
    ingestion_pending: IntGauge = gauge("caller_memory_ingestion_pending", "Archived calls not learnt from yet (read at each scrape)"),
    ingestion_failed: IntGauge = gauge("caller_memory_ingestion_failed", "Archived calls that could not be learnt from, until a replay succeeds (read at each scrape)"),
    ingestion_in_progress: IntGauge = gauge("caller_memory_ingestion_in_progress", "Calls being learnt from right now"),
    ingestion_resolved: IntCounterVec = counter_vec("caller_memory_ingestion_resolved_total", "Calls whose ingestion was resolved, by outcome: ingested, skipped (no usable caller), failed", &["outcome"]),
    ingestion_lag: Histogram = histogram("caller_memory_ingestion_lag_seconds", "Time from a transcription's archiving to the end of its ingestion, for calls learnt from", LAG_BUCKETS),
    ingestion_retries: IntCounterVec = counter_vec("caller_memory_ingestion_retries_total", "Ingestion retries, by cause: memory_store_unavailable, storage", &["cause"]),
    memories_not_stored: IntCounter = counter("caller_memory_ingestion_memories_not_stored_total", "Memories the memory store declined to keep (OpenMemory's cross-caller deduplication)"),
    memory_store_duration: HistogramVec = histogram_vec("caller_memory_memory_store_call_duration_seconds", "Time of each memory store call, by call", &["call"], LATENCY_BUCKETS),
    memory_store_errors: IntCounterVec = counter_vec("caller_memory_memory_store_errors_total", "Failed memory store calls, by call and kind: unavailable, rejected, incompatible, unknown", &["call", "kind"]),
    memory_store_up: IntGauge = gauge("caller_memory_memory_store_up", "1 when the last probe of the memory store succeeded, 0 when it failed"),
    blob_store_duration: HistogramVec = histogram_vec("caller_memory_blob_store_call_duration_seconds", "Time of each payload storage call (below the read cache), by call", &["call"], LATENCY_BUCKETS),
    blob_store_errors: IntCounterVec = counter_vec("caller_memory_blob_store_errors_total", "Failed payload storage calls, by call and kind: storage, unknown", &["call", "kind"]),
    blob_store_up: IntGauge = gauge("caller_memory_blob_store_up", "1 when the last probe of the payload storage succeeded, 0 when it failed"),
    greeting_fallbacks: IntCounterVec = counter_vec("caller_memory_greeting_fallbacks_total", "Callers with a usable number greeted as new because their card could not be read, by reason: deadline, store_error, unreadable_card", &["reason"]),
    read_cache_lookups: IntCounterVec = counter_vec("caller_memory_read_cache_lookups_total", "Reads of small objects (the greeting's profile cards) by result: hit, miss", &["result"]),
    greeting_overrides_withheld: IntCounterVec = counter_vec("caller_memory_greeting_overrides_withheld_total", "Personalised first messages left out of a returning caller's greeting, by reason: not_allowed, settings_unknown, settings_unavailable, unknown_agent, no_agent, too_many_agents", &["reason"]),
    edge_open_connections: IntGauge = gauge("caller_memory_edge_open_connections", "Connections open on the main port (read at each scrape)"),
    edge_unverified_bytes: IntGauge = gauge("caller_memory_edge_unverified_bytes_in_flight", "Post-call body bytes being received whose signature is not verified yet (read at each scrape)"),
    edge_locked_out_peers: IntGauge = gauge("caller_memory_edge_locked_out_peers", "Peers refused for now after repeated failed authentications (read at each scrape)"),
    edge_refusals: IntCounterVec = counter_vec("caller_memory_edge_refusals_total", "Requests and connections refused at the edge, by kind: source_not_allowed, budget_exceeded, header_timeout, body_stalled, connection_cap, auth_throttled", &["kind"]),
}

/// What the build-info metric says about this service.
#[derive(Debug, Clone, Copy)]
pub struct BuildInfo {
    /// `openmemory` or `embedded`.
    pub memory_backend: &'static str,
    /// Where payloads are kept: `disk`.
    pub blob_backend: &'static str,
}

/// The metrics of one service.
pub struct Metrics {
    registry: Registry,
    pub instruments: Instruments,
    operations: Vec<OperationInstruments>,
    streak: post_call::Streak,
    /// One counter per reason, in [`WithheldReason::ALL`] order.
    withheld: Vec<IntCounter>,
    edge_refusals: edge::EdgeRefusals,
}

impl Metrics {
    pub fn new(build: BuildInfo) -> Self {
        let registry = Registry::new();
        let instruments = Instruments::register(&registry);
        instruments
            .build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                build.memory_backend,
                build.blob_backend,
            ])
            .set(1);
        let operations = Operation::ALL
            .iter()
            .map(|operation| OperationInstruments::new(*operation, &instruments))
            .collect();
        let streak = post_call::Streak::new(instruments.post_call_failure_streak.clone());
        let withheld = WithheldReason::ALL
            .iter()
            .map(|reason| {
                instruments
                    .greeting_overrides_withheld
                    .with_label_values(&[reason.as_str()])
            })
            .collect();
        let edge_refusals = edge::EdgeRefusals::new(&instruments);
        Self {
            registry,
            instruments,
            operations,
            streak,
            withheld,
            edge_refusals,
        }
    }

    /// Counts one answered request. Allocation-free and lock-free for the usual statuses.
    pub fn record_request(&self, operation: Operation, status: u16, elapsed: Duration) {
        self.operations[operation as usize].record(&self.instruments, status, elapsed);
    }

    /// Sets the ingestion backlog read at a scrape.
    pub fn set_ingestion_backlog(&self, counts: IngestionCounts) {
        self.instruments
            .ingestion_pending
            .set(as_gauge(counts.pending));
        self.instruments
            .ingestion_failed
            .set(as_gauge(counts.failed));
    }

    /// Counts one first-message override left out of a greeting: one atomic increment.
    pub fn override_withheld(&self, reason: WithheldReason) {
        self.withheld[reason as usize].inc();
    }

    /// Sets the edge's figures read at a scrape.
    pub fn set_edge(&self, stats: &EdgeStats) {
        let instruments = &self.instruments;
        instruments
            .edge_open_connections
            .set(as_gauge(stats.open_connections));
        instruments
            .edge_unverified_bytes
            .set(as_gauge(stats.unverified_bytes_in_flight));
        instruments
            .edge_locked_out_peers
            .set(as_gauge(stats.locked_out_peers));
        self.edge_refusals.catch_up(stats);
    }

    /// Handles for the read cache to count its hits and misses.
    pub fn cache_lookups(&self) -> CacheLookups {
        let lookups = &self.instruments.read_cache_lookups;
        CacheLookups {
            hit: lookups.with_label_values(&["hit"]),
            miss: lookups.with_label_values(&["miss"]),
        }
    }

    /// Everything in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("the text encoder writes to memory");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Counters of the read cache: one atomic increment per read.
#[derive(Clone)]
pub struct CacheLookups {
    pub hit: IntCounter,
    pub miss: IntCounter,
}

#[cfg(test)]
mod tests;

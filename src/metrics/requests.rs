//! Requests by operation and status, and their latency: the hot path of every request, so every
//! labelled child is resolved ahead of time and recording is a few atomic increments.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{Histogram, IntCounter};

use super::Instruments;

/// What a request was for, as the `operation` label says it. Unknown paths share one label, so
/// that nobody can grow the number of series by sending made-up paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ClientData,
    SearchData,
    PostCall,
    Health,
    Ready,
    Metrics,
    /// The API documentation and the OpenAPI document.
    Docs,
    Other,
}

impl Operation {
    /// Every operation, in declaration order (the index of each in per-operation tables).
    pub const ALL: [Operation; 8] = [
        Operation::ClientData,
        Operation::SearchData,
        Operation::PostCall,
        Operation::Health,
        Operation::Ready,
        Operation::Metrics,
        Operation::Docs,
        Operation::Other,
    ];

    /// The operation a request path belongs to.
    pub fn of_path(path: &str) -> Self {
        match path {
            "/webhook/client-data" => Operation::ClientData,
            "/webhook/search-data" => Operation::SearchData,
            "/webhook/post-call" => Operation::PostCall,
            "/health" => Operation::Health,
            "/ready" => Operation::Ready,
            "/metrics" => Operation::Metrics,
            "/openapi.json" | "/openapi.yaml" | "/docs" => Operation::Docs,
            _ if path.starts_with("/docs/") => Operation::Docs,
            _ => Operation::Other,
        }
    }

    /// The `operation` label (the OpenAPI operation id where there is one).
    pub fn label(self) -> &'static str {
        match self {
            Operation::ClientData => "client_data",
            Operation::SearchData => "search_data",
            Operation::PostCall => "post_call",
            Operation::Health => "health",
            Operation::Ready => "ready",
            Operation::Metrics => "metrics",
            Operation::Docs => "docs",
            Operation::Other => "other",
        }
    }
}

/// The statuses whose counters are kept at hand; any other status is looked up when it happens.
const USUAL_STATUSES: [u16; 11] = [200, 400, 401, 404, 405, 413, 415, 429, 500, 503, 504];

/// One operation's latency histogram and its request counters by status.
pub(super) struct OperationInstruments {
    operation: Operation,
    duration: Histogram,
    /// Created at the first request with that status, so that a scrape shows only statuses that
    /// happened.
    by_status: [OnceLock<IntCounter>; USUAL_STATUSES.len()],
}

impl OperationInstruments {
    pub(super) fn new(operation: Operation, instruments: &Instruments) -> Self {
        Self {
            operation,
            duration: instruments
                .request_duration
                .with_label_values(&[operation.label()]),
            by_status: Default::default(),
        }
    }

    pub(super) fn record(&self, instruments: &Instruments, status: u16, elapsed: Duration) {
        self.duration.observe(elapsed.as_secs_f64());
        let counter = |status: &str| {
            instruments
                .requests
                .with_label_values(&[self.operation.label(), status])
        };
        match USUAL_STATUSES.iter().position(|usual| *usual == status) {
            Some(index) => self.by_status[index]
                .get_or_init(|| counter(&status.to_string()))
                .inc(),
            None => counter(&status.to_string()).inc(),
        }
    }
}

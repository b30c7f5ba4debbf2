//! The edge's figures, read at each scrape: what it holds now (gauges) and what it has refused
//! since the start (counters).
//!
//! The edge keeps its own running totals; a scrape advances each counter by what the total grew
//! since the last scrape, under one lock so that two scrapes at once never count a refusal twice.

use std::sync::Mutex;

use prometheus::IntCounter;

use super::Instruments;
use crate::inbound::http::edge::EdgeStats;

/// Reads one running total out of the edge's snapshot.
type Total = fn(&EdgeStats) -> u64;

/// Each `kind` label of the refusal counter, with the total of [`EdgeStats`] it follows.
const REFUSAL_KINDS: [(&str, Total); 6] = [
    ("source_not_allowed", |stats| stats.source_refusals),
    ("budget_exceeded", |stats| stats.unverified_budget_refusals),
    ("header_timeout", |stats| stats.header_timeouts),
    ("body_stalled", |stats| stats.body_stalls),
    ("connection_cap", |stats| stats.connections_shed),
    ("auth_throttled", |stats| stats.auth_throttled_requests),
];

/// The refusal counters, resolved once, each beside the total it follows.
pub(super) struct EdgeRefusals {
    counters: Mutex<Vec<(IntCounter, Total)>>,
}

impl EdgeRefusals {
    pub(super) fn new(instruments: &Instruments) -> Self {
        let counters = REFUSAL_KINDS
            .iter()
            .map(|(kind, total)| {
                let counter = instruments.edge_refusals.with_label_values(&[kind]);
                (counter, *total)
            })
            .collect();
        Self {
            counters: Mutex::new(counters),
        }
    }

    /// Brings each counter up to the edge's running total.
    pub(super) fn catch_up(&self, stats: &EdgeStats) {
        let counters = self.counters.lock().expect("edge refusals lock");
        for (counter, total) in counters.iter() {
            let behind = total(stats).saturating_sub(counter.get());
            if behind > 0 {
                counter.inc_by(behind);
            }
        }
    }
}

//! The core's operational events ([`Telemetry`]) as metrics.

use std::time::Duration;

use super::Metrics;
use crate::core::ports::{GreetingFallback, IngestionResolution, IngestionRetry, Telemetry};

impl Telemetry for Metrics {
    fn greeting_fallback(&self, reason: GreetingFallback) {
        let reason = match reason {
            GreetingFallback::DeadlinePassed => "deadline",
            GreetingFallback::StoreFailed => "store_error",
            GreetingFallback::UnreadableCard => "unreadable_card",
        };
        self.instruments
            .greeting_fallbacks
            .with_label_values(&[reason])
            .inc();
    }

    fn ingestion_started(&self) {
        self.instruments.ingestion_in_progress.inc();
    }

    fn ingestion_stopped(&self) {
        self.instruments.ingestion_in_progress.dec();
    }

    fn ingestion_resolved(&self, resolution: IngestionResolution, lag: Option<Duration>) {
        let outcome = match resolution {
            IngestionResolution::Ingested => "ingested",
            IngestionResolution::Skipped => "skipped",
            IngestionResolution::Failed => "failed",
        };
        self.instruments
            .ingestion_resolved
            .with_label_values(&[outcome])
            .inc();
        if let (IngestionResolution::Ingested, Some(lag)) = (resolution, lag) {
            self.instruments.ingestion_lag.observe(lag.as_secs_f64());
        }
    }

    fn ingestion_retry(&self, cause: IngestionRetry) {
        let cause = match cause {
            IngestionRetry::MemoryStoreUnavailable => "memory_store_unavailable",
            IngestionRetry::Storage => "storage",
        };
        self.instruments
            .ingestion_retries
            .with_label_values(&[cause])
            .inc();
    }

    fn memory_not_stored(&self) {
        self.instruments.memories_not_stored.inc();
    }
}

//! `GET /metrics` (Prometheus text format) and the count of every request.
//!
//! The route is not part of the OpenAPI document: it is for Prometheus, not for ElevenLabs or API
//! consumers, and it moves to its own listener when `METRICS_ADDR` is set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::{Method, StatusCode};
use poem::web::Data;
use poem::{handler, IntoResponse, Request, Response, Result};

use crate::inbound::http::edge::Edge;
use crate::inbound::http::state::AppState;
use crate::metrics::{Metrics, Operation, CONTENT_TYPE};

/// How long a scrape waits for each store's probe and for the ingestion backlog; a store that
/// has not answered by then is reported down.
const PROBE_DEADLINE: Duration = Duration::from_secs(3);

/// Serves the metrics, after probing each store and reading the ingestion backlog and the
/// edge's figures.
#[handler]
pub async fn scrape(state: Data<&Arc<AppState>>, edge: Data<&Arc<Edge>>) -> Result<Response> {
    let Some(metrics) = &state.metrics else {
        return Err(poem::Error::from_status(StatusCode::NOT_FOUND));
    };
    probe(&state, metrics).await;
    metrics.set_edge(&edge.stats());
    Ok(metrics
        .render()
        .with_content_type(CONTENT_TYPE)
        .into_response())
}

/// The probe behind the `_up` gauges and the backlog gauges: the only place that sets them, since
/// they are only read at a scrape.
async fn probe(state: &AppState, metrics: &Metrics) {
    let (memory, storage, backlog) = tokio::join!(
        tokio::time::timeout(PROBE_DEADLINE, state.memory_store.check()),
        tokio::time::timeout(PROBE_DEADLINE, state.blob_store.check()),
        tokio::time::timeout(PROBE_DEADLINE, state.ingestion.counts()),
    );
    let up = |answered: bool| i64::from(answered);
    let instruments = &metrics.instruments;
    instruments
        .memory_store_up
        .set(up(matches!(memory, Ok(Ok(())))));
    instruments
        .blob_store_up
        .set(up(matches!(storage, Ok(Ok(())))));
    if let Ok(Ok(counts)) = backlog {
        metrics.set_ingestion_backlog(counts);
    }
}

/// A request being counted by operation and status, and toward the post-call answers' streak.
pub struct RequestCount<'a> {
    metrics: &'a Metrics,
    operation: Operation,
    /// Only deliveries count toward the streak, not a stray GET on the webhook's path.
    delivery: bool,
    started: Instant,
}

impl<'a> RequestCount<'a> {
    /// Starts counting `request`, when metrics are on.
    pub fn start(metrics: Option<&'a Metrics>, request: &Request) -> Option<Self> {
        let operation = Operation::of_path(request.uri().path());
        Some(Self {
            metrics: metrics?,
            operation,
            delivery: operation == Operation::PostCall && request.method() == Method::POST,
            started: Instant::now(),
        })
    }

    /// Counts the answer.
    pub fn finish(self, status: StatusCode) {
        let status = status.as_u16();
        self.metrics
            .record_request(self.operation, status, self.started.elapsed());
        if self.delivery {
            self.metrics.post_call_answered(status);
        }
    }
}

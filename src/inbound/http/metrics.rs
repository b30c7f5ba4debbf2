//! `GET /metrics` (Prometheus text format) and the middleware that counts every request.
//!
//! The route is not part of the OpenAPI document: it is for Prometheus, not for ElevenLabs or API
//! consumers, and it moves to its own listener when `METRICS_ADDR` is set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::{Method, StatusCode};
use poem::web::Data;
use poem::{handler, Endpoint, IntoResponse, Middleware, Request, Response, Result};

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

/// Counts every request by operation and status, and the post-call answers' streak.
pub struct CountRequests(pub Option<Arc<Metrics>>);

impl<E: Endpoint> Middleware<E> for CountRequests {
    type Output = CountRequestsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CountRequestsEndpoint {
            inner,
            metrics: self.0.clone(),
        }
    }
}

pub struct CountRequestsEndpoint<E> {
    inner: E,
    metrics: Option<Arc<Metrics>>,
}

impl<E: Endpoint> Endpoint for CountRequestsEndpoint<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> Result<Response> {
        let Some(metrics) = &self.metrics else {
            return self
                .inner
                .call(request)
                .await
                .map(IntoResponse::into_response);
        };
        let operation = Operation::of_path(request.uri().path());
        // Only deliveries count toward the streak, not a stray GET on the webhook's path.
        let delivery = operation == Operation::PostCall && request.method() == Method::POST;
        let started = Instant::now();
        let response = match self.inner.call(request).await {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };
        let status = response.status().as_u16();
        metrics.record_request(operation, status, started.elapsed());
        if delivery {
            metrics.post_call_answered(status);
        }
        Ok(response)
    }
}

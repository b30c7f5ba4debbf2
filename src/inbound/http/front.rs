//! The layer every request of the main port passes through before its route, in this order:
//! the edge's refusals (before any log line or count), the request id and the log line of the
//! outcome, the request counts, and framework errors turned into the JSON error schema. A ring
//! (`POST /webhook/client-data`) is answered here by [`client_data::serve`], ahead of the routes
//! and the OpenAPI service, whose layers cost as much as the greeting.
//!
//! One layer rather than a middleware each: the server boxes each request's whole future, and
//! nested middlewares each held the request and the future of the one inside, so that state was
//! moved once per layer. Here it is held once.

use std::sync::Arc;
use std::time::Instant;

use poem::{Endpoint, IntoResponse, Request, Response, Result};
use tracing::Instrument;

use crate::inbound::http::client_data;
use crate::inbound::http::edge::Edge;
use crate::inbound::http::error::framework_error_to_json;
use crate::inbound::http::metrics::RequestCount;
use crate::inbound::http::request_trace;
use crate::inbound::http::state::AppState;

/// The routes behind the edge, with the application state and the edge as request data.
pub struct Front<E> {
    pub routes: E,
    pub state: Arc<AppState>,
    pub edge: Arc<Edge>,
}

impl<E: Endpoint> Endpoint for Front<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> Result<Response> {
        let admitted = match self.edge.admit(&request) {
            Ok(admitted) => admitted,
            Err(refusal) => return Ok(*refusal),
        };
        let id = request_trace::request_id(&request);
        let span = request_trace::span(&id, &request);
        let count = RequestCount::start(self.state.metrics.as_deref(), &request);
        let started = Instant::now();
        let mut response = async {
            let answered = if client_data::is_ring(&request) {
                client_data::serve(&self.state, &self.edge, request).await
            } else {
                request.extensions_mut().insert(self.state.clone());
                request.extensions_mut().insert(self.edge.clone());
                self.routes
                    .call(request)
                    .await
                    .map(IntoResponse::into_response)
            };
            let response = answered.unwrap_or_else(framework_error_to_json);
            request_trace::log_outcome(response.status(), started);
            response
        }
        .instrument(span)
        .await;
        if let Some(count) = count {
            count.finish(response.status());
        }
        request_trace::tag(&mut response, id);
        self.edge.answered(admitted, response.status());
        Ok(response)
    }
}

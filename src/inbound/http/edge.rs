//! The service's edge, where strangers are refused cheaply and nothing they send can exhaust it:
//! a source allowlist (with trusted proxies), a budget for post-call bytes not yet verified,
//! deadlines for headers and stalled bodies, a cap on open connections, and throttling of peers
//! that keep failing authentication. [`EdgeStats`] reports what it refused.

mod budget;
mod connections;
mod counters;
mod source;
mod throttle;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use poem::http::StatusCode;
use poem::{IntoResponse, Request, Response};
use poem_openapi::payload::Json;
use tokio::time::Instant;

use crate::config::EdgeSettings;
use crate::inbound::http::error::ErrorBody;
use budget::UnverifiedBudget;
pub use budget::{BudgetSpent, Reservation};
use connections::RequestInFlight;
pub use connections::{Connections, GuardedAcceptor};
pub use counters::EdgeStats;
use counters::{EdgeCounters, LogLimiter};
use source::SourcePolicy;
use throttle::AuthThrottle;

/// The routes ElevenLabs calls; probes and the API documentation stay open to everyone.
const WEBHOOK_PREFIX: &str = "/webhook/";

/// How long a sender refused for lack of budget should wait: about the time in which uploads
/// in flight are either verified or dropped as stalled.
pub const BUDGET_RETRY_AFTER_SECS: u64 = 30;

/// Everything the edge keeps track of, shared by the listener and every request.
#[derive(Debug)]
pub struct Edge {
    sources: SourcePolicy,
    budget: Arc<UnverifiedBudget>,
    throttle: AuthThrottle,
    connections: Arc<Connections>,
    body_stall_timeout: Duration,
    counters: Arc<EdgeCounters>,
    source_log: LogLimiter,
    budget_log: LogLimiter,
}

/// A request the edge let through, in flight on its connection until dropped.
pub struct Admitted {
    /// The address failed authentications count against, for a webhook call.
    accountable: Option<IpAddr>,
    _in_flight: Option<RequestInFlight>,
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyReadError {
    #[error("no body bytes arrived for {} ms", .0.as_millis())]
    Stalled(Duration),
    #[error("the body could not be received: {0}")]
    Broken(std::io::Error),
}

impl Edge {
    pub fn new(settings: &EdgeSettings) -> Arc<Self> {
        tracing::debug!(
            allowed_source_networks = settings.allowed_sources.len(),
            trusted_proxy_networks = settings.trusted_proxies.len(),
            max_unverified_bytes = settings.max_unverified_bytes,
            max_connections = settings.max_connections,
            "edge limits"
        );
        if settings.allowed_sources.is_empty() {
            tracing::info!(
                "ALLOWED_SOURCE_IPS is empty: the webhooks accept requests from any address"
            );
        }
        let counters = Arc::new(EdgeCounters::default());
        Arc::new(Self {
            sources: SourcePolicy::new(
                settings.allowed_sources.clone(),
                settings.trusted_proxies.clone(),
            ),
            budget: UnverifiedBudget::new(settings.max_unverified_bytes),
            throttle: AuthThrottle::new(settings.auth_failure_limit, settings.auth_lockout),
            connections: Connections::new(
                settings.max_connections,
                settings.header_read_timeout,
                counters.clone(),
            ),
            body_stall_timeout: settings.body_stall_timeout,
            counters,
            source_log: LogLimiter::default(),
            budget_log: LogLimiter::default(),
        })
    }

    pub fn connections(&self) -> Arc<Connections> {
        self.connections.clone()
    }

    /// What the edge holds now and has refused since the start.
    pub fn stats(&self) -> EdgeStats {
        let read = EdgeCounters::read;
        let counters = &self.counters;
        EdgeStats {
            open_connections: self.connections.open() as u64,
            unverified_bytes_in_flight: self.budget.in_use(),
            locked_out_peers: self.throttle.refused_peers(Instant::now()) as u64,
            source_refusals: read(&counters.source_refusals),
            connections_shed: read(&counters.connections_shed),
            header_timeouts: read(&counters.header_timeouts),
            body_stalls: read(&counters.body_stalls),
            unverified_budget_refusals: read(&counters.unverified_budget_refusals),
            auth_failures: read(&counters.auth_failures),
            auth_lockouts: read(&counters.auth_lockouts),
            auth_throttled_requests: read(&counters.auth_throttled_requests),
        }
    }

    /// A place in the budget for one unverified body.
    pub fn reserve_unverified(&self) -> Reservation {
        self.budget.open()
    }

    /// Counts and reports (once per period) a delivery refused for lack of budget.
    pub fn budget_refused(&self) {
        EdgeCounters::add(&self.counters.unverified_budget_refusals);
        if let Some(refused) = self.budget_log.allow() {
            tracing::warn!(
                refused_since_last_report = refused,
                unverified_bytes_in_flight = self.budget.in_use(),
                "post-call delivery refused with 503: MAX_UNVERIFIED_BYTES are being received"
            );
        }
    }

    /// The next chunk of a body, or an error when none comes within `BODY_STALL_TIMEOUT_MS`.
    pub async fn next_chunk<S>(&self, body: &mut S) -> Result<Option<Bytes>, BodyReadError>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Unpin,
    {
        match tokio::time::timeout(self.body_stall_timeout, body.next()).await {
            Ok(chunk) => chunk.transpose().map_err(BodyReadError::Broken),
            Err(_) => {
                EdgeCounters::add(&self.counters.body_stalls);
                tracing::debug!("request body stalled; the request is dropped");
                Err(BodyReadError::Stalled(self.body_stall_timeout))
            }
        }
    }

    /// Decides on a request before it is served: tracks it on its connection, and refuses
    /// webhook calls from sources outside the allowlist (403) and from peers locked out after
    /// failed authentications (429). The answer of an admitted request goes to
    /// [`Edge::answered`].
    pub fn admit(&self, request: &Request) -> Result<Admitted, Box<Response>> {
        let peer = request.remote_addr().as_socket_addr().copied();
        let in_flight = peer.and_then(|peer| self.connections.request_started(peer));
        let peer = match peer {
            Some(peer) if request.uri().path().starts_with(WEBHOOK_PREFIX) => peer,
            _ => {
                return Ok(Admitted {
                    accountable: None,
                    _in_flight: in_flight,
                })
            }
        };
        let client = self.sources.client(peer.ip(), request.headers());
        if !self.sources.allows(client) {
            return Err(Box::new(self.refuse_source(client)));
        }
        let accountable = client.accountable();
        if let Some(wait) = self.throttle.refused_for(accountable, Instant::now()) {
            EdgeCounters::add(&self.counters.auth_throttled_requests);
            return Err(Box::new(error_response(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorBody::new(
                    "too_many_failures",
                    "too many failed authentications from this address; try again later",
                ),
                Some(wait.as_secs().max(1)),
            )));
        }
        Ok(Admitted {
            accountable: Some(accountable),
            _in_flight: in_flight,
        })
    }

    /// Counts the failed authentications it sees answered (401) to a webhook's caller, and
    /// locks out a peer that keeps failing. The request stops being in flight when `admitted`
    /// is dropped.
    pub fn answered(&self, admitted: Admitted, status: StatusCode) {
        let Some(accountable) = admitted.accountable else {
            return;
        };
        if status != StatusCode::UNAUTHORIZED {
            return;
        }
        EdgeCounters::add(&self.counters.auth_failures);
        if let Some(lockout) = self.throttle.record_failure(accountable, Instant::now()) {
            EdgeCounters::add(&self.counters.auth_lockouts);
            tracing::warn!(
                peer = %accountable,
                failures = lockout.failures,
                refused_for_secs = lockout.duration.as_secs(),
                "peer refused for a while after repeated failed authentications"
            );
        }
    }

    fn refuse_source(&self, client: source::Client) -> Response {
        EdgeCounters::add(&self.counters.source_refusals);
        if let Some(refused) = self.source_log.allow() {
            tracing::warn!(
                client = ?client,
                refused_since_last_report = refused,
                "webhook request from a source outside ALLOWED_SOURCE_IPS refused"
            );
        }
        error_response(
            StatusCode::FORBIDDEN,
            ErrorBody::new("forbidden", "requests from this address are not accepted"),
            None,
        )
    }
}

/// An error answer in the JSON error schema, with `Retry-After` when the sender should retry.
pub fn error_response(status: StatusCode, body: ErrorBody, retry_after: Option<u64>) -> Response {
    let response = Json(body).with_status(status);
    match retry_after {
        Some(seconds) => response
            .with_header(poem::http::header::RETRY_AFTER, seconds)
            .into_response(),
        None => response.into_response(),
    }
}

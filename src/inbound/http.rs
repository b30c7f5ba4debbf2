//! The HTTP adapter ElevenLabs talks to, built with poem-openapi so that the OpenAPI document is
//! generated from the same types that serve requests.
//!
//! The underlying HTTP framework is not part of this module's interface: callers get an
//! [`HttpServer`] and the spec as text.

pub mod admin;
mod auth;
mod body_limit;
pub mod client_data;
pub mod edge;
pub mod error;
pub mod field_text;
mod front;
pub mod health;
pub mod metrics;
pub mod post_call;
mod raw_json;
mod request_trace;
pub mod search_data;
pub mod serde_json_payload;
pub mod signature;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::{get, Endpoint, EndpointExt, Route, Server};
use poem_openapi::{OpenApiService, Tags};

use crate::config::EdgeSettings;
use crate::inbound::http::edge::{Edge, GuardedAcceptor};
use crate::inbound::http::state::AppState;

#[derive(Tags)]
pub enum ApiTags {
    /// The webhooks ElevenLabs calls.
    Webhooks,
    /// Probes for orchestrators and load balancers.
    Operations,
    /// Erasing and exporting a caller's data, and retention sweeps (off unless `ADMIN_API_KEY`
    /// is set).
    Administration,
}

type Apis = (
    client_data::ClientDataApi,
    search_data::SearchDataApi,
    post_call::PostCallApi,
    health::HealthApi,
    admin::AdminApi,
    admin::RetentionApi,
);

const TITLE: &str = "caller-memory";
const DESCRIPTION: &str = "Persistent memory of phone callers for ElevenLabs voice agents. \
Every error answers with the JSON body `{\"error\": code, \"message\": text}`.";

fn api_service() -> OpenApiService<Apis, ()> {
    let apis = (
        client_data::ClientDataApi,
        search_data::SearchDataApi,
        post_call::PostCallApi,
        health::HealthApi,
        admin::AdminApi,
        admin::RetentionApi,
    );
    OpenApiService::new(apis, TITLE, env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// The OpenAPI document as YAML (the committed `openapi/openapi.yaml`).
pub fn openapi_yaml() -> String {
    api_service().spec_yaml()
}

/// The OpenAPI document as JSON.
pub fn openapi_json() -> String {
    api_service().spec()
}

/// Where `GET /metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsPlacement {
    /// On the main port, beside the webhooks (when metrics are enabled).
    MainPort,
    /// On its own listener (`METRICS_ADDR`), so not on the main port.
    Separate,
}

/// Every route behind the [`front::Front`] layer: strangers refused at the edge before anything
/// else is done (and before any log line), requests traced and counted, and framework errors
/// turned into the JSON error schema.
pub fn endpoint(
    state: Arc<AppState>,
    edge: Arc<Edge>,
    placement: MetricsPlacement,
) -> impl Endpoint {
    let service = api_service();
    let mut routes = Route::new()
        .nest("/docs", service.swagger_ui())
        .at("/openapi.json", service.spec_endpoint())
        .at("/openapi.yaml", service.spec_endpoint_yaml());
    if placement == MetricsPlacement::MainPort && state.metrics.is_some() {
        routes = routes.at("/metrics", get(metrics::scrape));
    }
    front::Front {
        routes: routes.nest("/", service),
        state,
        edge,
    }
}

/// The separate metrics listener's only route.
fn metrics_endpoint(state: Arc<AppState>, edge: Arc<Edge>) -> impl Endpoint {
    Route::new()
        .at("/metrics", get(metrics::scrape))
        .data(state)
        .data(edge)
        .catch_all_error(|error| async move { error::framework_error_to_json(error) })
}

/// A bound HTTP listener (and the metrics listener, when metrics have their own address), ready
/// to serve.
pub struct HttpServer {
    acceptor: GuardedAcceptor,
    metrics_acceptor: Option<TcpAcceptor>,
    state: Arc<AppState>,
    edge: Arc<Edge>,
}

/// How long requests in flight may take to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl HttpServer {
    /// Binds the listener (port 0 picks a free port) without serving yet.
    pub async fn bind(
        address: SocketAddr,
        state: Arc<AppState>,
        edge: &EdgeSettings,
    ) -> std::io::Result<Self> {
        let edge = Edge::new(edge);
        let acceptor = GuardedAcceptor::bind(address, edge.connections()).await?;
        Ok(Self {
            acceptor,
            metrics_acceptor: None,
            state,
            edge,
        })
    }

    /// Serves `/metrics` on its own listener at `address` instead of the main port.
    pub async fn with_metrics_at(mut self, address: SocketAddr) -> std::io::Result<Self> {
        self.metrics_acceptor = Some(TcpListener::bind(address).into_acceptor().await?);
        Ok(self)
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.acceptor.local_addr()
    }

    /// The edge of this server, whose [`Edge::stats`] say what it refused.
    pub fn edge(&self) -> Arc<Edge> {
        self.edge.clone()
    }

    /// The metrics listener's address, when metrics have their own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_acceptor.as_ref().map(socket_address)
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish (up to 10 s).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let Some(metrics_acceptor) = self.metrics_acceptor else {
            return Server::new_with_acceptor(self.acceptor)
                .run_with_graceful_shutdown(
                    endpoint(self.state, self.edge, MetricsPlacement::MainPort),
                    shutdown,
                    Some(SHUTDOWN_GRACE),
                )
                .await;
        };
        let stop = tokio_util::sync::CancellationToken::new();
        let main = Server::new_with_acceptor(self.acceptor).run_with_graceful_shutdown(
            endpoint(
                self.state.clone(),
                self.edge.clone(),
                MetricsPlacement::Separate,
            ),
            stop.clone().cancelled_owned(),
            Some(SHUTDOWN_GRACE),
        );
        let metrics = Server::new_with_acceptor(metrics_acceptor).run_with_graceful_shutdown(
            metrics_endpoint(self.state, self.edge),
            stop.clone().cancelled_owned(),
            Some(SHUTDOWN_GRACE),
        );
        let signal = async {
            shutdown.await;
            stop.cancel();
        };
        let ((), main, metrics) = tokio::join!(signal, main, metrics);
        main.and(metrics)
    }
}

fn socket_address(acceptor: &TcpAcceptor) -> SocketAddr {
    acceptor
        .local_addr()
        .first()
        .and_then(|address| address.as_socket_addr().copied())
        .expect("a TCP acceptor has a socket address")
}

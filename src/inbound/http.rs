//! The HTTP adapter ElevenLabs talks to, built with poem-openapi so that the OpenAPI document is
//! generated from the same types that serve requests.
//!
//! The underlying HTTP framework is not part of this module's interface: callers get an
//! [`HttpServer`] and the spec as text.

pub mod admin;
mod auth;
mod body_limit;
pub mod client_data;
pub mod error;
pub mod health;
pub mod post_call;
mod raw_json;
mod request_trace;
pub mod search_data;
pub mod signature;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::{Endpoint, EndpointExt, Route, Server};
use poem_openapi::{OpenApiService, Tags};

use crate::inbound::http::state::AppState;

#[derive(Tags)]
pub enum ApiTags {
    /// The webhooks ElevenLabs calls.
    Webhooks,
    /// Probes for orchestrators and load balancers.
    Operations,
    /// Erasing and exporting a caller's data (off unless `ADMIN_API_KEY` is set).
    Administration,
}

type Apis = (
    client_data::ClientDataApi,
    search_data::SearchDataApi,
    post_call::PostCallApi,
    health::HealthApi,
    admin::AdminApi,
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

/// Every route, with framework errors turned into the JSON error schema and requests traced.
pub fn endpoint(state: Arc<AppState>) -> impl Endpoint {
    let service = api_service();
    Route::new()
        .nest("/docs", service.swagger_ui())
        .at("/openapi.json", service.spec_endpoint())
        .at("/openapi.yaml", service.spec_endpoint_yaml())
        .nest("/", service)
        .data(state)
        .around(body_limit::limit_small_bodies)
        .catch_all_error(error::framework_error_to_json)
        .around(request_trace::trace_request)
}

/// A bound HTTP listener, ready to serve.
pub struct HttpServer {
    acceptor: TcpAcceptor,
    state: Arc<AppState>,
}

impl HttpServer {
    /// Binds the listener (port 0 picks a free port) without serving yet.
    pub async fn bind(address: SocketAddr, state: Arc<AppState>) -> std::io::Result<Self> {
        let acceptor = TcpListener::bind(address).into_acceptor().await?;
        Ok(Self { acceptor, state })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.acceptor
            .local_addr()
            .first()
            .and_then(|address| address.as_socket_addr().copied())
            .expect("a TCP acceptor has a socket address")
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish (up to 10 s).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                endpoint(self.state),
                shutdown,
                Some(Duration::from_secs(10)),
            )
            .await
    }
}

//! Helpers shared by the integration tests. Not every test module uses every helper.
#![allow(dead_code)]

pub mod fake_elevenlabs;
pub mod fake_openmemory;
pub mod postgres;
pub mod s3_server;

use std::net::SocketAddr;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, Server};
use tokio::task::JoinHandle;

/// A local HTTP server; it stops when dropped.
pub struct LocalServer {
    pub address: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `endpoint` on a free port of 127.0.0.1 until the returned server is dropped.
pub async fn serve_on_loopback<E>(endpoint: E) -> LocalServer
where
    E: Endpoint + 'static,
{
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind a free loopback port");
    let address = *acceptor.local_addr()[0]
        .as_socket_addr()
        .expect("a tcp address");
    let task = tokio::spawn(async move {
        let _ = Server::new_with_acceptor(acceptor).run(endpoint).await;
    });
    LocalServer { address, task }
}

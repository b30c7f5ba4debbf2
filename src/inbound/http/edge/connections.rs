//! The connections the service holds open, each bounded in time and in number.
//!
//! poem and hyper have no limit on open connections and, without a timer, no deadline for a
//! request's headers, so the listener is wrapped: each accepted connection must send a request's
//! headers within `HEADER_READ_TIMEOUT_MS` of opening or of its previous answer, and at most
//! `MAX_CONNECTIONS` are open. At the limit, the connection idle the longest (waiting for headers)
//! is closed to make room, so that stalled strangers cannot keep genuine senders out; when none is
//! idle, the new connection is closed. A request knows its connection by the peer's socket
//! address; while a request is in flight, its body is timed by whoever reads it.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::counters::{EdgeCounters, LogLimiter};

/// How long to wait before accepting again after the system refused a connection (out of file
/// descriptors, for instance), instead of spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// One open connection, as requests see it.
#[derive(Debug)]
pub struct Connection {
    requests_in_flight: AtomicUsize,
    /// When it last had no request in flight (opened, or answered).
    idle_since: Mutex<Instant>,
    close: CancellationToken,
}

impl Connection {
    fn idle_since(&self) -> Option<Instant> {
        (self.requests_in_flight.load(Ordering::Acquire) == 0)
            .then(|| *self.idle_since.lock().expect("connection lock"))
    }
}

/// Marks a request in flight on its connection until dropped (when the answer is ready).
pub struct RequestInFlight(Arc<Connection>);

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        *self.0.idle_since.lock().expect("connection lock") = Instant::now();
        self.0.requests_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every open connection, by peer address.
#[derive(Debug)]
pub struct Connections {
    max_connections: usize,
    header_read_timeout: Duration,
    open: Mutex<HashMap<SocketAddr, Arc<Connection>>>,
    counters: Arc<EdgeCounters>,
    limit_log: LogLimiter,
}

impl Connections {
    pub fn new(
        max_connections: usize,
        header_read_timeout: Duration,
        counters: Arc<EdgeCounters>,
    ) -> Arc<Self> {
        Arc::new(Self {
            max_connections,
            header_read_timeout,
            open: Mutex::new(HashMap::new()),
            counters,
            limit_log: LogLimiter::default(),
        })
    }

    /// Open connections.
    pub fn open(&self) -> usize {
        self.open.lock().expect("connections lock").len()
    }

    /// Marks a request of the connection from `peer` in flight, when that connection is known.
    pub fn request_started(&self, peer: SocketAddr) -> Option<RequestInFlight> {
        let connection = self
            .open
            .lock()
            .expect("connections lock")
            .get(&peer)?
            .clone();
        connection.requests_in_flight.fetch_add(1, Ordering::AcqRel);
        Some(RequestInFlight(connection))
    }

    /// Registers a new connection, closing the one idle the longest when at the limit; `None`
    /// when every open connection is busy and this one must be closed.
    fn register(self: &Arc<Self>, peer: SocketAddr) -> Option<Arc<Connection>> {
        let mut open = self.open.lock().expect("connections lock");
        if open.len() >= self.max_connections {
            let idlest = open
                .iter()
                .filter_map(|(address, connection)| Some((*address, connection.idle_since()?)))
                .min_by_key(|(_, since)| *since)
                .map(|(address, _)| address);
            let closed = idlest.and_then(|address| open.remove(&address));
            if let Some(connection) = &closed {
                connection.close.cancel();
            }
            self.counters
                .connections_shed
                .fetch_add(1, Ordering::Relaxed);
            self.log_limit_reached(closed.is_some());
            closed.as_ref()?;
        }
        let connection = Arc::new(Connection {
            requests_in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            close: CancellationToken::new(),
        });
        open.insert(peer, connection.clone());
        Some(connection)
    }

    fn log_limit_reached(&self, made_room: bool) {
        if let Some(since_last) = self.limit_log.allow() {
            let action = if made_room {
                "the connection idle the longest was closed to make room"
            } else {
                "every connection is busy, so the new one was closed"
            };
            tracing::warn!(
                max_connections = self.max_connections,
                connections_shed_since_last_report = since_last,
                "connection limit reached (MAX_CONNECTIONS): {action}"
            );
        }
    }

    fn unregister(&self, peer: SocketAddr, connection: &Arc<Connection>) {
        let mut open = self.open.lock().expect("connections lock");
        // The address may already belong to a newer connection if this one was closed to make room.
        if open
            .get(&peer)
            .is_some_and(|current| Arc::ptr_eq(current, connection))
        {
            open.remove(&peer);
        }
    }
}

/// The listener, handing out guarded connections.
pub struct GuardedAcceptor {
    listener: TcpListener,
    local_addr: SocketAddr,
    connections: Arc<Connections>,
}

impl GuardedAcceptor {
    pub async fn bind(address: SocketAddr, connections: Arc<Connections>) -> io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener,
            local_addr,
            connections,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Acceptor for GuardedAcceptor {
    type Io = GuardedStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        vec![LocalAddr(self.local_addr.into())]
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "a connection could not be accepted");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            };
            let Some(connection) = self.connections.register(peer) else {
                continue; // dropping the stream closes it
            };
            let guarded = GuardedStream {
                stream,
                peer,
                closed: Box::pin(connection.close.clone().cancelled_owned()),
                header_deadline: Box::pin(tokio::time::sleep(self.connections.header_read_timeout)),
                connection,
                connections: self.connections.clone(),
            };
            return Ok((
                guarded,
                LocalAddr(self.local_addr.into()),
                RemoteAddr(peer.into()),
                Scheme::HTTP,
            ));
        }
    }
}

/// A connection that fails its reads once it is closed to make room, or once it has waited
/// too long for a request's headers.
pub struct GuardedStream {
    stream: TcpStream,
    peer: SocketAddr,
    connection: Arc<Connection>,
    connections: Arc<Connections>,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
    header_deadline: Pin<Box<Sleep>>,
}

impl GuardedStream {
    fn header_timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(idle_since) = self.connection.idle_since() else {
            return false;
        };
        let deadline = idle_since + self.connections.header_read_timeout;
        if self.header_deadline.deadline() != deadline {
            self.header_deadline.as_mut().reset(deadline);
        }
        self.header_deadline.as_mut().poll(cx).is_ready()
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.closed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room for a new connection",
            )));
        }
        if self.header_timed_out(cx) {
            self.connections
                .counters
                .header_timeouts
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(peer = %self.peer, "connection closed: no request headers in time");
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no request headers within HEADER_READ_TIMEOUT_MS",
            )));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        self.connections.unregister(self.peer, &self.connection);
    }
}

#[cfg(test)]
mod tests;

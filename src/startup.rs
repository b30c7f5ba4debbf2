//! Wiring: builds every adapter from the settings, checks them, and serves.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};
use crate::core::ports::{ArchiveOnly, MemoryStore, MemoryStoreError};
use crate::core::{AddOutcome, CallerId, MemoryHit, NewMemory, SearchLimit, SearchQuery};
use crate::inbound::http::health::readiness_problems;
use crate::inbound::http::post_call::PostCallSettings;
use crate::inbound::http::state::{AppState, WebhookKeys};
use crate::inbound::http::HttpServer;
use crate::outbound::disk_blob_store::DiskBlobStore;
use crate::outbound::system_clock::SystemClock;

/// Starts logging in the configured format; `RUST_LOG` refines the level (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Builds every adapter from the settings.
pub async fn build_state(settings: &Settings) -> anyhow::Result<Arc<AppState>> {
    Ok(Arc::new(AppState {
        memory_store: Arc::new(NotBuilt),
        blob_store: Arc::new(DiskBlobStore::new(&settings.payload_storage_path)),
        clock: Arc::new(SystemClock),
        keys: WebhookKeys {
            post_call: settings.post_call_key.clone(),
            client_data: settings.client_data_key.clone(),
            search_data: settings.search_data_key.clone(),
        },
        ingestion: Arc::new(ArchiveOnly),
        post_call: PostCallSettings::from_settings(settings),
    }))
}

/// `serve`: builds and checks every adapter, then serves until SIGTERM or SIGINT.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_tracing(settings.log_format);
    let state = build_state(&settings).await?;
    for problem in readiness_problems(&state).await {
        tracing::warn!(%problem, "a backend is not ready; /ready answers 503 until it is");
    }
    let address = SocketAddr::new(settings.host, settings.port);
    let server = HttpServer::bind(address, state)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(address = %server.local_addr(), docs = %format!("http://{}/docs", server.local_addr()), "listening");
    server
        .run_until(shutdown_signal())
        .await
        .context("the server stopped with an error")?;
    tracing::info!("stopped");
    Ok(())
}

/// `check`: reaches every configured backend and prints a readable report.
pub async fn check(settings: Settings) -> anyhow::Result<()> {
    println!(
        "configuration: ok ({:?} profile, {:?} memory backend)",
        settings.profile, settings.memory_backend
    );
    let state = build_state(&settings).await?;
    let problems = readiness_problems(&state).await;
    if problems.is_empty() {
        println!("backends: ok");
        return Ok(());
    }
    for problem in &problems {
        println!("backend problem: {problem}");
    }
    anyhow::bail!("{} backend(s) not ready", problems.len())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Stands in for the backends this build does not have yet; every call fails as unavailable.
struct NotBuilt;

#[async_trait]
impl MemoryStore for NotBuilt {
    async fn add(&self, _memory: &NewMemory) -> Result<AddOutcome, MemoryStoreError> {
        Err(MemoryStoreError::Unavailable("not built yet".into()))
    }
    async fn search(
        &self,
        _: &CallerId,
        _: &SearchQuery,
        _: SearchLimit,
    ) -> Result<Vec<MemoryHit>, MemoryStoreError> {
        Err(MemoryStoreError::Unavailable("not built yet".into()))
    }
    async fn check(&self) -> Result<(), MemoryStoreError> {
        Err(MemoryStoreError::Unavailable("not built yet".into()))
    }
}

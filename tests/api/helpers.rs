//! `TestApp`: the real HTTP application on 127.0.0.1:0 with swappable ports.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use caller_memory::config::Secret;
use caller_memory::core::ports::{ArchiveOnly, BlobStore, Clock, IngestionScheduler, MemoryStore};
use caller_memory::inbound::http::post_call::PostCallSettings;
use caller_memory::inbound::http::state::{AppState, WebhookKeys};
use caller_memory::inbound::http::HttpServer;
use caller_memory::outbound::system_clock::SystemClock;
use caller_memory::test_doubles::{InMemoryBlobStore, InMemoryMemoryStore};
use tokio::sync::oneshot;

pub const POST_CALL_KEY: &str = "test-post-call-key";
pub const CLIENT_DATA_KEY: &str = "test-client-data-key";
pub const SEARCH_DATA_KEY: &str = "test-search-data-key";

/// The ports a test app runs on; each can be replaced before spawning.
pub struct TestPorts {
    pub memory_store: Arc<dyn MemoryStore>,
    pub blob_store: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub ingestion: Arc<dyn IngestionScheduler>,
    /// The largest post-call body accepted.
    pub max_body_bytes: u64,
}

impl Default for TestPorts {
    fn default() -> Self {
        Self {
            memory_store: Arc::new(InMemoryMemoryStore::new()),
            blob_store: Arc::new(InMemoryBlobStore::new()),
            clock: Arc::new(SystemClock),
            ingestion: Arc::new(ArchiveOnly),
            max_body_bytes: 256 * 1024 * 1024,
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// Holds the post-call staging folder.
    scratch: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// Starts the app with in-memory ports.
    pub async fn spawn() -> Self {
        Self::spawn_with(TestPorts::default()).await
    }

    pub async fn spawn_with(ports: TestPorts) -> Self {
        let scratch = tempfile::tempdir().expect("scratch folder");
        let state = Arc::new(AppState {
            memory_store: ports.memory_store,
            blob_store: ports.blob_store,
            clock: ports.clock,
            keys: WebhookKeys {
                post_call: Secret::new(POST_CALL_KEY),
                client_data: Secret::new(CLIENT_DATA_KEY),
                search_data: Secret::new(SEARCH_DATA_KEY),
            },
            ingestion: ports.ingestion,
            post_call: PostCallSettings {
                max_body_bytes: ports.max_body_bytes,
                signature_tolerance: Duration::from_secs(30 * 60),
                staging_folder: scratch.path().join(".staging"),
            },
        });
        let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), state)
            .await
            .expect("bind a free port");
        let address = format!("http://{}", server.local_addr());
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        Self {
            address,
            client: reqwest::Client::new(),
            scratch,
            shutdown: Some(shutdown),
        }
    }

    /// Where post-call bodies wait while their signature is checked.
    pub fn staging_folder(&self) -> PathBuf {
        self.scratch.path().join(".staging")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Posts a JSON text body with an optional `X-Api-Key`.
    pub async fn post_json(
        &self,
        path: &str,
        api_key: Option<&str>,
        body: &str,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(key) = api_key {
            request = request.header("x-api-key", key);
        }
        request.send().await.expect("request sent")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Reads a response as JSON, failing the test with the body when it is not.
pub async fn json_body(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.expect("body read");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

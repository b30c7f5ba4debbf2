//! `TestApp`: the real HTTP application on 127.0.0.1:0, either with swappable ports or wired
//! exactly as `serve` wires it (real stores in a temporary folder, ingestion worker running).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use caller_memory::config::{EdgeSettings, Profile, Secret, Settings};
use caller_memory::core::ports::{
    ArchiveOnly, BlobStore, Clock, Embedder, IngestionScheduler, MemoryStore,
};
use caller_memory::core::use_cases::{FirstMessagePolicy, GreetCaller, SearchMemories};
use caller_memory::core::FirstMessageTemplate;
use caller_memory::inbound::http::post_call::PostCallSettings;
use caller_memory::inbound::http::state::{AppState, WebhookKeys};
use caller_memory::inbound::http::HttpServer;
use caller_memory::metrics::{BuildInfo, Metrics};
use caller_memory::outbound::system_clock::SystemClock;
use caller_memory::startup::{self, IngestionWorker};
use caller_memory::test_doubles::{InMemoryBlobStore, InMemoryMemoryStore};
use tokio::sync::oneshot;

use crate::calls::Webhooks;
use crate::support::fake_openmemory::{FakeMode, FakeOpenMemory};
use crate::support::postgres::TestDatabase;

pub const POST_CALL_KEY: &str = "test-post-call-key";
pub const CLIENT_DATA_KEY: &str = "test-client-data-key";
pub const SEARCH_DATA_KEY: &str = "test-search-data-key";
pub const FIRST_MESSAGE_TEMPLATE: &str =
    "Hi{name_greeting}, welcome back! How can I help you today?";

/// The ports a test app runs on; each can be replaced before spawning.
pub struct TestPorts {
    pub memory_store: Arc<dyn MemoryStore>,
    pub blob_store: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub ingestion: Arc<dyn IngestionScheduler>,
    /// The largest post-call body accepted.
    pub max_body_bytes: u64,
    pub first_message: FirstMessagePolicy,
    /// The edge: the service's defaults, with no allowlist.
    pub edge: EdgeSettings,
    /// Embeds search questions (within 100 ms) when set.
    pub embedder: Option<Arc<dyn Embedder>>,
}

impl Default for TestPorts {
    fn default() -> Self {
        Self {
            memory_store: Arc::new(InMemoryMemoryStore::new()),
            blob_store: Arc::new(InMemoryBlobStore::new()),
            clock: Arc::new(SystemClock),
            ingestion: Arc::new(ArchiveOnly),
            max_body_bytes: 256 * 1024 * 1024,
            first_message: FirstMessagePolicy::Personalised(
                FirstMessageTemplate::parse(FIRST_MESSAGE_TEMPLATE).unwrap(),
            ),
            edge: default_edge(),
            embedder: None,
        }
    }
}

/// The edge settings the service starts with when none is configured.
fn default_edge() -> EdgeSettings {
    let scratch = std::env::temp_dir();
    let database = scratch.join("caller-memory-unused.sqlite3");
    Settings::from_values(
        Profile::Dev,
        [
            ("PAYLOAD_STORAGE_PATH", scratch.to_str().unwrap()),
            ("OPENMEMORY_DB_PATH", database.to_str().unwrap()),
        ],
    )
    .expect("the dev defaults are valid")
    .edge
}

/// The memory store a wired app uses.
pub enum Backend {
    /// The SQLite store, in the app's temporary folder.
    Embedded,
    /// OpenMemory, played by a fake legacy server.
    OpenMemory(FakeOpenMemory),
    /// Postgres, in a fresh database of the local server.
    Postgres(TestDatabase),
}

impl Backend {
    pub async fn openmemory() -> Self {
        Backend::OpenMemory(FakeOpenMemory::start(FakeMode::Legacy).await)
    }

    pub async fn postgres() -> Self {
        Backend::Postgres(TestDatabase::create().await)
    }

    /// The fake server behind the OpenMemory backend.
    pub fn fake(&self) -> &FakeOpenMemory {
        match self {
            Backend::OpenMemory(fake) => fake,
            Backend::Embedded | Backend::Postgres(_) => {
                panic!("only the OpenMemory backend has a fake server")
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    /// `http://host:port` of the metrics listener, when `METRICS_ADDR` gave it its own.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    /// Holds the post-call staging folder (and, for a wired app, every file it keeps).
    scratch: tempfile::TempDir,
    staging_folder: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    /// Stops when the app is dropped.
    worker: Option<IngestionWorker>,
}

impl TestApp {
    /// Starts the app with in-memory ports.
    pub async fn spawn() -> Self {
        Self::spawn_with(TestPorts::default()).await
    }

    pub async fn spawn_with(ports: TestPorts) -> Self {
        let scratch = tempfile::tempdir().expect("scratch folder");
        let staging_folder = scratch.path().join(".staging");
        let metrics = Arc::new(Metrics::new(BuildInfo {
            memory_backend: "test-double",
            blob_backend: "test-double",
        }));
        let mut search_memories = SearchMemories::new(
            ports.memory_store.clone(),
            ports.blob_store.clone(),
            Duration::from_secs(3),
        );
        if let Some(embedder) = ports.embedder {
            search_memories = search_memories.with_embedder(embedder, Duration::from_millis(100));
        }
        let state = Arc::new(AppState {
            greet_caller: GreetCaller::new(
                ports.blob_store.clone(),
                ports.first_message,
                Duration::from_millis(1500),
            )
            .with_telemetry(metrics.clone()),
            search_memories,
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
                staging_folder: staging_folder.clone(),
                archive_redaction: Default::default(),
            },
            metrics: Some(metrics),
            admin: None,
        });
        let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), state, &ports.edge)
            .await
            .expect("bind a free port");
        Self::serve(server, scratch, staging_folder, None)
    }

    /// Starts the service as `serve` does (`startup::start`): disk archive, the chosen memory
    /// store and the ingestion worker, all under a temporary folder, with the test keys.
    /// `settings` adds or overrides variables, such as `OPENMEMORY_TIMEOUT_MS`.
    pub async fn spawn_service(backend: &Backend, settings: &[(&str, &str)]) -> Self {
        let scratch = tempfile::tempdir().expect("data folder");
        let payloads = scratch.path().join("payloads");
        let database = scratch.path().join("memory.sqlite3");
        let (memory_backend, url, key) = match backend {
            Backend::Embedded => ("embedded", String::new(), "unused".to_owned()),
            Backend::OpenMemory(fake) => ("openmemory", fake.url().to_string(), fake.key()),
            Backend::Postgres(_) => ("postgres", String::new(), "unused".to_owned()),
        };
        let mut values = vec![
            ("ELEVENLABS_POST_CALL_KEY", POST_CALL_KEY),
            ("ELEVENLABS_CLIENT_DATA_KEY", CLIENT_DATA_KEY),
            ("ELEVENLABS_SEARCH_DATA_KEY", SEARCH_DATA_KEY),
            ("PAYLOAD_STORAGE_PATH", payloads.to_str().unwrap()),
            ("OPENMEMORY_DB_PATH", database.to_str().unwrap()),
            ("MEMORY_BACKEND", memory_backend),
            ("OPENMEMORY_KEY", &key),
            ("PORT", "0"),
            // `/ready` answers an ingestion backlog counted at most this long ago: waiting for
            // calls to be learnt takes no longer than this after they are.
            ("PENDING_SCAN_MS", "200"),
        ];
        if !url.is_empty() {
            values.push(("OPENMEMORY_URL", &url));
        }
        if let Backend::Postgres(database) = backend {
            values.push(("DATABASE_URL", database.url()));
        }
        values.extend_from_slice(settings);
        let settings = Settings::from_values(Profile::Dev, values).expect("valid test settings");
        let started = startup::start(&settings).await.expect("the service starts");
        let staging_folder = started.state.post_call.staging_folder.clone();
        Self::serve(
            started.server,
            scratch,
            staging_folder,
            Some(started.worker),
        )
    }

    fn serve(
        server: HttpServer,
        scratch: tempfile::TempDir,
        staging_folder: PathBuf,
        worker: Option<IngestionWorker>,
    ) -> Self {
        let address = format!("http://{}", server.local_addr());
        let metrics_address = server
            .metrics_addr()
            .map(|address| format!("http://{address}"));
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        Self {
            address,
            metrics_address,
            client: reqwest::Client::new(),
            scratch,
            staging_folder,
            shutdown: Some(shutdown),
            worker,
        }
    }

    /// Where post-call bodies wait while their signature is checked.
    pub fn staging_folder(&self) -> PathBuf {
        self.staging_folder.clone()
    }

    /// The archive of a wired app (`PAYLOAD_STORAGE_PATH`).
    pub fn archive(&self) -> PathBuf {
        self.scratch.path().join("payloads")
    }

    /// The embedded memory store's file of a wired app (`OPENMEMORY_DB_PATH`).
    pub fn memory_database(&self) -> PathBuf {
        self.scratch.path().join("memory.sqlite3")
    }

    /// The webhooks of this app, with the test keys.
    pub fn webhooks(&self) -> Webhooks {
        Webhooks::at(&self.address)
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
        // Dropping the worker stops it.
        self.worker.take();
    }
}

/// Reads a response as JSON, failing the test with the body when it is not.
pub async fn json_body(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.expect("body read");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Bytes of the files in a folder (0 when it does not exist).
pub fn bytes_in(folder: &std::path::Path) -> u64 {
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let metadata = entry.metadata().ok()?;
            Some(if metadata.is_dir() {
                bytes_in(&entry.path())
            } else {
                metadata.len()
            })
        })
        .sum()
}

/// The lock file in each instance's staging folder.
pub const STAGING_LOCK: &str = "instance~lock";

/// The staging folder of the one instance that uses `payloads` (`.staging/{instance}`).
pub fn own_staging_folder(payloads: &std::path::Path) -> PathBuf {
    let root = payloads.join(".staging");
    std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.is_dir())
        .unwrap_or(root)
}

/// Every file under `root`, relative to it, temporary ones included.
pub fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if entry.file_name() != STAGING_LOCK {
                let relative = path.strip_prefix(root).unwrap();
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

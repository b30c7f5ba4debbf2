//! A fake OpenMemory server: a real HTTP server on 127.0.0.1 that reproduces the recorded
//! behaviour of both server generations that matters to a per-caller client (see
//! `recordings/`, each behaviour names its recording).
//!
//! ```ignore
//! let fake = FakeOpenMemory::start(FakeMode::Legacy).await;
//! let store = fake.store();            // an OpenMemoryStore pointed at it
//! fake.fail_with(503);                 // every request now answers 503
//! fake.delay(Duration::from_secs(2));  // ... or answers late
//! fake.heal();
//! assert_eq!(fake.memories_of("+14155550123").len(), 1);
//! ```

mod records;
mod routes;
mod text;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use caller_memory::outbound::openmemory::OpenMemoryStore;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

/// Which server generation to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeMode {
    /// Trusts `user_id` from the request (commit 1d38638 and earlier).
    Legacy,
    /// Derives the user from the key; any other `user_id` is 403 `tenant_mismatch`.
    Newest,
}

/// One memory as the fake stored it.
#[derive(Debug, Clone)]
pub struct FakeMemory {
    pub id: String,
    pub user_id: String,
    /// What was stored, after condensation.
    pub content: String,
    pub tags: Value,
    pub metadata: Value,
    pub created_at: i64,
    pub(crate) hash: u64,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The raw path and query string, still percent-encoded.
    pub path_and_query: String,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct State {
    pub memories: Vec<FakeMemory>,
    pub users: BTreeMap<String, i64>,
    pub query_cache: HashMap<String, (Instant, Value)>,
    pub failure: Option<u16>,
    pub delay: Option<Duration>,
    pub requests: Vec<RecordedRequest>,
    pub crashes: Vec<String>,
    pub deduplicate_every_add: bool,
    pub auth_not_configured: bool,
    /// Adds are checked for duplicates on arrival, then held this long before they are stored,
    /// whether or not the client still waits (a stalled server resuming its queue).
    pub stall_adds: Option<Duration>,
    /// Stalled adds not stored yet.
    pub stalled_in_flight: usize,
}

pub(crate) struct Shared {
    pub mode: FakeMode,
    pub key: String,
    pub state: Mutex<State>,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The newest servers' user: sha256(key) in hex, first 16 characters.
    // exchanges-newest/a13_query_with_tenant_user_id.json
    pub fn tenant(&self) -> String {
        hex::encode(Sha256::digest(self.key.as_bytes()))[..16].to_owned()
    }
}

/// A running fake server; it stops when dropped.
pub struct FakeOpenMemory {
    shared: Arc<Shared>,
    server: super::LocalServer,
}

impl FakeOpenMemory {
    pub async fn start(mode: FakeMode) -> Self {
        let shared = Arc::new(Shared {
            mode,
            key: format!("fake-openmemory-key-{}", uuid::Uuid::new_v4().simple()),
            state: Mutex::new(State::default()),
        });
        let server = super::serve_on_loopback(routes::FakeEndpoint(Arc::clone(&shared))).await;
        Self { shared, server }
    }

    pub fn url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.server.address)).expect("a valid url")
    }

    pub fn key(&self) -> String {
        self.shared.key.clone()
    }

    /// An adapter pointed at this fake with its key and a 2 s timeout.
    pub fn store(&self) -> OpenMemoryStore {
        self.store_with_timeout(Duration::from_secs(2))
    }

    pub fn store_with_timeout(&self, timeout: Duration) -> OpenMemoryStore {
        OpenMemoryStore::new(self.url(), self.key(), timeout).expect("a valid adapter")
    }

    /// The user id the newest mode assigns to this fake's key.
    pub fn tenant(&self) -> String {
        self.shared.tenant()
    }

    /// Every memory stored for `user_id`, oldest first.
    pub fn memories_of(&self, user_id: &str) -> Vec<FakeMemory> {
        let state = self.shared.state();
        state
            .memories
            .iter()
            .filter(|memory| memory.user_id == user_id)
            .cloned()
            .collect()
    }

    /// Stores a memory directly, as another client of the same server would (no dedup check).
    pub fn seed(&self, user_id: &str, content: &str, metadata: Value) -> String {
        records::store(
            &mut self.shared.state(),
            user_id,
            content,
            Value::Null,
            metadata,
        )
    }

    /// Every request answers `status` from now on (until [`FakeOpenMemory::heal`]).
    pub fn fail_with(&self, status: u16) {
        self.shared.state().failure = Some(status);
    }

    /// Every request waits `delay` before answering (until [`FakeOpenMemory::heal`]).
    pub fn delay(&self, delay: Duration) {
        self.shared.state().delay = Some(delay);
    }

    /// Adds are accepted, checked for duplicates, held for `hold` (past the client's timeout)
    /// and then stored, even though the client gave up: what a legacy server did after being
    /// stopped for 12 to 25 s and resumed. New adds answer at once again after
    /// [`FakeOpenMemory::heal`]; held ones still land.
    pub fn stall_adds(&self, hold: Duration) {
        self.shared.state().stall_adds = Some(hold);
    }

    /// Waits until every stalled add has been stored.
    pub async fn wait_for_stalled_adds(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.shared.state().stalled_in_flight > 0 {
            assert!(Instant::now() < deadline, "stalled adds never landed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn heal(&self) {
        let mut state = self.shared.state();
        state.failure = None;
        state.delay = None;
        state.stall_adds = None;
        state.deduplicate_every_add = false;
    }

    /// The worst case of exchanges-legacy/l74: every add collides with an existing memory.
    pub fn deduplicate_every_add(&self) {
        self.shared.state().deduplicate_every_add = true;
    }

    /// Plays a newest server started without `OM_API_KEY`: every protected route answers 503
    /// `auth_not_configured`.
    // exchanges-newest/c01_no_api_key_configured_production.json
    pub fn without_api_key_configured(&self) {
        self.shared.state().auth_not_configured = true;
    }

    /// Forgets cached query answers, as if 60 s had passed.
    pub fn expire_query_cache(&self) {
        self.shared.state().query_cache.clear();
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// The requests about callers: without the condensation probe's add and read, which the
    /// service sends for a user no caller has.
    pub fn caller_requests(&self) -> Vec<RecordedRequest> {
        let probe_user = caller_memory::outbound::openmemory::CONDENSATION_PROBE_USER_ID;
        self.requests()
            .into_iter()
            .filter(|request| {
                let body: serde_json::Value =
                    serde_json::from_slice(&request.body).unwrap_or_default();
                body["user_id"] != probe_user
                    && !request
                        .path_and_query
                        .ends_with(&probe_user.replace('+', "%2B"))
            })
            .collect()
    }

    /// Requests that would have crashed a legacy server (exchanges-legacy/l81, l82, l84), each
    /// with the reason.
    pub fn crashes(&self) -> Vec<String> {
        self.shared.state().crashes.clone()
    }
}

//! Typed, validated configuration.
//!
//! Loading never stops at the first problem: every missing or invalid variable is collected and
//! reported at once, before the service listens.

mod blob_store;
mod edge;
mod secret;
mod sources;
mod validator;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::core::redaction::Redaction;
use crate::core::use_cases::retention::RetentionPolicy;
use crate::core::FirstMessageTemplate;
pub use blob_store::{BlobStoreSettings, BucketSettings, AWS_KEYS};
pub use edge::{EdgeSettings, ELEVENLABS_SOURCE_PRESETS};
pub use secret::Secret;
use validator::Validator;

/// The variables without a default. Each is required only where the chosen configuration uses it
/// (see `Validator::settings`): the webhook keys and `PAYLOAD_STORAGE_PATH` always;
/// `OPENMEMORY_KEY` and `OPENMEMORY_PORT` (unless `OPENMEMORY_URL` is set) with the OpenMemory
/// backend; `OPENMEMORY_DB_PATH` with the embedded one; `DATABASE_URL` with the Postgres one.
pub const REQUIRED_KEYS: &[&str] = &[
    "elevenlabs_post_call_key",
    "elevenlabs_client_data_key",
    "elevenlabs_search_data_key",
    "openmemory_key",
    "openmemory_port",
    "openmemory_db_path",
    "payload_storage_path",
    "database_url",
];

/// The variables with defaults (in `config/default.toml` or derived from others), or not needed
/// by any command (`ELEVENLABS_API_KEY`, for the tool-creation example only).
pub const OPTIONAL_KEYS: &[&str] = &[
    "elevenlabs_api_key",
    "memory_backend",
    "openmemory_url",
    "host",
    "port",
    "log_format",
    "first_message_template",
    "first_message_override",
    "greeting_deadline_ms",
    "search_timeout_ms",
    "openmemory_timeout_ms",
    "max_body_bytes",
    "signature_tolerance_secs",
    "name_fields",
    "elevenlabs_api_key",
    "elevenlabs_api_url",
    "elevenlabs_settings_refresh_secs",
    "allowed_source_ips",
    "trusted_proxies",
    "max_unverified_bytes",
    "header_read_timeout_ms",
    "body_stall_timeout_ms",
    "max_connections",
    "auth_failure_limit",
    "auth_lockout_secs",
    "metrics_enabled",
    "metrics_addr",
    "embedding_model_dir",
    "embedding_url",
    "embedding_api_key",
    "embedding_model",
    "embedding_input_types",
    "embedding_timeout_ms",
    "embedding_query_budget_ms",
    "admin_api_key",
    "redact",
    "do_not_remember_field",
    "redact_archive",
    "ingestion_lease_ms",
    "pending_scan_ms",
    "cache_ttl_ms",
    "database_pool_size",
    "database_acquire_timeout_ms",
    "database_statement_timeout_ms",
    "blob_store_url",
    "retention_audio_days",
    "retention_transcript_days",
    "retention_memory_days",
    "retention_sweep_interval_secs",
    "retention_sweep_batch",
];

/// Every variable the service reads (lower case; the environment uses upper case).
pub fn all_keys() -> Vec<&'static str> {
    REQUIRED_KEYS
        .iter()
        .chain(OPTIONAL_KEYS)
        .chain(AWS_KEYS)
        .copied()
        .collect()
}

/// Which set of defaults to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Production: nothing secret or site-specific is assumed.
    Standard,
    /// Local development: embedded store, local folders, public dev-only keys, loopback only.
    Dev,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryBackend {
    OpenMemory,
    Embedded,
    Postgres,
}

impl MemoryBackend {
    /// The value of `MEMORY_BACKEND` that chooses this backend.
    pub fn name(self) -> &'static str {
        match self {
            MemoryBackend::OpenMemory => "openmemory",
            MemoryBackend::Embedded => "embedded",
            MemoryBackend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Standard => "standard",
            Profile::Dev => "dev",
        })
    }
}

/// As `MEMORY_BACKEND` spells it.
impl fmt::Display for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub profile: Profile,
    /// Enables what uses the ElevenLabs API (safe overrides, the `elevenlabs` and `backfill`
    /// commands); `None` when not set.
    pub elevenlabs_api_key: Option<Secret>,
    pub post_call_key: Secret,
    pub client_data_key: Secret,
    pub search_data_key: Secret,
    pub openmemory_key: Secret,
    pub openmemory_url: Url,
    pub openmemory_db_path: PathBuf,
    pub payload_storage_path: PathBuf,
    pub memory_backend: MemoryBackend,
    pub host: IpAddr,
    pub port: u16,
    pub log_format: LogFormat,
    /// Parsed when the configuration is validated, so that a misspelt placeholder stops the
    /// start, not a call.
    pub first_message_template: FirstMessageTemplate,
    pub first_message_override: bool,
    pub greeting_deadline: Duration,
    pub search_timeout: Duration,
    pub openmemory_timeout: Duration,
    pub max_body_bytes: u64,
    /// Source allowlist, trusted proxies and the limits that keep strangers cheap.
    pub edge: EdgeSettings,
    pub signature_tolerance: Duration,
    pub name_fields: Vec<String>,
    /// The ElevenLabs API base URL.
    pub elevenlabs_api_url: Url,
    /// How long an agent's override permissions are trusted before they are read again.
    pub elevenlabs_settings_refresh: Duration,
    /// Whether `/metrics` is served and requests are counted.
    pub metrics_enabled: bool,
    /// Where `/metrics` is served instead of the main port; `None` for the main port.
    pub metrics_address: Option<SocketAddr>,
    pub embedding: EmbeddingSettings,
    /// Where values came from other than the built-in defaults and the profile, for the dev
    /// profile to say at start (a `.env` file silently overriding its keys surprised users).
    pub overrides: Overrides,
    /// Opens the administration API (`Authorization: Bearer`); `None` turns it off.
    pub admin_api_key: Option<Secret>,
    /// What is redacted before anything is learnt (`REDACT`); nothing by default.
    pub redaction: Redaction,
    /// The data-collection field by which a caller asks not to be remembered.
    pub do_not_remember_field: String,
    /// Whether the archive stores a redacted copy instead of the exact bytes.
    pub redact_archive: bool,
    /// How long an instance's claim on a call lasts unless renewed (`INGESTION_LEASE_MS`): how
    /// soon another instance takes over the work of one that died.
    pub ingestion_lease: Duration,
    /// How often each instance looks for pending calls it was not told about (`PENDING_SCAN_MS`).
    pub pending_scan: Duration,
    /// How long a cached profile card, or its absence, may be served (`CACHE_TTL_MS`): how soon
    /// what another instance learnt is greeted with.
    pub cache_ttl: Duration,
    /// The Postgres memory store (`DATABASE_URL`...); the URL is empty with other backends.
    pub database: DatabaseSettings,
    /// Where the archive, profile cards and ingestion progress live (`BLOB_STORE_URL`).
    pub blob_store: BlobStoreSettings,
    /// How long recordings, transcriptions and memories are kept (`RETENTION_*`); for ever by
    /// default.
    pub retention: RetentionPolicy,
    /// How often `serve` sweeps what is past its retention period.
    pub retention_sweep_interval: Duration,
}

/// Where the Postgres memory store is and how its connections are pooled.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database`, a secret (it may hold the password).
    pub url: Secret,
    pub pool_size: usize,
    /// How long a call waits for a connection (also to open one).
    pub acquire_timeout: Duration,
    /// How long the server lets one statement run.
    pub statement_timeout: Duration,
}

/// Where sentence embeddings come from (see the README's section on embeddings).
#[derive(Debug, Clone)]
pub struct EmbeddingSettings {
    /// A local model folder (`EMBEDDING_MODEL_DIR`).
    pub model_dir: Option<PathBuf>,
    /// An OpenAI-compatible embeddings API (`EMBEDDING_URL`), serving `model`.
    pub url: Option<Url>,
    pub api_key: Secret,
    pub model: String,
    /// The `input_type` sent with questions and with memories (`EMBEDDING_INPUT_TYPES`, two
    /// comma-separated values), for servers of asymmetric models; none when not set.
    pub input_types: Option<(String, String)>,
    /// Timeout of each request to the embeddings API.
    pub timeout: Duration,
    /// How long a search may wait for its query's embedding before ranking lexically.
    pub query_budget: Duration,
}

/// The variables taken from a `.env` file and from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The `.env` file read, if one was, and the variables taken from it (upper case).
    pub env_file: Option<(PathBuf, Vec<String>)>,
    /// Variables taken from the process environment (upper case).
    pub environment: Vec<String>,
}

impl Overrides {
    /// One line saying where the dev profile's values came from.
    pub fn describe(&self) -> String {
        let mut parts = vec!["defaults and config/dev.toml".to_owned()];
        if let Some((path, keys)) = &self.env_file {
            parts.push(format!("{} from {}", keys.join(", "), path.display()));
        }
        if !self.environment.is_empty() {
            parts.push(format!(
                "{} from the environment",
                self.environment.join(", ")
            ));
        }
        parts.join("; ")
    }
}

/// Everything wrong with the configuration, one line per variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
    /// The profile that was loaded: the advice differs.
    pub profile: Profile,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let plural = if count == 1 { "" } else { "s" };
        writeln!(
            f,
            "the configuration is not usable ({count} problem{plural}):"
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        match self.profile {
            Profile::Standard => write!(
                f,
                "set these variables in the environment or in a .env file (see README.md), \
                 or run with --dev for a local development setup"
            ),
            Profile::Dev => write!(
                f,
                "the dev profile's values are overridden by the environment or a .env file; \
                 fix or remove those variables (see README.md)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Loads and validates the configuration, reading `.env` from the working directory.
    pub fn load(profile: Profile) -> Result<Self, ConfigError> {
        Self::load_with_env_file(profile, Path::new(".env"))
    }

    pub fn load_with_env_file(profile: Profile, env_file: &Path) -> Result<Self, ConfigError> {
        let (raw, overrides) =
            sources::collect(profile, env_file).map_err(|problem| ConfigError {
                problems: vec![problem],
                profile,
            })?;
        let mut settings = Validator::new(raw).settings(profile)?;
        settings.overrides = overrides;
        Ok(settings)
    }

    /// Validates `values` (variable names in either case, such as `PAYLOAD_STORAGE_PATH`) over
    /// the profile's defaults, without reading the environment or a `.env` file: for running the
    /// service inside another program, such as a test, that must not share process-wide state.
    ///
    /// # Errors
    /// Every unknown variable name and every missing or invalid value, as [`Settings::load`].
    pub fn from_values<'a>(
        profile: Profile,
        values: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let known = all_keys();
        let mut given = sources::RawValues::new();
        let mut problems = Vec::new();
        for (key, value) in values {
            let key = key.to_ascii_lowercase();
            if known.contains(&key.as_str()) {
                given.insert(key, value.to_owned());
            } else {
                problems.push(format!("{} is not a setting", key.to_ascii_uppercase()));
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems, profile });
        }
        let raw = sources::collect_given(profile, given).map_err(|problem| ConfigError {
            problems: vec![problem],
            profile,
        })?;
        Validator::new(raw).settings(profile)
    }
}

#[cfg(test)]
mod tests;

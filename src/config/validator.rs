//! Turns raw text values into typed settings, collecting every problem instead of stopping at
//! the first.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::config::sources::RawValues;
use crate::config::{
    ConfigError, DatabaseSettings, EmbeddingSettings, LogFormat, MemoryBackend, Overrides, Profile,
    Secret, Settings,
};
use crate::core::redaction::{Redaction, Sensitive};
use crate::core::use_cases::retention::RetentionPolicy;
use crate::core::FirstMessageTemplate;

mod blob_store;
mod edge;

/// The longest retention period accepted, in days (a hundred years).
const MAX_RETENTION_DAYS: u32 = 36_500;

/// The shortest administration key accepted.
const MIN_ADMIN_KEY_LENGTH: usize = 16;

/// Reads typed values out of the raw text, remembering every problem.
pub(super) struct Validator {
    raw: RawValues,
    problems: Vec<String>,
}

impl Validator {
    pub(super) fn new(raw: RawValues) -> Self {
        Self {
            raw,
            problems: Vec::new(),
        }
    }

    pub(super) fn settings(mut self, profile: Profile) -> Result<Settings, ConfigError> {
        let memory_backend = self.choice(
            "memory_backend",
            &[
                MemoryBackend::OpenMemory,
                MemoryBackend::Embedded,
                MemoryBackend::Postgres,
            ]
            .map(|b| (b.name(), b)),
        );
        // Each backend's variables are required only when it is the one chosen.
        let openmemory = memory_backend == Some(MemoryBackend::OpenMemory);
        let embedded = memory_backend == Some(MemoryBackend::Embedded);
        let postgres = memory_backend == Some(MemoryBackend::Postgres);
        let openmemory_url_given = self.given("openmemory_url");
        let openmemory_port = if openmemory && !openmemory_url_given {
            self.port("openmemory_port")
        } else {
            None
        };
        let host = self.parsed::<IpAddr>("host", "an IP address such as 127.0.0.1");
        let payload_storage_path = self.writable_directory("payload_storage_path");
        let max_body_bytes = self
            .parsed("max_body_bytes", "a number of bytes")
            .unwrap_or(0);
        let settings = Settings {
            profile,
            elevenlabs_api_key: self.optional_secret("elevenlabs_api_key"),
            post_call_key: self.secret("elevenlabs_post_call_key"),
            client_data_key: self.secret("elevenlabs_client_data_key"),
            search_data_key: self.secret("elevenlabs_search_data_key"),
            openmemory_key: if openmemory {
                self.secret("openmemory_key")
            } else {
                Secret::new(String::new())
            },
            openmemory_url: self.openmemory_url(openmemory_port),
            openmemory_db_path: if embedded {
                self.database_path()
            } else {
                PathBuf::new()
            },
            blob_store: self.blob_store(&payload_storage_path),
            payload_storage_path,
            memory_backend: memory_backend.unwrap_or(MemoryBackend::OpenMemory),
            host: self.loopback_in_dev(profile, host),
            port: self
                .parsed(
                    "port",
                    "a port number from 0 to 65535 (0 picks a free port)",
                )
                .unwrap_or(8000),
            log_format: self
                .choice(
                    "log_format",
                    &[("pretty", LogFormat::Pretty), ("json", LogFormat::Json)],
                )
                .unwrap_or(LogFormat::Pretty),
            first_message_template: self.first_message_template(),
            first_message_override: self.flag("first_message_override"),
            greeting_deadline: self.millis("greeting_deadline_ms"),
            search_timeout: self.millis("search_timeout_ms"),
            openmemory_timeout: self.millis("openmemory_timeout_ms"),
            max_body_bytes,
            edge: self.edge(max_body_bytes),
            signature_tolerance: Duration::from_secs(
                self.parsed("signature_tolerance_secs", "a number of seconds")
                    .unwrap_or(0),
            ),
            name_fields: self.list("name_fields"),
            elevenlabs_api_url: self.http_url("elevenlabs_api_url").unwrap_or_else(|| {
                Url::parse("https://api.elevenlabs.io/").expect("a valid literal url")
            }),
            elevenlabs_settings_refresh: Duration::from_secs(
                self.parsed("elevenlabs_settings_refresh_secs", "a number of seconds")
                    .unwrap_or(0),
            ),
            metrics_enabled: self.flag("metrics_enabled"),
            metrics_address: self.metrics_address(profile),
            embedding: self.embedding(),
            overrides: Overrides::default(),
            admin_api_key: None,
            redaction: self.redaction(),
            do_not_remember_field: self.text("do_not_remember_field"),
            redact_archive: self.flag("redact_archive"),
            ingestion_lease: self.positive_millis("ingestion_lease_ms"),
            pending_scan: self.positive_millis("pending_scan_ms"),
            cache_ttl: self.millis("cache_ttl_ms"),
            database: self.database(postgres),
            retention: self.retention(),
            retention_sweep_interval: self.sweep_interval(),
        };
        if settings.redact_archive && settings.redaction.is_off() {
            self.problems
                .push("REDACT_ARCHIVE=true needs REDACT to say what to redact".to_owned());
        }
        let settings = Settings {
            admin_api_key: self.admin_api_key(&settings),
            ..settings
        };
        self.metrics_placement(&settings);
        if self.problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigError {
                problems: self.problems,
                profile,
            })
        }
    }

    /// Whether `key` has a non-blank value.
    fn given(&self, key: &str) -> bool {
        self.raw
            .get(key)
            .is_some_and(|value| !value.trim().is_empty())
    }

    fn name(key: &str) -> String {
        key.to_ascii_uppercase()
    }

    /// The trimmed value, or `None` after recording that it is missing or empty.
    fn required(&mut self, key: &str) -> Option<String> {
        match self.raw.get(key).map(|value| value.trim()) {
            None => {
                self.problems
                    .push(format!("{} is missing", Self::name(key)));
                None
            }
            Some("") => {
                self.problems.push(format!("{} is empty", Self::name(key)));
                None
            }
            Some(value) => Some(value.to_owned()),
        }
    }

    fn text(&mut self, key: &str) -> String {
        self.required(key).unwrap_or_default()
    }

    /// The template, parsed now so that a misspelt placeholder stops the start, not a call. An
    /// unusable one is replaced by the default after its problem is recorded (the settings are
    /// then refused anyway).
    fn first_message_template(&mut self) -> FirstMessageTemplate {
        let template = self.text("first_message_template");
        match FirstMessageTemplate::parse(&template) {
            Ok(parsed) => parsed,
            Err(problem) => {
                if !template.is_empty() {
                    self.problems
                        .push(format!("FIRST_MESSAGE_TEMPLATE is not usable: {problem}"));
                }
                FirstMessageTemplate::parse("Hi, welcome back!")
                    .expect("a template without placeholders always parses")
            }
        }
    }

    fn secret(&mut self, key: &str) -> Secret {
        Secret::new(self.text(key))
    }

    /// A secret that may be left unset (or empty): `None` then.
    fn optional_secret(&mut self, key: &str) -> Option<Secret> {
        self.raw
            .get(key)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
            .map(Secret::new)
    }

    fn parsed<T: std::str::FromStr>(&mut self, key: &str, expected: &str) -> Option<T> {
        let value = self.required(key)?;
        let parsed = value.parse().ok();
        if parsed.is_none() {
            self.problems.push(format!(
                "{} must be {expected}, not {value:?}",
                Self::name(key)
            ));
        }
        parsed
    }

    fn port(&mut self, key: &str) -> Option<u16> {
        let port = self.parsed::<u16>(key, "a port number from 1 to 65535")?;
        if port == 0 {
            self.problems.push(format!(
                "{} must be a port number from 1 to 65535, not 0",
                Self::name(key)
            ));
            return None;
        }
        Some(port)
    }

    fn millis(&mut self, key: &str) -> Duration {
        Duration::from_millis(self.parsed(key, "a number of milliseconds").unwrap_or(0))
    }

    fn flag(&mut self, key: &str) -> bool {
        self.choice(key, &[("true", true), ("false", false)])
            .unwrap_or(false)
    }

    fn list(&mut self, key: &str) -> Vec<String> {
        self.text(key)
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn choice<T: Copy>(&mut self, key: &str, options: &[(&str, T)]) -> Option<T> {
        let value = self.required(key)?;
        let found = options
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&value));
        if found.is_none() {
            let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
            self.problems.push(format!(
                "{} must be one of {}, not {value:?}",
                Self::name(key),
                names.join(", ")
            ));
        }
        found.map(|(_, option)| *option)
    }

    fn openmemory_url(&mut self, port: Option<u16>) -> Url {
        let fallback = || Url::parse("http://127.0.0.1/").expect("a valid literal url");
        if self.optional("openmemory_url").is_some() {
            return self.http_url("openmemory_url").unwrap_or_else(fallback);
        }
        let port = port.unwrap_or(1);
        Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap_or_else(|_| fallback())
    }

    /// The trimmed value, or `None` when it is not set or empty.
    fn optional(&self, key: &str) -> Option<String> {
        self.raw
            .get(key)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    fn http_url(&mut self, key: &str) -> Option<Url> {
        let value = self.optional(key)?;
        match Url::parse(&value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            _ => {
                self.problems.push(format!(
                    "{} must be an http or https URL, not {value:?}",
                    Self::name(key)
                ));
                None
            }
        }
    }

    fn embedding(&mut self) -> EmbeddingSettings {
        let model_dir = self.optional("embedding_model_dir").map(PathBuf::from);
        let url = self.http_url("embedding_url");
        let model = self.optional("embedding_model").unwrap_or_default();
        if let Some(folder) = &model_dir {
            if !folder.is_dir() {
                self.problems.push(format!(
                    "EMBEDDING_MODEL_DIR ({}) is not a directory",
                    folder.display()
                ));
            }
        }
        let url_given = self.optional("embedding_url").is_some();
        if model_dir.is_some() && url_given {
            self.problems.push(
                "EMBEDDING_MODEL_DIR and EMBEDDING_URL are both set: choose a local model or an embeddings API"
                    .to_owned(),
            );
        }
        if url_given && model.is_empty() {
            self.problems.push(
                "EMBEDDING_MODEL is missing: name the model EMBEDDING_URL serves (for example text-embedding-3-small)"
                    .to_owned(),
            );
        }
        let input_types = self.embedding_input_types();
        EmbeddingSettings {
            model_dir,
            url,
            api_key: Secret::new(self.optional("embedding_api_key").unwrap_or_default()),
            model,
            input_types,
            timeout: self.millis("embedding_timeout_ms"),
            query_budget: self.millis("embedding_query_budget_ms"),
        }
    }

    /// `EMBEDDING_INPUT_TYPES`: `<for questions>,<for memories>`, both given.
    fn embedding_input_types(&mut self) -> Option<(String, String)> {
        let value = self.optional("embedding_input_types")?;
        match value.split(',').map(str::trim).collect::<Vec<_>>()[..] {
            [query, document] if !query.is_empty() && !document.is_empty() => {
                Some((query.to_owned(), document.to_owned()))
            }
            _ => {
                self.problems.push(format!(
                    "EMBEDDING_INPUT_TYPES must be two comma-separated values, for questions then memories (for example query,passage), not {value:?}"
                ));
                None
            }
        }
    }

    fn writable_directory(&mut self, key: &str) -> PathBuf {
        let Some(value) = self.required(key) else {
            return PathBuf::new();
        };
        let path = PathBuf::from(&value);
        if let Err(error) = probe_writable(&path) {
            self.problems.push(format!(
                "{} ({value}) is not a writable directory: {error}",
                Self::name(key)
            ));
        }
        path
    }

    /// The embedded store's file, whose folder must be writable.
    fn database_path(&mut self) -> PathBuf {
        let Some(value) = self.required("openmemory_db_path") else {
            return PathBuf::new();
        };
        let path = PathBuf::from(&value);
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let Err(error) = probe_writable(parent) {
            self.problems.push(format!(
                "OPENMEMORY_DB_PATH ({value}) cannot be created: {} is not writable: {error}",
                parent.display()
            ));
        }
        path
    }

    /// The Postgres store's settings; `DATABASE_URL` is required (and read) only when `used`.
    fn database(&mut self, used: bool) -> DatabaseSettings {
        let url = if used {
            self.database_url()
        } else {
            String::new()
        };
        DatabaseSettings {
            url: Secret::new(url),
            pool_size: self
                .parsed("database_pool_size", "a number of connections")
                .unwrap_or(1),
            acquire_timeout: self.millis("database_acquire_timeout_ms"),
            statement_timeout: self.millis("database_statement_timeout_ms"),
        }
    }

    /// `DATABASE_URL`: a `postgres://` or `postgresql://` URL with a host. The value is never
    /// repeated in a message, since it may hold a password.
    fn database_url(&mut self) -> String {
        let Some(value) = self.required("database_url") else {
            return String::new();
        };
        let expected = "DATABASE_URL must be a Postgres URL such as \
                        postgres://user:password@host:5432/database";
        let problem = match Url::parse(&value) {
            Err(error) => Some(format!("it cannot be read: {error}")),
            Ok(url) if !matches!(url.scheme(), "postgres" | "postgresql") => {
                Some(format!("it is a {}: URL", url.scheme()))
            }
            Ok(url) if !url.has_host() => Some("it names no host".to_owned()),
            Ok(_) => value
                .parse::<tokio_postgres::Config>()
                .err()
                .map(|error| format!("its parameters cannot be read: {error}")),
        };
        if let Some(problem) = problem {
            self.problems.push(format!("{expected} ({problem})"));
        }
        value
    }

    /// `METRICS_ADDR`, when set: an `IP:port` address, on loopback in the dev profile.
    fn metrics_address(&mut self, profile: Profile) -> Option<SocketAddr> {
        let value = self.raw.get("metrics_addr").map(|value| value.trim())?;
        if value.is_empty() {
            return None;
        }
        let Ok(address) = value.parse::<SocketAddr>() else {
            self.problems.push(format!(
                "METRICS_ADDR must be an IP address and port such as 127.0.0.1:9100, not {value:?}"
            ));
            return None;
        };
        if profile == Profile::Dev && !address.ip().is_loopback() {
            self.problems.push(format!(
                "METRICS_ADDR is {address}, but the dev profile only listens on loopback"
            ));
        }
        Some(address)
    }

    /// A separate metrics address only makes sense with metrics on, and not on the main port.
    fn metrics_placement(&mut self, settings: &Settings) {
        let Some(address) = settings.metrics_address else {
            return;
        };
        if !settings.metrics_enabled {
            self.problems.push(
                "METRICS_ADDR is set but METRICS_ENABLED is false: unset one of them".to_owned(),
            );
        }
        if address.port() != 0 && address == SocketAddr::new(settings.host, settings.port) {
            self.problems.push(format!(
                "METRICS_ADDR ({address}) is the main address HOST:PORT; leave METRICS_ADDR unset \
                 to serve /metrics on the main port"
            ));
        }
    }

    /// Optional; when set, long enough not to be guessed and distinct from every webhook key, so
    /// that no webhook key ever opens the administration API.
    fn admin_api_key(&mut self, settings: &Settings) -> Option<Secret> {
        let value = self.raw.get("admin_api_key")?.trim().to_owned();
        if value.is_empty() {
            return None;
        }
        if value.len() < MIN_ADMIN_KEY_LENGTH {
            self.problems.push(format!(
                "ADMIN_API_KEY must be at least {MIN_ADMIN_KEY_LENGTH} characters long"
            ));
        }
        let webhook_keys = [
            &settings.post_call_key,
            &settings.client_data_key,
            &settings.search_data_key,
        ];
        if webhook_keys.iter().any(|key| key.expose() == value) {
            self.problems.push(
                "ADMIN_API_KEY must differ from every ELEVENLABS_*_KEY webhook key".to_owned(),
            );
        }
        Some(Secret::new(value))
    }

    /// `REDACT`: a comma-separated list of `cards`, `emails`, `national_ids`; empty or unset
    /// redacts nothing.
    fn redaction(&mut self) -> Redaction {
        let value = self.raw.get("redact").cloned().unwrap_or_default();
        let mut kinds = Vec::new();
        for name in value
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            match Sensitive::from_name(&name.to_ascii_lowercase()) {
                Some(kind) => kinds.push(kind),
                None => {
                    let known: Vec<&str> = Sensitive::ALL.iter().map(|kind| kind.name()).collect();
                    self.problems.push(format!(
                        "REDACT may only list {}, not {name:?}",
                        known.join(", ")
                    ));
                }
            }
        }
        Redaction::of(kinds)
    }

    /// `RETENTION_*_DAYS` (each unset or empty: kept for ever) and `RETENTION_SWEEP_BATCH`.
    fn retention(&mut self) -> RetentionPolicy {
        let batch = self
            .parsed::<usize>(
                "retention_sweep_batch",
                "a number of conversations from 1 up",
            )
            .unwrap_or(1);
        if batch == 0 {
            self.problems.push(
                "RETENTION_SWEEP_BATCH must be a number of conversations from 1 up, not 0"
                    .to_owned(),
            );
        }
        RetentionPolicy {
            audio_days: self.days("retention_audio_days"),
            transcript_days: self.days("retention_transcript_days"),
            memory_days: self.days("retention_memory_days"),
            batch: batch.max(1),
        }
    }

    /// A retention period: `None` (kept for ever) when unset or empty.
    fn days(&mut self, key: &str) -> Option<u32> {
        let value = self.optional(key)?;
        match value.parse::<u32>() {
            Ok(days) if (1..=MAX_RETENTION_DAYS).contains(&days) => Some(days),
            _ => {
                self.problems.push(format!(
                    "{} must be a number of days from 1 to {MAX_RETENTION_DAYS}, not {value:?} \
                     (leave it unset to keep them for ever)",
                    Self::name(key)
                ));
                None
            }
        }
    }

    fn sweep_interval(&mut self) -> Duration {
        let seconds = self
            .parsed::<u64>(
                "retention_sweep_interval_secs",
                "a number of seconds from 1 up",
            )
            .unwrap_or(1);
        if seconds == 0 {
            self.problems.push(
                "RETENTION_SWEEP_INTERVAL_SECS must be a number of seconds from 1 up, not 0"
                    .to_owned(),
            );
        }
        Duration::from_secs(seconds.max(1))
    }

    fn loopback_in_dev(&mut self, profile: Profile, host: Option<IpAddr>) -> IpAddr {
        let host = host.unwrap_or(IpAddr::from([127, 0, 0, 1]));
        if profile == Profile::Dev && !host.is_loopback() {
            self.problems.push(format!(
                "HOST is {host}, but the dev profile uses public dev-only keys and only listens on loopback"
            ));
        }
        host
    }
}

/// Creates the directory if needed and proves that a file can be written in it.
fn probe_writable(directory: &Path) -> std::io::Result<()> {
    // Unique per probe, so that two validations at once (two services started by one program)
    // never remove each other's probe.
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let probe_number = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::fs::create_dir_all(directory)?;
    let probe = directory.join(format!(
        ".write-probe-{}-{probe_number}",
        std::process::id()
    ));
    std::fs::write(&probe, b"probe")?;
    std::fs::remove_file(&probe)
}

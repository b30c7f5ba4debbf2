//! Typed, validated configuration (ARCHITECTURE section 6).
//!
//! Loading never stops at the first problem: every missing or invalid variable is collected and
//! reported at once, before the service listens.

mod secret;
mod sources;
mod validator;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::core::redaction::Redaction;

pub use secret::Secret;
use validator::Validator;

/// The eight variables every deployment must set.
pub const REQUIRED_KEYS: &[&str] = &[
    "elevenlabs_api_key",
    "elevenlabs_post_call_key",
    "elevenlabs_client_data_key",
    "elevenlabs_search_data_key",
    "openmemory_key",
    "openmemory_port",
    "openmemory_db_path",
    "payload_storage_path",
];

/// The variables with defaults (in `config/default.toml` or derived from others).
pub const OPTIONAL_KEYS: &[&str] = &[
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
    "admin_api_key",
    "redact",
    "do_not_remember_field",
    "redact_archive",
];

/// Every variable the service reads (lower case; the environment uses upper case).
pub fn all_keys() -> Vec<&'static str> {
    REQUIRED_KEYS.iter().chain(OPTIONAL_KEYS).copied().collect()
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
    pub elevenlabs_api_key: Secret,
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
    pub first_message_template: String,
    pub first_message_override: bool,
    pub greeting_deadline: Duration,
    pub search_timeout: Duration,
    pub openmemory_timeout: Duration,
    pub max_body_bytes: u64,
    pub signature_tolerance: Duration,
    pub name_fields: Vec<String>,
    /// Opens the administration API (`Authorization: Bearer`); `None` turns it off.
    pub admin_api_key: Option<Secret>,
    /// What is redacted before anything is learnt (`REDACT`); nothing by default.
    pub redaction: Redaction,
    /// The data-collection field by which a caller asks not to be remembered.
    pub do_not_remember_field: String,
    /// Whether the archive stores a redacted copy instead of the exact bytes.
    pub redact_archive: bool,
}

/// Everything wrong with the configuration, one line per variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the configuration is not usable ({} problems):",
            self.problems.len()
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        write!(
            f,
            "set these variables in the environment or in a .env file (see README.md), \
             or run with --dev for a local development setup"
        )
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Loads and validates the configuration, reading `.env` from the working directory.
    pub fn load(profile: Profile) -> Result<Self, ConfigError> {
        Self::load_with_env_file(profile, Path::new(".env"))
    }

    pub fn load_with_env_file(profile: Profile, env_file: &Path) -> Result<Self, ConfigError> {
        let raw = sources::collect(profile, env_file).map_err(|problem| ConfigError {
            problems: vec![problem],
        })?;
        Validator::new(raw).settings(profile)
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
            return Err(ConfigError { problems });
        }
        let raw = sources::collect_given(profile, given).map_err(|problem| ConfigError {
            problems: vec![problem],
        })?;
        Validator::new(raw).settings(profile)
    }
}

#[cfg(test)]
mod tests;

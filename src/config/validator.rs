//! Turns raw text values into typed settings, collecting every problem instead of stopping at
//! the first.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::config::sources::RawValues;
use crate::config::{ConfigError, LogFormat, MemoryBackend, Profile, Secret, Settings};
use crate::core::redaction::{Redaction, Sensitive};
use crate::core::FirstMessageTemplate;

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
        let openmemory_port = self.port("openmemory_port");
        let memory_backend = self.choice(
            "memory_backend",
            &[
                ("openmemory", MemoryBackend::OpenMemory),
                ("embedded", MemoryBackend::Embedded),
            ],
        );
        let host = self.parsed::<IpAddr>("host", "an IP address such as 127.0.0.1");
        let settings = Settings {
            profile,
            elevenlabs_api_key: self.secret("elevenlabs_api_key"),
            post_call_key: self.secret("elevenlabs_post_call_key"),
            client_data_key: self.secret("elevenlabs_client_data_key"),
            search_data_key: self.secret("elevenlabs_search_data_key"),
            openmemory_key: self.secret("openmemory_key"),
            openmemory_url: self.openmemory_url(openmemory_port),
            openmemory_db_path: self.database_path(memory_backend),
            payload_storage_path: self.writable_directory("payload_storage_path"),
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
            max_body_bytes: self
                .parsed("max_body_bytes", "a number of bytes")
                .unwrap_or(0),
            signature_tolerance: Duration::from_secs(
                self.parsed("signature_tolerance_secs", "a number of seconds")
                    .unwrap_or(0),
            ),
            name_fields: self.list("name_fields"),
            admin_api_key: None,
            redaction: self.redaction(),
            do_not_remember_field: self.text("do_not_remember_field"),
            redact_archive: self.flag("redact_archive"),
        };
        if settings.redact_archive && settings.redaction.is_off() {
            self.problems
                .push("REDACT_ARCHIVE=true needs REDACT to say what to redact".to_owned());
        }
        let settings = Settings {
            admin_api_key: self.admin_api_key(&settings),
            ..settings
        };
        if self.problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
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

    /// The template text, checked now so that a misspelt placeholder stops the start, not a call.
    fn first_message_template(&mut self) -> String {
        let template = self.text("first_message_template");
        if let (false, Err(problem)) = (template.is_empty(), FirstMessageTemplate::parse(&template))
        {
            self.problems
                .push(format!("FIRST_MESSAGE_TEMPLATE is not usable: {problem}"));
        }
        template
    }

    fn secret(&mut self, key: &str) -> Secret {
        Secret::new(self.text(key))
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
        match self
            .raw
            .get("openmemory_url")
            .map(|value| value.trim().to_owned())
        {
            Some(value) if !value.is_empty() => match Url::parse(&value) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => url,
                _ => {
                    self.problems.push(format!(
                        "OPENMEMORY_URL must be an http or https URL, not {value:?}"
                    ));
                    fallback()
                }
            },
            _ => {
                let port = port.unwrap_or(1);
                Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap_or_else(|_| fallback())
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

    fn database_path(&mut self, backend: Option<MemoryBackend>) -> PathBuf {
        let Some(value) = self.required("openmemory_db_path") else {
            return PathBuf::new();
        };
        let path = PathBuf::from(&value);
        if backend == Some(MemoryBackend::Embedded) {
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
        }
        path
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

    /// `REDACT`: a comma-separated list of `cards`, `emails`; empty or unset redacts nothing.
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
    std::fs::create_dir_all(directory)?;
    let probe = directory.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe")?;
    std::fs::remove_file(&probe)
}

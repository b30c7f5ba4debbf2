#![allow(clippy::result_large_err)] // figment::Jail closures return figment::Error, which is large by design.

use figment::Jail;

use super::*;

const ALL_REQUIRED: &[(&str, &str)] = &[
    ("ELEVENLABS_POST_CALL_KEY", "post"),
    ("ELEVENLABS_CLIENT_DATA_KEY", "client"),
    ("ELEVENLABS_SEARCH_DATA_KEY", "search"),
    ("OPENMEMORY_KEY", "om"),
    ("OPENMEMORY_PORT", "8765"),
    ("PAYLOAD_STORAGE_PATH", "data/payloads"),
];

fn set_all(jail: &mut Jail) {
    for (key, value) in ALL_REQUIRED {
        jail.set_env(key, value);
    }
}

#[test]
fn every_missing_variable_is_named_in_one_message() {
    Jail::expect_with(|_jail| {
        let error = Settings::load(Profile::Standard).unwrap_err();
        let message = error.to_string();
        for (key, _) in ALL_REQUIRED {
            assert!(
                message.contains(&format!("{key} is missing")),
                "{key} not named in {message}"
            );
        }
        assert_eq!(error.problems.len(), 6);
        assert!(message.contains("(6 problems)"), "{message}");
        for unused in ["ELEVENLABS_API_KEY", "OPENMEMORY_DB_PATH"] {
            assert!(!message.contains(unused), "{unused} required: {message}");
        }
        Ok(())
    });
}

#[test]
fn only_what_the_chosen_backend_uses_is_required() {
    Jail::expect_with(|jail| {
        for (key, value) in [
            ("ELEVENLABS_POST_CALL_KEY", "post"),
            ("ELEVENLABS_CLIENT_DATA_KEY", "client"),
            ("ELEVENLABS_SEARCH_DATA_KEY", "search"),
            ("PAYLOAD_STORAGE_PATH", "data/payloads"),
        ] {
            jail.set_env(key, value);
        }
        jail.set_env("MEMORY_BACKEND", "embedded");
        let error = Settings::load(Profile::Standard).unwrap_err();
        assert_eq!(error.problems, ["OPENMEMORY_DB_PATH is missing"]);
        assert!(error.to_string().contains("(1 problem)"), "{error}");

        jail.set_env("OPENMEMORY_DB_PATH", "data/memory.sqlite3");
        let embedded = Settings::load(Profile::Standard).unwrap();
        assert_eq!(embedded.elevenlabs_api_key.map(|_| ()), None);

        jail.set_env("MEMORY_BACKEND", "openmemory");
        jail.set_env("OPENMEMORY_URL", "http://memory.internal:8080/");
        let error = Settings::load(Profile::Standard).unwrap_err();
        assert_eq!(error.problems, ["OPENMEMORY_KEY is missing"]);
        jail.set_env("OPENMEMORY_KEY", "om");
        Settings::load(Profile::Standard).expect("no OPENMEMORY_PORT needed with OPENMEMORY_URL");
        Ok(())
    });
}

#[test]
fn dev_profile_errors_do_not_advise_running_with_dev() {
    Jail::expect_with(|jail| {
        jail.set_env("PORT", "not-a-port");
        let message = Settings::load(Profile::Dev).unwrap_err().to_string();
        assert!(message.contains("(1 problem)"), "{message}");
        assert!(!message.contains("run with --dev"), "{message}");
        Ok(())
    });
}

#[test]
fn the_dev_profile_says_which_values_a_dot_env_file_and_the_environment_replaced() {
    Jail::expect_with(|jail| {
        jail.create_file(".env", "ELEVENLABS_CLIENT_DATA_KEY=from-the-file\n")?;
        jail.set_env("PORT", "9001");
        let settings = Settings::load(Profile::Dev).unwrap();
        let said = settings.overrides.describe();
        assert!(
            said.contains("ELEVENLABS_CLIENT_DATA_KEY from .env"),
            "{said}"
        );
        assert!(said.contains("PORT from the environment"), "{said}");
        Ok(())
    });
}

#[test]
fn a_complete_environment_loads_with_defaults_for_the_rest() {
    Jail::expect_with(|jail| {
        set_all(jail);
        let settings = Settings::load(Profile::Standard).unwrap();
        assert_eq!(settings.openmemory_url.as_str(), "http://127.0.0.1:8765/");
        assert_eq!(settings.memory_backend, MemoryBackend::OpenMemory);
        assert_eq!(settings.port, 8000);
        assert_eq!(settings.greeting_deadline, Duration::from_millis(1500));
        assert_eq!(settings.signature_tolerance, Duration::from_secs(1800));
        assert_eq!(
            settings.name_fields,
            ["first_name", "name", "user_name", "caller_name"]
        );
        Ok(())
    });
}

#[test]
fn an_invalid_port_is_named_with_its_value() {
    Jail::expect_with(|jail| {
        set_all(jail);
        jail.set_env("PORT", "eighty");
        jail.set_env("OPENMEMORY_PORT", "70000");
        let error = Settings::load(Profile::Standard).unwrap_err();
        assert_eq!(error.problems.len(), 2, "{error}");
        assert!(error.to_string().contains(
            "PORT must be a port number from 0 to 65535 (0 picks a free port), not \"eighty\""
        ));
        assert!(error
            .to_string()
            .contains("OPENMEMORY_PORT must be a port number"));
        Ok(())
    });
}

#[test]
fn an_unwritable_storage_path_is_reported() {
    Jail::expect_with(|jail| {
        set_all(jail);
        jail.create_file("not-a-directory", "a file")?;
        jail.set_env("PAYLOAD_STORAGE_PATH", "not-a-directory/payloads");
        let error = Settings::load(Profile::Standard).unwrap_err();
        assert!(
            error.to_string().contains(
                "PAYLOAD_STORAGE_PATH (not-a-directory/payloads) is not a writable directory"
            ),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn an_unparseable_openmemory_url_is_reported() {
    Jail::expect_with(|jail| {
        set_all(jail);
        jail.set_env("OPENMEMORY_URL", "not a url");
        let error = Settings::load(Profile::Standard).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("OPENMEMORY_URL must be an http or https URL"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn a_dot_env_file_is_honoured_and_the_environment_wins() {
    Jail::expect_with(|jail| {
        let lines: Vec<String> = ALL_REQUIRED
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        jail.create_file(
            ".env",
            &(lines.join("\n") + "\nPORT=9100\nHOST=127.0.0.2\n"),
        )?;
        jail.set_env("PORT", "9200");
        let settings = Settings::load(Profile::Standard).unwrap();
        assert_eq!(settings.post_call_key.expose(), "post");
        assert_eq!(settings.host.to_string(), "127.0.0.2");
        assert_eq!(settings.port, 9200);
        Ok(())
    });
}

#[test]
fn the_dev_profile_runs_with_no_variables_on_loopback_with_the_embedded_store() {
    Jail::expect_with(|_jail| {
        let settings = Settings::load(Profile::Dev).unwrap();
        assert_eq!(settings.memory_backend, MemoryBackend::Embedded);
        assert!(settings.host.is_loopback());
        assert!(settings.post_call_key.expose().starts_with("dev-only"));
        Ok(())
    });
}

#[test]
fn a_misspelt_first_message_placeholder_stops_the_start() {
    Jail::expect_with(|jail| {
        set_all(jail);
        jail.set_env("FIRST_MESSAGE_TEMPLATE", "Hi {nmae}!");
        let error = Settings::load(Profile::Standard).unwrap_err();
        assert!(
            error.to_string().contains("unknown placeholder {nmae}"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn the_dev_profile_refuses_a_public_address() {
    Jail::expect_with(|jail| {
        jail.set_env("HOST", "0.0.0.0");
        let error = Settings::load(Profile::Dev).unwrap_err();
        assert!(
            error.to_string().contains("only listens on loopback"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn secrets_never_appear_in_debug_output() {
    Jail::expect_with(|jail| {
        set_all(jail);
        jail.set_env("ELEVENLABS_POST_CALL_KEY", "wsec_super_secret_value");
        let settings = Settings::load(Profile::Standard).unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("wsec_super_secret_value"));
        assert!(debug.contains("[redacted]"));
        Ok(())
    });
}

#[test]
fn given_values_are_validated_without_reading_the_environment() {
    Jail::expect_with(|jail| {
        jail.set_env("MEMORY_BACKEND", "openmemory");
        jail.set_env("PORT", "9999");
        let storage = jail.directory().join("given");
        let storage = storage.to_str().unwrap();

        let settings = Settings::from_values(
            Profile::Dev,
            [("PAYLOAD_STORAGE_PATH", storage), ("port", "0")],
        )
        .unwrap();

        assert_eq!(settings.memory_backend, MemoryBackend::Embedded);
        assert_eq!(settings.port, 0);
        assert_eq!(settings.payload_storage_path, Path::new(storage));
        Ok(())
    });
}

#[test]
fn an_unknown_given_name_is_refused_rather_than_ignored() {
    let error = Settings::from_values(Profile::Dev, [("PAYLOAD_STORAGE", "x")]).unwrap_err();

    assert_eq!(error.problems, ["PAYLOAD_STORAGE is not a setting"]);
}

#[test]
fn the_elevenlabs_api_key_is_optional_and_its_url_must_be_http() {
    Jail::expect_with(|jail| {
        set_all(jail);
        let settings = Settings::load(Profile::Standard).unwrap();
        assert!(settings.elevenlabs_api_key.is_none());
        assert_eq!(
            settings.elevenlabs_api_url.as_str(),
            "https://api.elevenlabs.io/"
        );
        assert_eq!(
            settings.elevenlabs_settings_refresh,
            Duration::from_secs(300)
        );
        jail.set_env("ELEVENLABS_API_KEY", "xi-key");
        jail.set_env("ELEVENLABS_API_URL", "ftp://example.com");
        jail.set_env("ELEVENLABS_SETTINGS_REFRESH_SECS", "soon");
        let error = Settings::load(Profile::Standard).unwrap_err();
        assert_eq!(error.problems.len(), 2, "{error}");
        assert!(error
            .to_string()
            .contains("ELEVENLABS_API_URL must be an http or https URL"));
        assert!(error
            .to_string()
            .contains("ELEVENLABS_SETTINGS_REFRESH_SECS must be"));
        Ok(())
    });
}

#[test]
fn metrics_are_on_the_main_port_unless_metrics_addr_says_otherwise() {
    Jail::expect_with(|jail| {
        set_all(jail);
        let settings = Settings::load(Profile::Standard).unwrap();
        assert!(settings.metrics_enabled);
        assert_eq!(settings.metrics_address, None);

        jail.set_env("METRICS_ADDR", "0.0.0.0:9100");
        let settings = Settings::load(Profile::Standard).unwrap();
        assert_eq!(
            settings.metrics_address,
            Some("0.0.0.0:9100".parse().unwrap())
        );
        Ok(())
    });
}

#[test]
fn every_metrics_setting_problem_is_named_at_once() {
    Jail::expect_with(|jail| {
        set_all(jail);
        jail.set_env("METRICS_ENABLED", "maybe");
        jail.set_env("METRICS_ADDR", "localhost");
        let error = Settings::load(Profile::Standard).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("METRICS_ENABLED must be one of true, false"),
            "{message}"
        );
        assert!(
            message.contains("METRICS_ADDR must be an IP address and port"),
            "{message}"
        );

        jail.set_env("METRICS_ENABLED", "false");
        jail.set_env("METRICS_ADDR", "127.0.0.1:8000");
        let error = Settings::load(Profile::Standard).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("METRICS_ENABLED is false"), "{message}");
        assert!(
            message.contains("is the main address HOST:PORT"),
            "{message}"
        );
        Ok(())
    });
}

#[test]
fn the_dev_profile_keeps_metrics_on_loopback() {
    Jail::expect_with(|jail| {
        jail.set_env("METRICS_ADDR", "0.0.0.0:9100");
        let error = Settings::load(Profile::Dev).unwrap_err();
        assert!(
            error.to_string().contains("METRICS_ADDR is 0.0.0.0:9100"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn without_embedding_settings_there_is_no_model_and_a_budget_by_default() {
    Jail::expect_with(|jail| {
        set_all(jail);
        let settings = Settings::load(Profile::Standard).unwrap();
        assert_eq!(settings.embedding.model_dir, None);
        assert_eq!(settings.embedding.url, None);
        assert_eq!(settings.embedding.timeout, Duration::from_millis(2000));
        assert_eq!(settings.embedding.query_budget, Duration::from_millis(100));
        Ok(())
    });
}

#[test]
fn every_embedding_setting_problem_is_reported_at_once() {
    Jail::expect_with(|jail| {
        set_all(jail);
        jail.set_env("EMBEDDING_MODEL_DIR", "no/such/folder");
        jail.set_env("EMBEDDING_URL", "localhost:11434");
        jail.set_env("EMBEDDING_TIMEOUT_MS", "soon");
        jail.set_env("EMBEDDING_INPUT_TYPES", "query");
        let error = Settings::load(Profile::Standard).unwrap_err().to_string();
        for problem in [
            "EMBEDDING_MODEL_DIR (no/such/folder) is not a directory",
            "EMBEDDING_URL must be an http or https URL, not \"localhost:11434\"",
            "EMBEDDING_MODEL_DIR and EMBEDDING_URL are both set",
            "EMBEDDING_MODEL is missing",
            "EMBEDDING_TIMEOUT_MS must be a number of milliseconds",
            "EMBEDDING_INPUT_TYPES must be two comma-separated values, for questions then memories (for example query,passage), not \"query\"",
        ] {
            assert!(error.contains(problem), "{problem} not in {error}");
        }
        Ok(())
    });
}

#[test]
fn an_embeddings_api_is_configured_with_its_model_and_secret_key() {
    Jail::expect_with(|jail| {
        set_all(jail);
        jail.set_env("EMBEDDING_URL", "http://127.0.0.1:11434");
        jail.set_env("EMBEDDING_MODEL", "nomic-embed-text");
        jail.set_env("EMBEDDING_API_KEY", "sk-embedding");
        jail.set_env("EMBEDDING_INPUT_TYPES", "query, passage");
        let settings = Settings::load(Profile::Standard).unwrap();
        assert_eq!(
            settings.embedding.url.as_ref().map(Url::as_str),
            Some("http://127.0.0.1:11434/")
        );
        assert_eq!(settings.embedding.model, "nomic-embed-text");
        assert_eq!(settings.embedding.api_key.expose(), "sk-embedding");
        assert_eq!(
            settings.embedding.input_types,
            Some(("query".to_owned(), "passage".to_owned()))
        );
        assert!(!format!("{settings:?}").contains("sk-embedding"));
        Ok(())
    });
}

#[test]
fn the_admin_key_and_redaction_are_off_by_default_and_checked_when_set() {
    Jail::expect_with(|jail| {
        let settings = Settings::load(Profile::Dev).unwrap();
        assert!(settings.admin_api_key.is_none());
        assert!(settings.redaction.is_off());
        jail.set_env("ADMIN_API_KEY", "short");
        jail.set_env("REDACT", "cards,passports");
        let error = Settings::load(Profile::Dev).unwrap_err().to_string();
        assert!(
            error.contains("ADMIN_API_KEY must be at least 16"),
            "{error}"
        );
        assert!(
            error.contains("REDACT may only list cards, emails, national_ids, not \"passports\""),
            "{error}"
        );
        jail.set_env("ADMIN_API_KEY", "dev-only-client-data-key");
        jail.set_env("REDACT", "cards, emails");
        let error = Settings::load(Profile::Dev).unwrap_err().to_string();
        assert!(error.contains("ADMIN_API_KEY must differ"), "{error}");
        jail.set_env("ADMIN_API_KEY", "a-long-enough-admin-key");
        let settings = Settings::load(Profile::Dev).unwrap();
        assert_eq!(
            settings.admin_api_key.unwrap().expose(),
            "a-long-enough-admin-key"
        );
        assert!(!settings.redaction.is_off());
        Ok(())
    });
}

#[test]
fn the_postgres_backend_needs_a_postgres_url_and_never_repeats_it() {
    Jail::expect_with(|jail| {
        for (key, value) in [
            ("ELEVENLABS_POST_CALL_KEY", "post"),
            ("ELEVENLABS_CLIENT_DATA_KEY", "client"),
            ("ELEVENLABS_SEARCH_DATA_KEY", "search"),
            ("PAYLOAD_STORAGE_PATH", "data/payloads"),
            ("MEMORY_BACKEND", "postgres"),
        ] {
            jail.set_env(key, value);
        }
        let error = Settings::load(Profile::Standard).unwrap_err();
        assert_eq!(error.problems, ["DATABASE_URL is missing"]);

        for (url, problem) in [
            (
                "mysql://user:hunter2@db.internal/memories",
                "(it is a mysql: URL)",
            ),
            ("postgres:hunter2", "(it names no host)"),
            ("hunter2", "(it cannot be read: "),
            (
                "postgres://user:hunter2@db.internal/memories?sslmode=sometimes",
                "(its parameters cannot be read: ",
            ),
        ] {
            jail.set_env("DATABASE_URL", url);
            let error = Settings::load(Profile::Standard).unwrap_err();
            assert_eq!(error.problems.len(), 1, "{url}: {error}");
            assert!(
                error.problems[0].starts_with("DATABASE_URL must be a Postgres URL")
                    && error.problems[0].contains(problem),
                "{url}: {error}"
            );
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }

        jail.set_env(
            "DATABASE_URL",
            "postgres://user:hunter2@db.internal:5433/memories",
        );
        jail.set_env("DATABASE_POOL_SIZE", "many");
        let error = Settings::load(Profile::Standard).unwrap_err();
        assert_eq!(
            error.problems,
            ["DATABASE_POOL_SIZE must be a number of connections, not \"many\""]
        );
        jail.set_env("DATABASE_POOL_SIZE", "8");
        let settings = Settings::load(Profile::Standard).unwrap();
        assert_eq!(settings.memory_backend, MemoryBackend::Postgres);
        assert_eq!(settings.database.pool_size, 8);
        assert_eq!(
            settings.database.statement_timeout,
            std::time::Duration::from_millis(5000)
        );
        assert!(!format!("{settings:?}").contains("hunter2"));
        Ok(())
    });
}
mod blob_store;

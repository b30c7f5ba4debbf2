//! The binary as a newcomer runs it.

use std::path::Path;
use std::process::{Command, Output};

/// The binary with a clean environment in `working_dir`: no variables, and no `.env` file unless
/// the test puts one there.
pub(crate) fn caller_memory(working_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caller-memory"));
    command.env_clear().current_dir(working_dir);
    command
}

/// Runs the command, fails the test with everything it printed unless it succeeded, and returns
/// what it printed on standard output.
pub(crate) fn succeeds(command: &mut Command) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the binary runs");
    let report = String::from_utf8_lossy(&stdout).into_owned();
    assert!(
        status.success(),
        "{report}{}",
        String::from_utf8_lossy(&stderr)
    );
    report
}

#[test]
fn serve_without_configuration_names_every_missing_variable_it_uses_and_fails() {
    let empty = tempfile::tempdir().unwrap();
    let output = caller_memory(empty.path()).arg("serve").output().unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    // The default backend is OpenMemory: the embedded store's file is not asked for, nor the
    // ElevenLabs API key, which serve does not use.
    assert!(!message.contains("ELEVENLABS_API_KEY"), "{message}");
    for variable in [
        "ELEVENLABS_POST_CALL_KEY",
        "ELEVENLABS_CLIENT_DATA_KEY",
        "ELEVENLABS_SEARCH_DATA_KEY",
        "OPENMEMORY_KEY",
        "OPENMEMORY_PORT",
        "PAYLOAD_STORAGE_PATH",
    ] {
        assert!(
            message.contains(&format!("{variable} is missing")),
            "{variable} not named in:\n{message}"
        );
    }
    for unused in ["ELEVENLABS_API_KEY", "OPENMEMORY_DB_PATH"] {
        assert!(!message.contains(unused), "{unused} asked for:\n{message}");
    }
}

#[test]
fn the_openapi_command_prints_the_committed_spec() {
    let empty = tempfile::tempdir().unwrap();
    let printed = succeeds(caller_memory(empty.path()).arg("openapi"));
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.yaml"))
            .unwrap();
    assert!(
        printed == committed,
        "`caller-memory openapi` differs from openapi/openapi.yaml"
    );
}

#[test]
fn sign_prints_a_header_that_verifies_with_the_configured_key() {
    let payload = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/payloads/post_call_transcription.json"
    );
    let data = tempfile::tempdir().unwrap();
    let header = succeeds(caller_memory(data.path()).args(["--dev", "sign", payload]));
    let timestamp: i64 = header
        .trim()
        .strip_prefix("t=")
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let body = std::fs::read(payload).unwrap();
    let expected =
        caller_memory::inbound::http::signature::sign("dev-only-post-call-key", timestamp, &body);
    assert_eq!(header.trim(), expected);
}

#[test]
fn check_reports_every_backend_ok_with_the_dev_profile() {
    let data = tempfile::tempdir().unwrap();
    let report = succeeds(caller_memory(data.path()).args(["--dev", "check"]));
    assert!(report.contains("backends: ok"), "{report}");
    assert!(
        report.contains("ingestion: 0 pending, 0 failed, 0 memories not stored"),
        "{report}"
    );
    assert!(
        report.contains("(dev profile, embedded memory backend,"),
        "{report}"
    );
    assert!(
        report.contains("dev profile values: defaults and config/dev.toml"),
        "{report}"
    );
}

#[test]
fn check_fails_and_names_the_memory_store_when_openmemory_is_unreachable() {
    let data = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = caller_memory(data.path())
        .args(["--dev", "check"])
        .env("MEMORY_BACKEND", "openmemory")
        .env("OPENMEMORY_URL", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{report}");
    assert!(report.contains("backend problem: memory store"), "{report}");
    // The whole cause, down to the operating system's answer, and where it was asked.
    assert!(report.contains(&format!("127.0.0.1:{port}")), "{report}");
    assert!(report.contains("Connection refused"), "{report}");
}

#[test]
fn replay_learns_from_an_archived_transcription_and_counts_the_call_once() {
    let data = tempfile::tempdir().unwrap();
    let conversation = "conv_01jz8q4b7c2d9e3f5g6h8j0k1m";
    let folder = data.path().join(".dev-data/payloads").join(conversation);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/payloads/post_call_transcription.json"
        ),
        folder.join(format!("{conversation}_transcription.json")),
    )
    .unwrap();
    let card = data
        .path()
        .join(".dev-data/payloads/.state/profiles/14155550123.json");

    for _ in 0..2 {
        let report = succeeds(caller_memory(data.path()).args(["--dev", "replay", conversation]));
        assert!(report.contains("replay: 1 ingested, 0 skipped"), "{report}");
        let card: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&card).unwrap()).unwrap();
        assert_eq!(card["name"], "Maria");
        assert_eq!(card["call_count"], 1);
    }
}

#[test]
fn replay_refuses_an_unsafe_conversation_id() {
    let data = tempfile::tempdir().unwrap();
    let output = caller_memory(data.path())
        .args(["--dev", "replay", "../etc"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("conversation id \"../etc\""));
}

#[test]
fn a_second_server_or_a_replay_on_the_data_folder_of_a_running_server_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let running = crate::service_process::ServiceProcess::start_dev(data.path(), &[]);

    for command in [vec!["--dev", "serve"], vec!["--dev", "replay", "--all"]] {
        let output = caller_memory(data.path())
            .env("PORT", "0")
            .args(&command)
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "{command:?} ran beside the server"
        );
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.contains(".dev-data/payloads"), "{message}");
        assert!(
            message.contains("in use by another caller-memory process"),
            "{message}"
        );
    }

    running.stop();
    succeeds(caller_memory(data.path()).args(["--dev", "replay", "--all"]));
}

#[test]
fn a_file_url_keeps_the_objects_in_its_folder_and_a_second_server_on_it_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let objects = data.path().join("objects");
    let url = format!("file://{}", objects.display());
    let running =
        crate::service_process::ServiceProcess::start_dev(data.path(), &[("BLOB_STORE_URL", &url)]);
    let kept = crate::helpers::files_under(&objects);
    assert!(
        kept.iter().any(|file| file != ".lock"),
        "nothing was stored in the BLOB_STORE_URL folder: {kept:?}"
    );

    // Another data folder, the same folder of objects: refused at start, never serving.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut second = caller_memory(elsewhere.path())
        .env("PORT", "0")
        .env("BLOB_STORE_URL", &url)
        .args(["--dev", "serve"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            second.kill().unwrap();
            panic!("a second server runs on the folder of objects");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(!status.success());
    let mut message = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut message).unwrap();
    assert!(
        message.contains(&objects.display().to_string())
            && message.contains("in use by another caller-memory process"),
        "{message}"
    );
    running.stop();
}

//! `forget`, `export` and `reindex` as an operator runs them, with no server running.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::cli::{caller_memory, succeeds};

const MARIA: &str = "+14155550123";
const CONVERSATION: &str = "conv_01jz8q4b7c2d9e3f5g6h8j0k1m";
const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/payloads/post_call_transcription.json"
);

/// The dev profile in `data`, on a port nothing listens on, so the commands work on the stores.
fn command(data: &Path) -> Command {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = caller_memory(data);
    command.arg("--dev").env("PORT", port.to_string());
    command
}

fn archive(data: &Path) -> PathBuf {
    data.join(".dev-data/payloads")
}

/// Archives the sample call and a recording of it, as post-call would have.
fn archive_sample_call(data: &Path) {
    let folder = archive(data).join(CONVERSATION);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        SAMPLE,
        folder.join(format!("{CONVERSATION}_transcription.json")),
    )
    .unwrap();
    std::fs::write(
        folder.join(format!("{CONVERSATION}_audio.mp3")),
        b"ID3 recording",
    )
    .unwrap();
}

fn export_json(data: &Path) -> Value {
    let out = data.join("maria.json");
    succeeds(command(data).args(["export", MARIA, "--out"]).arg(&out));
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

#[test]
fn reindex_finds_calls_archived_before_the_index_existed() {
    let data = tempfile::tempdir().unwrap();
    archive_sample_call(data.path());
    assert_eq!(export_json(data.path())["calls"], Value::Array(vec![]));

    let report = succeeds(command(data.path()).arg("reindex"));

    assert!(report.contains("reindex: 1 calls indexed"), "{report}");
    let exported = export_json(data.path());
    assert_eq!(exported["calls"][0]["conversation_id"], CONVERSATION);
    assert_eq!(exported["calls"][0]["has_audio"], true);
}

#[test]
fn export_with_audio_writes_a_tar_with_the_recordings_and_forget_erases_them_for_good() {
    let data = tempfile::tempdir().unwrap();
    archive_sample_call(data.path());
    succeeds(command(data.path()).args(["replay", "--all"]));
    let out = data.path().join("maria.tar");

    succeeds(
        command(data.path())
            .args(["export", MARIA, "--audio", "--out"])
            .arg(&out),
    );

    let mut entries = tar::Archive::new(std::fs::File::open(&out).unwrap());
    let mut names = Vec::new();
    for entry in entries.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if name == "export.json" {
            let exported: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(exported["profile"]["name"], "Maria", "{exported}");
            assert_eq!(
                exported["memories"].as_array().unwrap().len(),
                6,
                "{exported}"
            );
        } else {
            assert_eq!(bytes, b"ID3 recording");
        }
        names.push(name);
    }
    assert_eq!(names, ["export.json", &format!("audio/{CONVERSATION}.mp3")]);

    let receipt: Value =
        serde_json::from_str(&succeeds(command(data.path()).args(["forget", MARIA]))).unwrap();
    assert_eq!(receipt["audio_files"], 1, "{receipt}");
    assert_eq!(receipt["transcripts"], 1, "{receipt}");
    assert_eq!(receipt["memories"], 6, "{receipt}");

    // The transcription comes back from a backup: a replay must not learn from it again.
    archive_sample_call(data.path());
    let replay = succeeds(command(data.path()).args(["replay", "--all"]));
    assert!(replay.contains("0 ingested, 1 skipped"), "{replay}");
    let exported = export_json(data.path());
    assert_eq!(exported["profile"], Value::Null, "{exported}");
    assert_eq!(exported["memories"], Value::Array(vec![]), "{exported}");
}

#[test]
fn sweep_deletes_what_is_past_its_period_and_prints_what_it_removed() {
    let data = tempfile::tempdir().unwrap();
    archive_sample_call(data.path());
    succeeds(command(data.path()).args(["replay", "--all"]));
    let folder = archive(data.path()).join(CONVERSATION);

    // The sample call took place on 2026-01-15.
    let report: Value = serde_json::from_str(&succeeds(
        command(data.path())
            .env("RETENTION_AUDIO_DAYS", "1")
            .env("RETENTION_MEMORY_DAYS", "1")
            .arg("sweep"),
    ))
    .unwrap();

    assert_eq!(report["audio_files"], 1, "{report}");
    assert_eq!(report["memories"], 6, "{report}");
    assert_eq!(report["transcripts"], 0, "{report}");
    assert_eq!(report["audio_days"], 1, "{report}");
    assert_eq!(report["transcript_days"], Value::Null, "{report}");
    assert!(!folder.join(format!("{CONVERSATION}_audio.mp3")).exists());
    assert!(folder
        .join(format!("{CONVERSATION}_transcription.json"))
        .exists());
    let exported = export_json(data.path());
    assert_eq!(exported["memories"], Value::Array(vec![]), "{exported}");
    assert_eq!(exported["profile"]["call_count"], 1, "{exported}");
    assert_eq!(exported["profile"]["name"], "Maria", "{exported}");
    assert_eq!(
        exported["profile"]["last_call"]["summary"],
        Value::Null,
        "{exported}"
    );
}

#[test]
fn sweep_refuses_a_retention_period_that_is_not_a_number_of_days() {
    let data = tempfile::tempdir().unwrap();

    let output = command(data.path())
        .env("RETENTION_TRANSCRIPT_DAYS", "0")
        .env("RETENTION_MEMORY_DAYS", "a month")
        .arg("sweep")
        .output()
        .unwrap();

    assert!(!output.status.success());
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        errors.contains(
            "RETENTION_TRANSCRIPT_DAYS must be a number of days from 1 to 36500, not \"0\""
        ),
        "{errors}"
    );
    assert!(
        errors.contains("RETENTION_MEMORY_DAYS must be a number of days"),
        "{errors}"
    );
}

//! `elevenlabs doctor`, `elevenlabs install-tool` and `backfill`, run as the binary against a
//! local fake of the ElevenLabs API.

use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};
use tokio::process::Command;

use crate::support::fake_elevenlabs::{
    agent_json, conversation_json, FakeElevenLabs, FAKE_API_KEY,
};

const HOST: &str = "https://memory.example.com";
const AGENT: &str = "agent_front_desk";
const MARIA: &str = "+14155550123";

/// The binary with the dev profile in `working_dir`, pointed at `fake` with `key`.
fn caller_memory(working_dir: &Path, fake: &FakeElevenLabs, key: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_caller-memory"));
    command
        .env_clear()
        .current_dir(working_dir)
        .arg("--dev")
        .env("ELEVENLABS_API_URL", fake.url().as_str())
        .env("RUST_LOG", "warn");
    if let Some(key) = key {
        command.env("ELEVENLABS_API_KEY", key);
    }
    command
}

struct Ran {
    success: bool,
    stdout: String,
    stderr: String,
}

async fn run(command: &mut Command, args: &[&str]) -> Ran {
    let Output {
        status,
        stdout,
        stderr,
    } = command.args(args).output().await.expect("the binary runs");
    Ran {
        success: status.success(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs the binary with the fake's key and fails the test with its output unless it succeeded.
async fn succeeds(folder: &Path, fake: &FakeElevenLabs, args: &[&str]) -> Ran {
    let ran = run(&mut caller_memory(folder, fake, Some(FAKE_API_KEY)), args).await;
    assert!(ran.success, "{}{}", ran.stdout, ran.stderr);
    ran
}

/// Runs the binary with `key` and fails the test unless the command failed.
async fn fails(folder: &Path, fake: &FakeElevenLabs, key: Option<&str>, args: &[&str]) -> Ran {
    let ran = run(&mut caller_memory(folder, fake, key), args).await;
    assert!(!ran.success, "{}", ran.stdout);
    ran
}

/// A workspace whose settings point at the service, for an agent configured as `agent`.
fn workspace_pointing_at_the_service(fake: &FakeElevenLabs, agent: Value) {
    fake.put_agent(agent);
    fake.set_workspace(
        json!({
            "conversation_initiation_client_data_webhook": {
                "url": format!("{HOST}/webhook/client-data"),
                "request_headers": {"X-Api-Key": {"secret_id": "secret_client"}}
            },
            "webhooks": {"post_call_webhook_id": "wh_1", "events": ["transcript", "audio", "call_initiation_failure"]},
            "can_use_mcp_servers": false
        }),
        vec![json!({
            "name": "caller memory", "webhook_id": "wh_1", "webhook_url": format!("{HOST}/webhook/post-call"),
            "is_disabled": false, "is_auto_disabled": false, "created_at_unix": 1_767_225_600,
            "auth_type": "hmac", "retry_enabled": true
        })],
    );
}

#[tokio::test]
async fn doctor_reports_each_problem_with_its_fix_and_fails_then_passes_once_fixed() {
    let fake = FakeElevenLabs::start().await;
    workspace_pointing_at_the_service(&fake, agent_json(AGENT, false));
    let folder = tempfile::tempdir().unwrap();
    let doctor = [
        "elevenlabs",
        "doctor",
        "--agent",
        AGENT,
        "--public-url",
        HOST,
    ];

    let broken = fails(folder.path(), &fake, Some(FAKE_API_KEY), &doctor).await;
    assert!(
        broken
            .stdout
            .contains("ok       conversation-initiation webhook"),
        "{}",
        broken.stdout
    );
    assert!(
        broken.stdout.contains("PROBLEM  first-message override"),
        "{}",
        broken.stdout
    );
    assert!(
        broken.stdout.contains("FIRST_MESSAGE_OVERRIDE=false"),
        "{}",
        broken.stdout
    );
    assert!(
        broken.stdout.contains("PROBLEM  search tool"),
        "{}",
        broken.stdout
    );
    assert!(
        broken.stdout.contains(&format!(
            "caller-memory elevenlabs install-tool --agent {AGENT} --url {HOST}/webhook/search-data"
        )),
        "{}",
        broken.stdout
    );
    assert!(
        broken.stderr.contains("2 problem(s) found"),
        "{}",
        broken.stderr
    );

    fake.put_agent(agent_json(AGENT, true));
    succeeds(
        folder.path(),
        &fake,
        &[
            "elevenlabs",
            "install-tool",
            "--agent",
            AGENT,
            "--url",
            &format!("{HOST}/webhook/search-data"),
        ],
    )
    .await;
    let fixed = succeeds(folder.path(), &fake, &doctor).await;
    assert!(
        fixed.stdout.contains("no problem found"),
        "{}",
        fixed.stdout
    );
}

#[tokio::test]
async fn doctor_names_an_unknown_agent_a_refused_key_and_a_missing_key() {
    let fake = FakeElevenLabs::start().await;
    workspace_pointing_at_the_service(&fake, agent_json(AGENT, true));
    let folder = tempfile::tempdir().unwrap();
    let unknown = fails(
        folder.path(),
        &fake,
        Some(FAKE_API_KEY),
        &["elevenlabs", "doctor", "--agent", "agent_nobody"],
    )
    .await;
    assert!(
        unknown
            .stderr
            .contains("--agent: the workspace has no agent agent_nobody"),
        "{}",
        unknown.stderr
    );

    let refused = fails(
        folder.path(),
        &fake,
        Some("wrong-key"),
        &["elevenlabs", "doctor", "--agent", AGENT],
    )
    .await;
    assert!(
        refused
            .stderr
            .contains("refused the key (401): invalid_api_key"),
        "{}",
        refused.stderr
    );

    let requests_before = fake.requests().len();
    let missing = fails(
        folder.path(),
        &fake,
        None,
        &["elevenlabs", "doctor", "--agent", AGENT],
    )
    .await;
    assert!(
        missing.stderr.contains("ELEVENLABS_API_KEY is not set"),
        "{}",
        missing.stderr
    );
    assert_eq!(
        fake.requests().len(),
        requests_before,
        "nothing is sent without a key"
    );
}

#[tokio::test]
async fn install_tool_creates_the_tool_once_and_attaches_it_once_even_when_rate_limited() {
    let fake = FakeElevenLabs::start().await;
    let mut agent = agent_json(AGENT, true);
    agent["conversation_config"]["agent"]["prompt"]["tool_ids"] = json!(["tool_existing"]);
    fake.put_agent(agent);
    let folder = tempfile::tempdir().unwrap();
    let url = format!("{HOST}/webhook/search-data");
    let args = [
        "elevenlabs",
        "install-tool",
        "--agent",
        AGENT,
        "--url",
        url.as_str(),
    ];

    fake.rate_limit(2, 0);
    let first = succeeds(folder.path(), &fake, &args).await;
    assert!(first.stdout.contains(": created"), "{}", first.stdout);
    let second = succeeds(folder.path(), &fake, &args).await;
    assert!(
        second
            .stdout
            .contains("attached to agent agent_front_desk: yes (already)"),
        "{}",
        second.stdout
    );

    let tools = fake.tools();
    assert_eq!(tools.len(), 1, "{tools:?}");
    let schema = &tools[0]["tool_config"]["api_schema"];
    assert_eq!(schema["url"], url);
    let secrets = fake.secrets();
    assert_eq!(secrets.len(), 1);
    assert_eq!(
        secrets[0]["value"], "dev-only-search-data-key",
        "the configured search key"
    );
    assert_eq!(
        schema["request_headers"]["X-Api-Key"]["secret_id"],
        secrets[0]["secret_id"]
    );
    let tool_ids = &fake.agent(AGENT)["conversation_config"]["agent"]["prompt"]["tool_ids"];
    assert_eq!(tool_ids, &json!(["tool_existing", tools[0]["id"]]));
}

#[tokio::test]
async fn install_tool_refuses_a_wrong_url_before_calling_the_api() {
    let fake = FakeElevenLabs::start().await;
    let folder = tempfile::tempdir().unwrap();
    let refused = fails(
        folder.path(),
        &fake,
        Some(FAKE_API_KEY),
        &[
            "elevenlabs",
            "install-tool",
            "--agent",
            AGENT,
            "--url",
            "https://memory.example.com/webhook/post-call",
        ],
    )
    .await;
    assert!(refused.stderr.contains("--url"), "{}", refused.stderr);
    assert!(fake.requests().is_empty());
}

fn past_calls(fake: &FakeElevenLabs, count: i64) {
    for index in 0..count {
        fake.add_conversation(conversation_json(
            &format!("conv_past_{index}"),
            AGENT,
            MARIA,
            1_767_225_600 + index * 86_400,
            &format!("Please remember my order number {index}."),
        ));
    }
}

fn profile_card(folder: &Path) -> Value {
    let card = folder.join(".dev-data/payloads/.state/profiles/14155550123.json");
    serde_json::from_slice(&std::fs::read(&card).expect("a profile card")).unwrap()
}

#[tokio::test]
async fn backfill_archives_and_learns_every_finished_call_once_across_runs() {
    let fake = FakeElevenLabs::start().await;
    fake.set_page_size(2);
    past_calls(&fake, 5);
    let mut live = conversation_json("conv_live", AGENT, MARIA, 1_767_225_600, "still talking");
    live["status"] = json!("in-progress");
    fake.add_conversation(live);
    fake.add_conversation(conversation_json(
        "conv_other_agent",
        "agent_other",
        "+34911234567",
        1_767_225_600,
        "hola",
    ));
    fake.rate_limit(2, 1);
    let folder = tempfile::tempdir().unwrap();

    let first = succeeds(folder.path(), &fake, &["backfill", "--agent", AGENT]).await;
    assert!(first.stdout.contains("backfill: 6 listed, 5 archived (5 learnt, 0 with nothing learnt), 0 already archived, 1 unfinished, 0 could not be fetched"), "{}", first.stdout);
    assert!(
        first.stderr.contains("fetched 5/5 (100%)"),
        "{}",
        first.stderr
    );
    for index in 0..5 {
        let archived = folder.path().join(format!(
            ".dev-data/payloads/conv_past_{index}/conv_past_{index}_transcription.json"
        ));
        let body: Value = serde_json::from_slice(&std::fs::read(&archived).unwrap()).unwrap();
        assert_eq!(body["type"], "post_call_transcription");
        assert_eq!(
            body["data"]["conversation_id"],
            format!("conv_past_{index}")
        );
    }
    assert!(!folder
        .path()
        .join(".dev-data/payloads/conv_other_agent")
        .exists());
    let card = profile_card(folder.path());
    assert_eq!(card["call_count"], 5, "{card}");
    assert_eq!(card["name"], "Maria", "{card}");

    let second = succeeds(folder.path(), &fake, &["backfill", "--agent", AGENT]).await;
    assert!(second.stdout.contains("0 archived"), "{}", second.stdout);
    assert!(
        second.stdout.contains("5 already archived"),
        "{}",
        second.stdout
    );
    for index in 0..5 {
        assert_eq!(
            fake.count(
                "GET",
                &format!("/v1/convai/conversations/conv_past_{index}")
            ),
            1
        );
    }
    assert_eq!(profile_card(folder.path())["call_count"], 5);
    let listings: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|request| request.path == "/v1/convai/conversations")
        .collect();
    assert!(listings
        .iter()
        .all(|request| request.query.contains("agent_id=agent_front_desk")));
    assert!(listings
        .iter()
        .any(|request| request.query.contains("cursor=cur_2")));
}

#[tokio::test]
async fn an_interrupted_backfill_resumes_without_fetching_a_call_twice() {
    let fake = FakeElevenLabs::start().await;
    fake.set_page_size(2);
    past_calls(&fake, 5);
    // Listed newest first: 4, 3, 2, 1, 0.
    fake.fail_conversation("conv_past_2");
    let folder = tempfile::tempdir().unwrap();

    let stopped = fails(
        folder.path(),
        &fake,
        Some(FAKE_API_KEY),
        &["backfill", "--since", "2026-01-01"],
    )
    .await;
    assert!(
        stopped
            .stderr
            .contains("the conversation history is unavailable"),
        "{}",
        stopped.stderr
    );
    assert!(folder
        .path()
        .join(".dev-data/payloads/.state/backfill/progress.json")
        .exists());
    assert_eq!(profile_card(folder.path())["call_count"], 2);

    fake.heal();
    let resumed = succeeds(folder.path(), &fake, &["backfill", "--since", "2026-01-01"]).await;
    assert!(
        resumed.stdout.contains("5 listed, 5 archived"),
        "{}",
        resumed.stdout
    );
    for index in [0, 1, 3, 4] {
        assert_eq!(
            fake.count(
                "GET",
                &format!("/v1/convai/conversations/conv_past_{index}")
            ),
            1,
            "{index}"
        );
    }
    assert_eq!(profile_card(folder.path())["call_count"], 5);
    assert!(!folder
        .path()
        .join(".dev-data/payloads/.state/backfill/progress.json")
        .exists());
    let since = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .timestamp();
    assert!(fake.requests().iter().any(|request| request
        .query
        .contains(&format!("call_start_after_unix={since}"))));
}

#[tokio::test]
async fn check_reports_whether_the_elevenlabs_api_accepts_the_key() {
    let fake = FakeElevenLabs::start().await;
    let folder = tempfile::tempdir().unwrap();
    let accepted = succeeds(folder.path(), &fake, &["check"]).await;
    assert!(
        accepted.stdout.contains("elevenlabs api: ok"),
        "{}",
        accepted.stdout
    );
    let refused = fails(folder.path(), &fake, Some("wrong-key"), &["check"]).await;
    assert!(
        refused.stdout.contains("backend problem: elevenlabs api")
            && refused.stdout.contains("invalid_api_key"),
        "{}",
        refused.stdout
    );
}

#[tokio::test]
async fn a_command_gives_up_on_a_rate_limit_that_never_lifts_and_says_so() {
    let fake = FakeElevenLabs::start().await;
    fake.put_agent(agent_json(AGENT, true));
    fake.rate_limit(usize::MAX, 0);
    let folder = tempfile::tempdir().unwrap();
    let limited = fails(
        folder.path(),
        &fake,
        Some(FAKE_API_KEY),
        &["elevenlabs", "doctor", "--agent", AGENT],
    )
    .await;
    assert!(
        limited
            .stderr
            .contains("rate limited by the ElevenLabs API (429) after 9 attempts"),
        "{}",
        limited.stderr
    );
    assert_eq!(fake.count("GET", &format!("/v1/convai/agents/{AGENT}")), 9);
}

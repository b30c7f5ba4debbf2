//! A caller's data under their control: the administration API erases and exports everything
//! held about one caller, with each memory backend, and an erased call never comes back.

use std::path::Path;

use serde_json::Value;

use crate::calls::{as_expected, assert_greeted_after_one_call, Call, Webhooks};
use crate::helpers::{json_body, Backend, TestApp, CLIENT_DATA_KEY, POST_CALL_KEY};

const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// A second call of Maria's, so that she has more than one call to erase.
fn marias_second_call() -> Value {
    let mut event = Call::maria().transcription();
    event["data"]["conversation_id"] = "conv_maria_second_call_0002".into();
    event
}

async fn service_with_admin(backend: &Backend) -> TestApp {
    TestApp::spawn_service(backend, &[("ADMIN_API_KEY", ADMIN_KEY)]).await
}

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("request sent")
}

async fn forget(app: &TestApp, number: &str) -> Value {
    let path = format!("/admin/callers/{}", number.replace('+', "%2B"));
    let response = admin(app, reqwest::Method::DELETE, &path, Some(ADMIN_KEY)).await;
    assert_eq!(response.status(), 200);
    json_body(response).await
}

async fn export(app: &TestApp, number: &str) -> Value {
    let path = format!("/admin/callers/{number}/export");
    let response = admin(app, reqwest::Method::GET, &path, Some(ADMIN_KEY)).await;
    assert_eq!(response.status(), 200);
    json_body(response).await
}

/// Delivers Maria's two calls and Juan's call, and waits until all are learnt.
async fn two_callers(webhooks: &Webhooks) {
    webhooks.deliver_call(&Call::maria().transcription()).await;
    webhooks.deliver_call(&marias_second_call()).await;
    webhooks.deliver_call(&Call::juan().transcription()).await;
    webhooks.wait_until_learnt().await;
}

/// The forms a number can be written in: E.164, digits only, national, spaced.
fn number_forms() -> [&'static str; 5] {
    [
        "+14155550123",
        "14155550123",
        "4155550123",
        "415 555 0123",
        "(415) 555-0123",
    ]
}

fn without_scores(mut found: Value) -> Value {
    for memory in found["memories"].as_array_mut().expect("memories") {
        memory.as_object_mut().expect("a memory").remove("score");
    }
    found
}

/// How many files are in `folder` (0 when it does not exist).
fn files_in(folder: &Path) -> usize {
    std::fs::read_dir(folder).map_or(0, |entries| entries.count())
}

/// Every file under `folder` whose name or bytes contain one of `needles`.
fn files_containing(folder: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(current) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            let name = path.display().to_string();
            for needle in needles {
                let in_bytes = bytes
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes());
                if in_bytes || name.contains(needle) {
                    found.push(format!("{name} holds {needle:?}"));
                }
            }
        }
    }
    found
}

async fn forgetting_a_caller_leaves_no_trace_of_them_and_spares_others(backend: Backend) {
    let app = service_with_admin(&backend).await;
    let webhooks = app.webhooks();
    two_callers(&webhooks).await;
    let (maria, juan) = (Call::maria(), Call::juan());
    let juans_search_before = webhooks.search(juan.number, "crown molar", 5).await;

    let receipt = forget(&app, maria.number).await;

    assert_eq!(receipt["conversations"], 2, "{receipt}");
    assert_eq!(receipt["transcripts"], 2, "{receipt}");
    assert_eq!(
        receipt["memories"],
        2 * maria.expected_memories().len(),
        "{receipt}"
    );
    assert_eq!(receipt["profile_cards"], 1, "{receipt}");
    assert!(!receipt.to_string().contains("5550123"), "{receipt}");
    let greeting = webhooks.greet(maria.number).await;
    assert_eq!(
        greeting["dynamic_variables"]["is_returning_caller"], false,
        "{greeting}"
    );
    let found = webhooks
        .search(maria.number, "cleaning appointment Friday", 20)
        .await;
    assert_eq!(found["memories"], Value::Array(vec![]), "{found}");
    // Juan's transcription is the sample rewritten, so the agent's words about Maria stay in it;
    // the archive is checked for her number and her calls' files.
    let mut traces = files_containing(&app.archive(), &number_forms());
    for conversation in [maria.conversation, "conv_maria_second_call_0002"] {
        assert_eq!(
            files_in(&app.archive().join(conversation)),
            0,
            "{conversation}"
        );
    }
    match &backend {
        Backend::Embedded => {
            let database = app.memory_database();
            let needles = [&number_forms()[..], &["Lopez", "cleaning appointment"]].concat();
            for suffix in ["", "-wal"] {
                let file = format!("{}{suffix}", database.display());
                let bytes = std::fs::read(&file).unwrap_or_default();
                for needle in &needles {
                    if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                        traces.push(format!("{file} holds {needle:?}"));
                    }
                }
            }
        }
        Backend::OpenMemory(fake) => {
            assert!(fake.memories_of(maria.number).is_empty());
            // A long memory is kept in parts (`<key>#2`...): count the memories, not the parts.
            let everyone: Vec<_> = fake
                .memories_of(juan.number)
                .into_iter()
                .filter(|memory| !memory.metadata["key"].as_str().unwrap_or("").contains('#'))
                .collect();
            assert_eq!(everyone.len(), juan.expected_memories().len());
        }
        Backend::Postgres(database) => {
            let rows = database
                .connect()
                .await
                .query(
                    "SELECT caller, content FROM memories \
                     WHERE caller = $1 OR content LIKE '%Lopez%' OR content LIKE '%cleaning appointment%'",
                    &[&maria.number],
                )
                .await
                .unwrap();
            for row in rows {
                traces.push(format!(
                    "a memory of {}: {}",
                    row.get::<_, String>(0),
                    row.get::<_, String>(1)
                ));
            }
        }
    }
    assert!(traces.is_empty(), "{traces:#?}");
    assert_greeted_after_one_call(&webhooks.greet(juan.number).await, &juan);
    // BM25 scores depend on the whole store, so the answer is compared without them.
    assert_eq!(
        without_scores(webhooks.search(juan.number, "crown molar", 5).await),
        without_scores(juans_search_before)
    );
    let again = forget(&app, maria.number).await;
    assert_eq!(
        (again["conversations"].clone(), again["memories"].clone()),
        (0.into(), 0.into())
    );
}

#[tokio::test]
async fn forgetting_a_caller_in_the_embedded_store_leaves_no_trace_and_spares_others() {
    forgetting_a_caller_leaves_no_trace_of_them_and_spares_others(Backend::Embedded).await;
}

#[tokio::test]
async fn forgetting_a_caller_in_postgres_leaves_no_trace_and_spares_others() {
    forgetting_a_caller_leaves_no_trace_of_them_and_spares_others(Backend::postgres().await).await;
}

#[tokio::test]
async fn forgetting_a_caller_in_openmemory_leaves_no_trace_and_spares_others() {
    forgetting_a_caller_leaves_no_trace_of_them_and_spares_others(Backend::openmemory().await)
        .await;
}

#[tokio::test]
async fn a_retried_delivery_of_an_erased_call_is_acknowledged_and_stores_nothing() {
    let backend = Backend::Embedded;
    let app = service_with_admin(&backend).await;
    let webhooks = app.webhooks();
    let maria = Call::maria();
    webhooks.deliver_call(&maria.transcription()).await;
    webhooks.wait_until_learnt().await;
    forget(&app, maria.number).await;

    let retried = webhooks
        .deliver(maria.transcription().to_string().as_bytes())
        .await;

    assert_eq!(retried.status(), 200);
    webhooks.wait_until_learnt().await;
    assert_eq!(files_in(&app.archive().join(maria.conversation)), 0);
    let greeting = webhooks.greet(maria.number).await;
    assert_eq!(
        greeting["dynamic_variables"]["is_returning_caller"], false,
        "{greeting}"
    );
    assert!(files_containing(&app.archive(), &["+14155550123"]).is_empty());
}

#[tokio::test]
async fn a_new_call_after_an_erasure_is_remembered_as_usual() {
    let app = service_with_admin(&Backend::Embedded).await;
    let webhooks = app.webhooks();
    let maria = Call::maria();
    webhooks.deliver_call(&maria.transcription()).await;
    webhooks.wait_until_learnt().await;
    forget(&app, maria.number).await;

    webhooks.deliver_call(&marias_second_call()).await;
    webhooks.wait_until_learnt().await;

    let greeting = webhooks.greet(maria.number).await;
    assert_eq!(
        greeting["dynamic_variables"]["previous_call_count"], 1,
        "{greeting}"
    );
}

#[tokio::test]
async fn an_export_holds_everything_the_stores_held_and_is_empty_after_forgetting() {
    let backend = Backend::openmemory().await;
    let app = service_with_admin(&backend).await;
    let webhooks = app.webhooks();
    two_callers(&webhooks).await;
    let maria = Call::maria();

    let exported = export(&app, maria.number).await;

    assert_eq!(exported["caller"], maria.number);
    assert_eq!(exported["profile"]["name"], "Maria", "{exported}");
    assert_eq!(exported["profile"]["call_count"], 2, "{exported}");
    let memories: Vec<String> = exported["memories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|memory| memory["content"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = maria.expected_memories();
    expected.extend(maria.expected_memories());
    expected.sort();
    assert_eq!(as_expected(memories.clone(), &expected), expected);
    let calls = exported["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "{exported}");
    let first = calls
        .iter()
        .find(|call| call["conversation_id"] == maria.conversation)
        .expect("the first call is exported");
    assert_eq!(first["transcription"], maria.transcription());
    assert!(memories.iter().all(|memory| !memory.contains("Juan")));

    forget(&app, maria.number).await;
    let after = export(&app, maria.number).await;
    assert_eq!(after["profile"], Value::Null, "{after}");
    assert_eq!(after["memories"], Value::Array(vec![]), "{after}");
    assert_eq!(after["calls"], Value::Array(vec![]), "{after}");
}

#[tokio::test]
async fn the_administration_api_needs_its_own_key_and_is_off_without_one() {
    let app = service_with_admin(&Backend::Embedded).await;
    let path = "/admin/callers/%2B14155550123";
    for key in [
        None,
        Some(CLIENT_DATA_KEY),
        Some(POST_CALL_KEY),
        Some("wrong"),
    ] {
        let response = admin(&app, reqwest::Method::DELETE, path, key).await;
        assert_eq!(response.status(), 401, "{key:?}");
        let body = json_body(response).await;
        assert_eq!(body["error"], "unauthorized");
        // The administration API names its own credential, never the webhooks' header.
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("Authorization: Bearer"), "{message}");
        let why = if key.is_none() {
            "missing"
        } else {
            "does not match"
        };
        assert!(message.contains(why), "{key:?} -> {message}");
    }
    let bad = admin(
        &app,
        reqwest::Method::DELETE,
        "/admin/callers/555-0123",
        Some(ADMIN_KEY),
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert!(json_body(bad).await["message"]
        .as_str()
        .unwrap()
        .contains("phone"));

    let without = TestApp::spawn_service(&Backend::Embedded, &[]).await;
    let off = admin(&without, reqwest::Method::DELETE, path, Some(ADMIN_KEY)).await;
    assert_eq!(off.status(), 404);
    assert_eq!(json_body(off).await["error"], "not_found");
}

#[tokio::test]
async fn a_caller_marked_not_to_be_remembered_is_archived_but_never_learnt() {
    let app = service_with_admin(&Backend::Embedded).await;
    let webhooks = app.webhooks();
    let (maria, juan) = (Call::maria(), Call::juan());
    let marked = admin(
        &app,
        reqwest::Method::PUT,
        "/admin/callers/+14155550123/do-not-remember",
        Some(ADMIN_KEY),
    )
    .await;
    assert_eq!(marked.status(), 200);
    // Juan asks during his call, through the data-collection field.
    let mut juans_call = juan.transcription();
    juans_call["data"]["analysis"]["data_collection_results"]["do_not_remember"] =
        serde_json::json!({"data_collection_id": "do_not_remember", "value": "yes"});

    webhooks.deliver_call(&maria.transcription()).await;
    webhooks.deliver_call(&juans_call).await;
    webhooks.wait_until_learnt().await;

    for (call, number) in [(&maria, maria.number), (&juan, juan.number)] {
        let greeting = webhooks.greet(number).await;
        assert_eq!(
            greeting["dynamic_variables"]["is_returning_caller"], false,
            "{greeting}"
        );
        let found = webhooks.search(number, "appointment crown", 20).await;
        assert_eq!(found["memories"], Value::Array(vec![]), "{found}");
        assert_eq!(files_in(&app.archive().join(call.conversation)), 1);
    }
    let receipt = forget(&app, maria.number).await;
    assert_eq!(receipt["transcripts"], 1, "{receipt}");
}

//! Finished calls as ElevenLabs sends them, and the webhooks a test drives them through, against
//! an in-process app or a service process alike.

use std::time::{Duration, Instant};

use caller_memory::inbound::http::signature::sign;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::helpers::{json_body, Backend, CLIENT_DATA_KEY, POST_CALL_KEY, SEARCH_DATA_KEY};
use crate::profiles::{JUAN, MARIA};

/// The sample transcription, byte for byte.
pub const SAMPLE: &[u8] = include_bytes!("../../payloads/post_call_transcription.json");

/// The longest a test waits for ingestion to finish.
const INGESTION_DEADLINE: Duration = Duration::from_secs(8);

/// What one finished call says about its caller.
#[derive(Debug, Clone)]
pub struct Call {
    pub number: &'static str,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub conversation: &'static str,
    pub summary: &'static str,
    /// What the caller said, in order (the sample has four caller turns; the last is a goodbye).
    pub sentences: [&'static str; 4],
}

/// The agent turns of the sample before the first three caller turns, as an exchange keeps them
/// (the leading "Sure." of the third is a pleasantry and is dropped).
const AGENT_QUESTIONS: [&str; 3] = [
    "Hi, thanks for calling Sunrise Dental. This is Ava. Who am I speaking with?",
    "Nice to meet you, Maria. How can I help you today?",
    "I have Friday the 23rd at 10:30 in the morning or 2:15 in the afternoon. Which works better?",
];

impl Call {
    /// The sample transcription's own call.
    pub fn maria() -> Self {
        Call {
            number: MARIA,
            first_name: "Maria",
            last_name: "Lopez",
            conversation: "conv_01jz8q4b7c2d9e3f5g6h8j0k1m",
            summary: "Maria Lopez called Sunrise Dental to move next week's cleaning to a Friday. \
                      The agent offered Friday the 23rd at 10:30 or 2:15; Maria chose 2:15 and \
                      the agent confirmed the booking. No other requests were made.",
            sentences: [
                "Hi Ava, this is Maria Lopez.",
                "I'd like to move my cleaning appointment next week to a Friday if possible.",
                "2:15 works for me.",
                "No, that's all. Thanks!",
            ],
        }
    }

    /// Another caller of the same agent, with nothing in common with Maria's call.
    pub fn juan() -> Self {
        Call {
            number: JUAN,
            first_name: "Juan",
            last_name: "Garcia",
            conversation: "conv_juan_crown_repair_0001",
            summary: "Juan Garcia called about a loose crown on a lower molar; the agent booked \
                      an urgent repair visit on Monday morning.",
            sentences: [
                "Buenos dias, soy Juan Garcia.",
                "The crown on my lower molar came loose while eating toffee.",
                "Monday morning suits me perfectly.",
                "Gracias, adios.",
            ],
        }
    }

    /// The sample transcription rewritten for this call.
    pub fn transcription(&self) -> Value {
        let mut event = addressed_sample(self.number, self.conversation);
        let data = &mut event["data"];
        let analysis = &mut data["analysis"];
        analysis["transcript_summary"] = json!(self.summary);
        analysis["data_collection_results"]["first_name"]["value"] = json!(self.first_name);
        analysis["data_collection_results"]["last_name"]["value"] = json!(self.last_name);
        let user_turns = data["transcript"]
            .as_array_mut()
            .expect("a transcript")
            .iter_mut()
            .filter(|turn| turn["role"] == "user");
        for (turn, sentence) in user_turns.zip(self.sentences) {
            turn["message"] = json!(sentence);
        }
        event
    }

    /// The exchanges this call should leave: each of the first three sentences with the agent
    /// question it answers; the goodbye is filler.
    pub fn exchanges(&self) -> Vec<String> {
        AGENT_QUESTIONS
            .iter()
            .zip(self.sentences)
            .map(|(question, sentence)| format!("Agent asked: {question} Caller: {sentence}"))
            .collect()
    }

    /// Every memory this call should leave, as text: the facts, the summary, each exchange.
    pub fn expected_memories(&self) -> Vec<String> {
        let mut expected = vec![
            format!("first_name: {}", self.first_name),
            format!("last_name: {}", self.last_name),
            self.summary.to_owned(),
        ];
        expected.extend(self.exchanges());
        expected.sort();
        expected
    }
}

/// The sample transcription as the call `conversation` with the caller `number`.
pub fn addressed_sample(number: &str, conversation: &str) -> Value {
    let mut event: Value = serde_json::from_slice(SAMPLE).expect("the sample is JSON");
    let data = &mut event["data"];
    data["conversation_id"] = json!(conversation);
    data["metadata"]["phone_call"]["external_number"] = json!(number);
    let variables = &mut data["conversation_initiation_client_data"]["dynamic_variables"];
    variables["system__caller_id"] = json!(number);
    variables["system__conversation_id"] = json!(conversation);
    event
}

/// `stored` memories, each replaced by the one of `expected` it is a stored form of (see
/// [`is_stored_form_of`]), sorted: comparable with `expected`, repeats and strangers included.
pub fn as_expected(stored: Vec<String>, expected: &[String]) -> Vec<String> {
    let mut mapped: Vec<String> = stored
        .into_iter()
        .map(|stored| {
            expected
                .iter()
                .find(|memory| is_stored_form_of(&stored, memory))
                .cloned()
                .unwrap_or(stored)
        })
        .collect();
    mapped.sort();
    mapped
}

/// Whether `stored` is `memory` or, for an exchange kept by a server that condenses long
/// content, its shortened form: the end of the agent's words and the caller's whole answer.
pub fn is_stored_form_of(stored: &str, memory: &str) -> bool {
    fn after_prefix(exchange: &str) -> Option<&str> {
        exchange
            .strip_prefix("Agent asked: ")
            .or_else(|| exchange.strip_prefix("Agent said: "))
    }
    if stored == memory {
        return true;
    }
    let Some(whole) = after_prefix(memory) else {
        return false;
    };
    let end = after_prefix(stored).map_or(stored, |end| end.trim_start_matches('…'));
    end.contains("Caller: ") && whole.ends_with(end)
}

/// Waits until `condition` holds, checking every 20 ms; fails naming `what` after the deadline.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + INGESTION_DEADLINE;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {INGESTION_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sample transcription with no phone number anywhere: no external number, no caller id
/// variable, no user id.
pub fn transcription_without_a_caller_number() -> Value {
    let mut event = Call::maria().transcription();
    let data = &mut event["data"];
    data["user_id"] = Value::Null;
    data["conversation_initiation_client_data"]["user_id"] = Value::Null;
    remove(&mut data["metadata"]["phone_call"], "external_number");
    remove(
        &mut data["conversation_initiation_client_data"]["dynamic_variables"],
        "system__caller_id",
    );
    event
}

fn remove(object: &mut Value, field: &str) {
    object
        .as_object_mut()
        .expect("an object")
        .remove(field)
        .expect("the field was there");
}

/// Whether the ingestion figures of a `/ready` answer were counted at `since` or later: an
/// instance answers figures it counted up to `PENDING_SCAN_MS` earlier.
pub fn counted_since(readiness: &Value, since: DateTime<Utc>) -> bool {
    readiness["ingestions_counted_at"]
        .as_str()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .is_some_and(|at| at >= since)
}

/// The webhooks of a running service, with the test keys.
#[derive(Clone)]
pub struct Webhooks {
    base: String,
    client: reqwest::Client,
}

impl Webhooks {
    /// `base` is `http://host:port`.
    pub fn at(base: &str) -> Self {
        Webhooks {
            base: base.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// Sends a post-call event signed now, as ElevenLabs does.
    pub async fn deliver(&self, body: &[u8]) -> reqwest::Response {
        let signature = sign(POST_CALL_KEY, chrono::Utc::now().timestamp(), body);
        self.client
            .post(format!("{}/webhook/post-call", self.base))
            .header("content-type", "application/json")
            .header("elevenlabs-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .expect("post-call sent")
    }

    /// Delivers a transcription and requires the 200 that acknowledges it.
    pub async fn deliver_call(&self, transcription: &Value) {
        let response = self.deliver(transcription.to_string().as_bytes()).await;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "post-call refused the transcription: {body}");
    }

    /// The `/ready` body, whatever its status (503 while a backend is down).
    pub async fn readiness(&self) -> Value {
        let response = self
            .client
            .get(format!("{}/ready", self.base))
            .send()
            .await
            .expect("ready sent");
        json_body(response).await
    }

    /// Waits until no call is pending ingestion and requires that none failed; fails with the
    /// last `/ready` answer otherwise.
    pub async fn wait_until_learnt(&self) -> Value {
        self.wait_until_learnt_within(INGESTION_DEADLINE).await
    }

    /// [`Webhooks::wait_until_learnt`] for a backlog that needs more than the usual deadline.
    pub async fn wait_until_learnt_within(&self, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        let since = Utc::now();
        loop {
            let readiness = self.readiness().await;
            if readiness["pending_ingestions"] == 0 && counted_since(&readiness, since) {
                assert_eq!(readiness["failed_ingestions"], 0, "{readiness}");
                return readiness;
            }
            assert!(
                Instant::now() < deadline,
                "ingestion did not finish within {limit:?}: {readiness}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What client-data answers when `number` rings.
    pub async fn greet(&self, number: &str) -> Value {
        self.post(
            "/webhook/client-data",
            CLIENT_DATA_KEY,
            json!({"caller_id": number}),
        )
        .await
    }

    /// What search-data answers `number` asking `query`.
    pub async fn search(&self, number: &str, query: &str, limit: u32) -> Value {
        self.post(
            "/webhook/search-data",
            SEARCH_DATA_KEY,
            json!({"query": query, "caller_id": number, "limit": limit}),
        )
        .await
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> Value {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("x-api-key", key)
            .json(&body)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200, "{path} for {body}");
        json_body(response).await
    }

    /// Every memory stored for `number`, as text, sorted: read in the fake server for OpenMemory
    /// (all of them), through search-data for the other stores (up to its limit of 20, enough
    /// to see any repeat of a seven-memory call).
    pub async fn stored_memories(&self, backend: &Backend, number: &str) -> Vec<String> {
        let mut contents: Vec<String> = match backend {
            Backend::OpenMemory(fake) => {
                // A long memory is stored in parts keyed `<key>`, `<key>#2`...: joined again.
                let mut parts: Vec<(String, String, u32, String)> = fake
                    .memories_of(number)
                    .iter()
                    .map(|memory| {
                        let key = memory.metadata["key"].as_str().unwrap_or_default();
                        let (base, part) = key
                            .split_once('#')
                            .map_or((key, 1), |(base, n)| (base, n.parse().unwrap_or(0)));
                        let conversation = memory.metadata["conversation_id"].to_string();
                        let text = without_marker(&memory.content).to_owned();
                        (conversation, base.to_owned(), part, text)
                    })
                    .collect();
                parts.sort();
                let mut whole: Vec<(String, String, String)> = Vec::new();
                for (conversation, base, _, text) in parts {
                    match whole.last_mut() {
                        Some((c, b, joined)) if *c == conversation && *b == base => {
                            joined.push(' ');
                            joined.push_str(&text);
                        }
                        _ => whole.push((conversation, base, text)),
                    }
                }
                whole.into_iter().map(|(_, _, text)| text).collect()
            }
            Backend::Embedded | Backend::Postgres(_) => {
                // A query that names no topic returns the caller's most recent memories.
                let found = self.search(number, "?", 20).await;
                found["memories"]
                    .as_array()
                    .expect("a list of memories")
                    .iter()
                    .map(|memory| memory["content"].as_str().unwrap().to_owned())
                    .collect()
            }
        };
        contents.sort();
        contents
    }

    /// Asserts that `call` was learnt completely and once: each of its memories stored exactly
    /// once, and its caller greeted as having called once.
    pub async fn assert_learnt_once(&self, backend: &Backend, call: &Call) {
        let expected = call.expected_memories();
        let stored = as_expected(self.stored_memories(backend, call.number).await, &expected);
        assert_eq!(stored, expected, "the memories of {}", call.first_name);
        assert_greeted_after_one_call(&self.greet(call.number).await, call);
    }
}

/// The text of a memory as OpenMemory stores it, `[cm <kind> <time> <conversation>] <text>`.
fn without_marker(stored: &str) -> &str {
    stored
        .strip_prefix("[cm ")
        .and_then(|rest| rest.split_once("] "))
        .map_or(stored, |(_, text)| text)
}

/// Asserts that `number` is greeted as a returning caller named `call.first_name`, once called,
/// with `call`'s summary as the last call.
pub fn assert_greeted_after_one_call(greeting: &Value, call: &Call) {
    let variables = &greeting["dynamic_variables"];
    assert_eq!(variables["is_returning_caller"], true, "{greeting}");
    assert_eq!(variables["user_name"], call.first_name, "{greeting}");
    assert_eq!(variables["previous_call_count"], 1, "{greeting}");
    assert_eq!(variables["last_call_summary"], call.summary, "{greeting}");
}

//! A fake ElevenLabs API: a real HTTP server on 127.0.0.1 with the paths, `xi-api-key`
//! authentication, cursor pagination (`has_more`, `next_cursor`), error bodies (`{"detail":
//! {"status", "message"}}`, 422 `{"detail": [{"loc", "msg", "type"}]}`) and 429 with
//! `Retry-After` of the public API reference and the official SDK's models.
//!
//! ```ignore
//! let fake = FakeElevenLabs::start().await;
//! fake.put_agent(agent_json("agent_1", true));
//! fake.rate_limit(2);          // the next two requests answer 429
//! fake.fail_with(503);         // every request answers 503 until heal()
//! ```

mod routes;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};
use url::Url;

/// The key the fake accepts.
pub const FAKE_API_KEY: &str = "fake-elevenlabs-key";

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
}

#[derive(Default)]
pub(crate) struct State {
    pub agents: Vec<Value>,
    pub settings: Value,
    pub webhooks: Vec<Value>,
    pub tools: Vec<Value>,
    pub secrets: Vec<Value>,
    /// Full conversations (the GET conversation model), newest first as the API lists them.
    pub conversations: Vec<Value>,
    pub page_size: usize,
    pub rate_limited: usize,
    pub retry_after_secs: u64,
    pub failure: Option<u16>,
    /// Conversations whose reads answer 503.
    pub failing_conversations: Vec<String>,
    pub delay: Option<Duration>,
    pub requests: Vec<ApiRequest>,
    pub next_id: usize,
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running fake API; it stops when dropped.
pub struct FakeElevenLabs {
    shared: Arc<Shared>,
    server: super::LocalServer,
}

impl FakeElevenLabs {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                settings: json!({}),
                page_size: 30,
                ..State::default()
            }),
        });
        let server = super::serve_on_loopback(routes::FakeApi(Arc::clone(&shared))).await;
        Self { shared, server }
    }

    pub fn url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.server.address)).expect("a valid url")
    }

    /// Adds or replaces an agent (a `GetAgentResponseModel`).
    pub fn put_agent(&self, agent: Value) {
        let mut state = self.shared.state();
        state
            .agents
            .retain(|known| known["agent_id"] != agent["agent_id"]);
        state.agents.push(agent);
    }

    pub fn agent(&self, agent_id: &str) -> Value {
        let state = self.shared.state();
        state
            .agents
            .iter()
            .find(|agent| agent["agent_id"] == agent_id)
            .cloned()
            .expect("a known agent")
    }

    /// The workspace settings (`GetConvAiSettingsResponseModel`) and webhooks
    /// (`WorkspaceWebhookResponseModel`s).
    pub fn set_workspace(&self, settings: Value, webhooks: Vec<Value>) {
        let mut state = self.shared.state();
        state.settings = settings;
        state.webhooks = webhooks;
    }

    pub fn add_tool(&self, tool: Value) {
        self.shared.state().tools.push(tool);
    }

    pub fn tools(&self) -> Vec<Value> {
        self.shared.state().tools.clone()
    }

    pub fn secrets(&self) -> Vec<Value> {
        self.shared.state().secrets.clone()
    }

    /// Adds a finished conversation (a `GetConversationResponseModel`); the newest is listed
    /// first.
    pub fn add_conversation(&self, conversation: Value) {
        let mut state = self.shared.state();
        state.conversations.push(conversation);
        state.conversations.sort_by_key(|conversation| {
            std::cmp::Reverse(conversation["metadata"]["start_time_unix_secs"].as_i64())
        });
    }

    pub fn set_page_size(&self, page_size: usize) {
        self.shared.state().page_size = page_size;
    }

    /// The next `count` requests answer 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit(&self, count: usize, retry_after_secs: u64) {
        let mut state = self.shared.state();
        state.rate_limited = count;
        state.retry_after_secs = retry_after_secs;
    }

    /// Every request answers `status` until [`FakeElevenLabs::heal`].
    pub fn fail_with(&self, status: u16) {
        self.shared.state().failure = Some(status);
    }

    /// Every request waits `delay` before answering until [`FakeElevenLabs::heal`].
    pub fn delay(&self, delay: Duration) {
        self.shared.state().delay = Some(delay);
    }

    /// Reading this conversation answers 503 until [`FakeElevenLabs::heal`].
    pub fn fail_conversation(&self, conversation_id: &str) {
        self.shared
            .state()
            .failing_conversations
            .push(conversation_id.to_owned());
    }

    pub fn heal(&self) {
        let mut state = self.shared.state();
        state.failure = None;
        state.failing_conversations.clear();
        state.delay = None;
    }

    pub fn requests(&self) -> Vec<ApiRequest> {
        self.shared.state().requests.clone()
    }

    /// How many requests reached `method path` (path without the query).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|request| request.method == method && request.path == path)
            .count()
    }
}

/// An agent as `GET /v1/convai/agents/{id}` returns it, allowing the first-message override
/// or not.
pub fn agent_json(agent_id: &str, first_message_override: bool) -> Value {
    json!({
        "agent_id": agent_id,
        "name": "Front desk",
        "conversation_config": {
            "agent": {"first_message": "Hello, this is the front desk.", "language": "en",
                      "prompt": {"prompt": "You are helpful.", "llm": "gemini-2.0-flash", "tool_ids": []}}
        },
        "metadata": {"created_at_unix_secs": 1_767_225_600, "updated_at_unix_secs": 1_767_225_600},
        "platform_settings": {
            "overrides": {
                "conversation_config_override": {
                    "agent": {"first_message": first_message_override, "language": false,
                              "prompt": {"prompt": false}},
                    "tts": {"voice_id": false},
                    "conversation": {"text_only": false}
                },
                "custom_llm_extra_body": false,
                "enable_conversation_initiation_client_data_from_webhook": true
            }
        },
        "phone_numbers": [],
        "tags": []
    })
}

/// A finished phone call as `GET /v1/convai/conversations/{id}` returns it.
pub fn conversation_json(
    conversation_id: &str,
    agent_id: &str,
    caller: &str,
    start_time_unix_secs: i64,
    user_says: &str,
) -> Value {
    json!({
        "agent_id": agent_id,
        "conversation_id": conversation_id,
        "status": "done",
        "user_id": null,
        "metadata": {
            "start_time_unix_secs": start_time_unix_secs,
            "call_duration_secs": 60,
            "cost": 100,
            "phone_call": {"type": "twilio", "direction": "inbound", "phone_number_id": "pn_1",
                           "agent_number": "+15550001111", "external_number": caller,
                           "stream_sid": "MZ1", "call_sid": "CA1"},
            "termination_reason": "end_call tool was called"
        },
        "analysis": {
            "call_successful": "success",
            "transcript_summary": format!("The caller said: {user_says}"),
            "data_collection_results": {
                "first_name": {"data_collection_id": "first_name", "value": "Maria", "rationale": "said so"}
            }
        },
        "conversation_initiation_client_data": {
            "dynamic_variables": {"system__caller_id": caller, "system__agent_id": agent_id}
        },
        "transcript": [
            {"role": "agent", "message": "Hello, this is the front desk.", "time_in_call_secs": 0},
            {"role": "user", "message": user_says, "time_in_call_secs": 4}
        ],
        "has_audio": true,
        "has_user_audio": true,
        "has_response_audio": true,
        "has_auxiliary_audio": false
    })
}

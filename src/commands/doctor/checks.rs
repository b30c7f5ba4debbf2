//! The checks: pure functions over what was read from ElevenLabs.

use serde_json::Value;
use url::Url;

use crate::commands::{
    is_service_url, service_url, CLIENT_DATA_PATH, POST_CALL_PATH, SEARCH_DATA_PATH,
};
use crate::outbound::elevenlabs::{flag, FIRST_MESSAGE_OVERRIDE_POINTER};

/// The header the service authenticates client-data and search-data with.
const API_KEY_HEADER: &str = "x-api-key";

/// What the doctor read from ElevenLabs.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// `GET /v1/convai/agents/{id}`.
    pub agent: Value,
    /// `GET /v1/convai/settings`.
    pub settings: Value,
    /// `GET /v1/workspace/webhooks`.
    pub webhooks: Value,
    /// The agent's tools (`ToolResponseModel`s).
    pub tools: Vec<Value>,
}

/// What the service expects of them.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// Where ElevenLabs reaches the service, when known.
    pub public_url: Option<Url>,
    /// `FIRST_MESSAGE_OVERRIDE`.
    pub first_message_override: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Problem,
    /// The API does not say; checked by hand.
    Unknown,
}

/// One checked setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    /// What to do, for a problem or an unknown.
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: &'static str, detail: impl Into<String>) -> Self {
        Self {
            check,
            verdict: Verdict::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn problem(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            verdict: Verdict::Problem,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Checks every setting the service depends on.
pub fn diagnose(workspace: &Workspace, expect: &Expectations) -> Vec<Finding> {
    let agent_id = workspace.agent["agent_id"].as_str().unwrap_or("<agent>");
    let mut findings = vec![
        initiation_webhook(workspace, expect),
        initiation_opt_in(workspace),
        first_message_override(workspace, expect),
        search_tool(workspace, expect, agent_id),
    ];
    findings.extend(post_call_webhook(workspace, expect));
    findings
}

/// A setting the agent overrides for itself, else the workspace's.
fn workspace_setting<'a>(workspace: &'a Workspace, pointer: &str) -> &'a Value {
    let own = workspace
        .agent
        .pointer(&format!("/platform_settings/workspace_overrides{pointer}"));
    match own {
        Some(value) if !value.is_null() => value,
        _ => workspace.settings.pointer(pointer).unwrap_or(&Value::Null),
    }
}

fn has_api_key_header(headers: &Value) -> bool {
    headers.as_object().is_some_and(|headers| {
        headers
            .keys()
            .any(|name| name.eq_ignore_ascii_case(API_KEY_HEADER))
    })
}

fn initiation_webhook(workspace: &Workspace, expect: &Expectations) -> Finding {
    const CHECK: &str = "conversation-initiation webhook";
    let webhook = workspace_setting(workspace, "/conversation_initiation_client_data_webhook");
    let expected = service_url(expect.public_url.as_ref(), CLIENT_DATA_PATH);
    let fix = format!(
        "in the workspace settings (Agents -> Settings), set the conversation initiation client data webhook to {expected} with a header X-Api-Key whose value (a workspace secret) is ELEVENLABS_CLIENT_DATA_KEY"
    );
    let Some(url) = webhook["url"].as_str() else {
        return Finding::problem(CHECK, "not set", fix);
    };
    if !is_service_url(url, expect.public_url.as_ref(), CLIENT_DATA_PATH) {
        return Finding::problem(CHECK, format!("points to {url}, not {expected}"), fix);
    }
    if !has_api_key_header(&webhook["request_headers"]) {
        return Finding::problem(
            CHECK,
            format!("{url} is called without an X-Api-Key header"),
            fix,
        );
    }
    Finding::ok(CHECK, format!("{url}, with an X-Api-Key header"))
}

fn initiation_opt_in(workspace: &Workspace) -> Finding {
    const CHECK: &str = "initiation data for inbound calls";
    let pointer =
        "/platform_settings/overrides/enable_conversation_initiation_client_data_from_webhook";
    if flag(&workspace.agent, pointer) {
        Finding::ok(CHECK, "the agent fetches it from the webhook")
    } else {
        Finding::problem(
            CHECK,
            "the agent does not call the conversation-initiation webhook, so callers are never recognised",
            "in the agent's Security tab, enable \"Fetch conversation initiation data for inbound Twilio calls\"",
        )
    }
}

fn first_message_override(workspace: &Workspace, expect: &Expectations) -> Finding {
    const CHECK: &str = "first-message override";
    let allowed = flag(&workspace.agent, FIRST_MESSAGE_OVERRIDE_POINTER);
    match (expect.first_message_override, allowed) {
        (_, true) => Finding::ok(CHECK, "the agent allows it"),
        (false, false) => Finding::ok(
            CHECK,
            "not allowed by the agent, and not sent (FIRST_MESSAGE_OVERRIDE=false)",
        ),
        (true, false) => Finding::problem(
            CHECK,
            "the agent does not allow overriding its first message, so ElevenLabs rejects every returning caller's call that carries one (with ELEVENLABS_API_KEY set the service withholds it)",
            "in the agent's Security tab, enable the First message override, or set FIRST_MESSAGE_OVERRIDE=false",
        ),
    }
}

fn search_tool(workspace: &Workspace, expect: &Expectations, agent_id: &str) -> Finding {
    const CHECK: &str = "search tool";
    let expected = service_url(expect.public_url.as_ref(), SEARCH_DATA_PATH);
    let install =
        format!("run: caller-memory elevenlabs install-tool --agent {agent_id} --url {expected}");
    let found = workspace.tools.iter().find(|tool| {
        tool["tool_config"]["api_schema"]["url"]
            .as_str()
            .is_some_and(|url| is_service_url(url, expect.public_url.as_ref(), SEARCH_DATA_PATH))
    });
    let Some(tool) = found else {
        return Finding::problem(
            CHECK,
            format!("no tool of the agent calls {expected}"),
            install,
        );
    };
    let name = tool["tool_config"]["name"].as_str().unwrap_or("<unnamed>");
    let schema = &tool["tool_config"]["api_schema"];
    let properties = &schema["request_body_schema"]["properties"];
    let bound = ["caller_id", "user_id"]
        .iter()
        .any(|field| properties[field]["dynamic_variable"] == "system__caller_id");
    if !bound {
        return Finding::problem(
            CHECK,
            format!("tool {name} does not fill caller_id from system__caller_id, so the model chooses whose memories it reads"),
            install,
        );
    }
    if !has_api_key_header(&schema["request_headers"]) {
        return Finding::problem(
            CHECK,
            format!("tool {name} is sent without an X-Api-Key header"),
            install,
        );
    }
    Finding::ok(
        CHECK,
        format!(
            "{name} calls {} with caller_id from system__caller_id",
            schema["url"].as_str().unwrap_or_default()
        ),
    )
}

fn post_call_webhook(workspace: &Workspace, expect: &Expectations) -> Vec<Finding> {
    const CHECK: &str = "post-call webhook";
    let expected = service_url(expect.public_url.as_ref(), POST_CALL_PATH);
    let fix = format!(
        "in the workspace settings (Agents -> Webhooks), create an HMAC webhook to {expected}, select it as the post-call webhook, and put its secret in ELEVENLABS_POST_CALL_KEY"
    );
    let Some(id) = workspace_setting(workspace, "/webhooks/post_call_webhook_id").as_str() else {
        return vec![Finding::problem(
            CHECK,
            "no post-call webhook is selected",
            fix,
        )];
    };
    let listed = workspace.webhooks["webhooks"].as_array();
    let Some(webhook) = listed
        .into_iter()
        .flatten()
        .find(|webhook| webhook["webhook_id"] == id)
    else {
        return vec![Finding::problem(
            CHECK,
            format!("webhook {id} is not in the workspace"),
            fix,
        )];
    };
    let url = webhook["webhook_url"].as_str().unwrap_or_default();
    let mut findings = Vec::new();
    findings.push(if !is_service_url(url, expect.public_url.as_ref(), POST_CALL_PATH) {
        Finding::problem(CHECK, format!("points to {url}, not {expected}"), fix)
    } else if webhook["is_disabled"] == true || webhook["is_auto_disabled"] == true {
        Finding::problem(
            CHECK,
            format!("{url} is disabled{}", if webhook["is_auto_disabled"] == true { " by ElevenLabs after repeated failed deliveries" } else { "" }),
            "fix what made deliveries fail (run caller-memory check; compare ELEVENLABS_POST_CALL_KEY with the webhook secret), then enable the webhook again in the workspace settings",
        )
    } else if webhook["auth_type"] != "hmac" {
        Finding::problem(CHECK, format!("{url} is not signed with HMAC"), fix)
    } else {
        Finding::ok(CHECK, format!("{url}, HMAC, enabled"))
    });
    findings.push(post_call_events(workspace));
    findings.push(retries(webhook));
    findings
}

fn post_call_events(workspace: &Workspace) -> Finding {
    const CHECK: &str = "post-call events";
    let events: Vec<&str> = workspace_setting(workspace, "/webhooks/events")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if events.contains(&"transcript") {
        Finding::ok(CHECK, events.join(", "))
    } else {
        Finding::problem(
            CHECK,
            format!("the transcript event is not sent (events: {})", if events.is_empty() { "none".to_owned() } else { events.join(", ") }),
            "in the post-call webhook settings, enable the transcript event (and audio and call initiation failure to archive them too)",
        )
    }
}

fn retries(webhook: &Value) -> Finding {
    const CHECK: &str = "retries for transcriptions";
    let fix = "enable retries in the post-call webhook's settings, so a transcript ElevenLabs could not deliver is sent again";
    match webhook["retry_enabled"].as_bool() {
        Some(true) => Finding::ok(CHECK, "enabled"),
        Some(false) => Finding::problem(CHECK, "disabled: a failed delivery is lost", fix),
        None => Finding {
            check: CHECK,
            verdict: Verdict::Unknown,
            detail: "the API does not report it".to_owned(),
            fix: Some(fix.to_owned()),
        },
    }
}

use serde_json::json;

use super::*;

const HOST: &str = "https://memory.example.com";

fn healthy() -> Workspace {
    Workspace {
        agent: json!({
            "agent_id": "agent_1",
            "name": "Front desk",
            "conversation_config": {"agent": {"prompt": {"tool_ids": ["tool_1"]}}},
            "platform_settings": {"overrides": {
                "enable_conversation_initiation_client_data_from_webhook": true,
                "conversation_config_override": {"agent": {"first_message": true}}
            }}
        }),
        settings: json!({
            "conversation_initiation_client_data_webhook": {
                "url": format!("{HOST}/webhook/client-data"),
                "request_headers": {"X-Api-Key": {"secret_id": "secret_1"}}
            },
            "webhooks": {"post_call_webhook_id": "wh_1", "events": ["transcript", "audio"]}
        }),
        webhooks: json!({"webhooks": [{
            "name": "memory", "webhook_id": "wh_1", "webhook_url": format!("{HOST}/webhook/post-call"),
            "is_disabled": false, "is_auto_disabled": false, "created_at_unix": 1, "auth_type": "hmac",
            "retry_enabled": true
        }]}),
        tools: vec![json!({"id": "tool_1", "tool_config": {
            "type": "webhook", "name": "search_caller_memory", "description": "d",
            "api_schema": {
                "url": format!("{HOST}/webhook/search-data"), "method": "POST",
                "request_headers": {"X-Api-Key": {"secret_id": "secret_2"}},
                "request_body_schema": {"type": "object", "properties": {
                    "query": {"type": "string", "description": "q"},
                    "caller_id": {"type": "string", "dynamic_variable": "system__caller_id"}
                }}
            }
        }})],
    }
}

fn expect() -> Expectations {
    Expectations {
        public_url: Some(Url::parse(HOST).unwrap()),
        first_message_override: true,
    }
}

fn problems(workspace: &Workspace, expect: &Expectations) -> Vec<&'static str> {
    diagnose(workspace, expect)
        .into_iter()
        .filter(|finding| finding.verdict == Verdict::Problem)
        .map(|finding| finding.check)
        .collect()
}

#[test]
fn a_well_configured_agent_has_no_problem() {
    let findings = diagnose(&healthy(), &expect());
    assert_eq!(findings.len(), 7);
    assert!(
        findings.iter().all(|f| f.verdict == Verdict::Ok),
        "{findings:#?}"
    );
}

#[test]
fn each_missing_setting_is_named_with_a_fix() {
    type Breakage = fn(&mut Workspace);
    let cases: Vec<(&str, Breakage)> = vec![
        ("conversation-initiation webhook", |w| {
            w.settings["conversation_initiation_client_data_webhook"]["url"] =
                json!("https://old.example.com/hook");
        }),
        ("conversation-initiation webhook", |w| {
            w.settings["conversation_initiation_client_data_webhook"]["request_headers"] =
                json!({});
        }),
        ("initiation data for inbound calls", |w| {
            w.agent["platform_settings"]["overrides"]
                ["enable_conversation_initiation_client_data_from_webhook"] = json!(false);
        }),
        ("first-message override", |w| {
            w.agent["platform_settings"]["overrides"]["conversation_config_override"] = json!({});
        }),
        ("search tool", |w| w.tools.clear()),
        ("search tool", |w| {
            w.tools[0]["tool_config"]["api_schema"]["request_body_schema"]["properties"]
                ["caller_id"] = json!({"type": "string", "description": "the caller's number"});
        }),
        ("post-call webhook", |w| w.settings["webhooks"] = json!({})),
        ("post-call webhook", |w| {
            w.webhooks["webhooks"][0]["is_auto_disabled"] = json!(true)
        }),
        ("post-call events", |w| {
            w.settings["webhooks"]["events"] = json!(["audio"])
        }),
        ("retries for transcriptions", |w| {
            w.webhooks["webhooks"][0]["retry_enabled"] = json!(false);
        }),
    ];
    for (check, break_it) in cases {
        let mut workspace = healthy();
        break_it(&mut workspace);
        let findings = diagnose(&workspace, &expect());
        let broken: Vec<&Finding> = findings
            .iter()
            .filter(|finding| finding.verdict == Verdict::Problem)
            .collect();
        assert_eq!(broken.len(), 1, "{check}: {findings:#?}");
        assert_eq!(broken[0].check, check);
        assert!(broken[0].fix.is_some());
    }
}

#[test]
fn first_message_override_switched_off_needs_no_permission() {
    let mut workspace = healthy();
    workspace.agent["platform_settings"]["overrides"]["conversation_config_override"] = json!({});
    let expect = Expectations {
        first_message_override: false,
        ..expect()
    };
    assert!(problems(&workspace, &expect).is_empty());
}

#[test]
fn the_agents_own_webhook_settings_win_over_the_workspaces() {
    let mut workspace = healthy();
    workspace.agent["platform_settings"]["workspace_overrides"] = json!({
        "conversation_initiation_client_data_webhook": {"url": "https://elsewhere.example.com/x", "request_headers": {}}
    });
    assert_eq!(
        problems(&workspace, &expect()),
        ["conversation-initiation webhook"]
    );
}

#[test]
fn retries_the_api_does_not_report_are_left_to_check_by_hand() {
    let mut workspace = healthy();
    workspace.webhooks["webhooks"][0]
        .as_object_mut()
        .unwrap()
        .remove("retry_enabled");
    let findings = diagnose(&workspace, &expect());
    let retries = findings
        .iter()
        .find(|f| f.check == "retries for transcriptions")
        .unwrap();
    assert_eq!(retries.verdict, Verdict::Unknown);
    assert!(problems(&workspace, &expect()).is_empty());
}

#[test]
fn without_a_public_url_only_the_paths_are_checked() {
    let expect = Expectations {
        public_url: None,
        ..expect()
    };
    assert!(problems(&healthy(), &expect).is_empty());
    let mut elsewhere = healthy();
    elsewhere.webhooks["webhooks"][0]["webhook_url"] =
        json!("https://other.example.com/hooks/post");
    assert_eq!(problems(&elsewhere, &expect), ["post-call webhook"]);
}

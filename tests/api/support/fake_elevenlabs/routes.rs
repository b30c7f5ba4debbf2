//! The fake's request handling.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::{Endpoint, Request, Response};
use serde_json::{json, Value};

use super::{ApiRequest, Shared, State, FAKE_API_KEY};

pub struct FakeApi(pub Arc<Shared>);

impl Endpoint for FakeApi {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        let body = request.take_body().into_vec().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let method = request.method().as_str().to_owned();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or_default().to_owned();
        let delay = {
            let mut state = self.0.state();
            state.requests.push(ApiRequest {
                method: method.clone(),
                path: path.clone(),
                query: query.clone(),
                body: body.clone(),
            });
            state.delay
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let mut state = self.0.state();
        if let Some(status) = state.failure {
            return Ok(answer(status, detail("internal_error", "injected failure")));
        }
        if request.header("xi-api-key") != Some(FAKE_API_KEY) {
            return Ok(answer(401, detail("invalid_api_key", "Invalid API key")));
        }
        if state.rate_limited > 0 {
            state.rate_limited -= 1;
            return Ok(Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("retry-after", state.retry_after_secs.to_string())
                .content_type("application/json")
                .body(detail("too_many_concurrent_requests", "Too many requests").to_string()));
        }
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let params = parse_query(&query);
        Ok(route(&mut state, &method, &segments, &params, body))
    }
}

fn route(
    state: &mut State,
    method: &str,
    segments: &[&str],
    params: &[(String, String)],
    body: Value,
) -> Response {
    match (method, segments) {
        ("GET", ["v1", "convai", "agents", id]) => match find(&state.agents, "agent_id", id) {
            Some(agent) => answer(200, agent.clone()),
            None => answer(404, detail("agent_not_found", "Agent not found")),
        },
        ("PATCH", ["v1", "convai", "agents", id]) => {
            match state
                .agents
                .iter_mut()
                .find(|agent| agent["agent_id"] == *id)
            {
                Some(agent) => {
                    merge(agent, body);
                    answer(200, agent.clone())
                }
                None => answer(404, detail("agent_not_found", "Agent not found")),
            }
        }
        ("GET", ["v1", "convai", "settings"]) => answer(200, state.settings.clone()),
        ("GET", ["v1", "workspace", "webhooks"]) => {
            answer(200, json!({"webhooks": state.webhooks}))
        }
        ("GET", ["v1", "convai", "tools"]) => {
            let search = param(params, "search").unwrap_or_default();
            let tools: Vec<Value> = state
                .tools
                .iter()
                .filter(|tool| {
                    tool["tool_config"]["name"]
                        .as_str()
                        .is_some_and(|name| name.starts_with(&search))
                })
                .cloned()
                .collect();
            answer(
                200,
                json!({"tools": tools, "has_more": false, "next_cursor": null}),
            )
        }
        ("GET", ["v1", "convai", "tools", id]) => match find(&state.tools, "id", id) {
            Some(tool) => answer(200, tool.clone()),
            None => answer(404, detail("tool_not_found", "Tool not found")),
        },
        ("POST", ["v1", "convai", "tools"]) => match tool_problem(&body) {
            Some(problem) => problem,
            None => {
                state.next_id += 1;
                let tool = tool_response(&format!("tool_{}", state.next_id), body);
                state.tools.push(tool.clone());
                answer(200, tool)
            }
        },
        ("PATCH", ["v1", "convai", "tools", id]) => match tool_problem(&body) {
            Some(problem) => problem,
            None => match state.tools.iter_mut().find(|tool| tool["id"] == *id) {
                Some(tool) => {
                    *tool = tool_response(id, body);
                    answer(200, tool.clone())
                }
                None => answer(404, detail("tool_not_found", "Tool not found")),
            },
        },
        ("GET", ["v1", "convai", "secrets"]) => {
            let search = param(params, "search").unwrap_or_default();
            let secrets: Vec<Value> = state
                .secrets
                .iter()
                .filter(|secret| secret["name"].as_str().is_some_and(|name| name.starts_with(&search)))
                .map(|secret| json!({"type": "stored", "secret_id": secret["secret_id"], "name": secret["name"], "used_by": {}}))
                .collect();
            answer(200, json!({"secrets": secrets, "next_cursor": null}))
        }
        ("POST", ["v1", "convai", "secrets"]) => {
            let (Some(name), Some(_)) = (body["name"].as_str(), body["value"].as_str()) else {
                return validation_error(&["body", "name"], "field required");
            };
            state.next_id += 1;
            let secret = json!({"type": "stored", "secret_id": format!("secret_{}", state.next_id), "name": name, "value": body["value"]});
            state.secrets.push(secret.clone());
            answer(
                200,
                json!({"type": "stored", "secret_id": secret["secret_id"], "name": name}),
            )
        }
        ("GET", ["v1", "convai", "conversations"]) => list_conversations(state, params),
        ("GET", ["v1", "convai", "conversations", id])
            if state
                .failing_conversations
                .iter()
                .any(|failing| failing == id) =>
        {
            answer(
                503,
                detail("service_unavailable", "Service temporarily unavailable"),
            )
        }
        ("GET", ["v1", "convai", "conversations", id]) => {
            match find(&state.conversations, "conversation_id", id) {
                Some(conversation) => answer(200, conversation.clone()),
                None => answer(
                    404,
                    detail("conversation_not_found", "Conversation not found"),
                ),
            }
        }
        _ => answer(404, json!({"detail": "Not Found"})),
    }
}

/// Cursor pagination: the cursor is opaque to clients (here, the offset it resumes at).
fn list_conversations(state: &State, params: &[(String, String)]) -> Response {
    let page_size = match param(params, "page_size").map(|size| size.parse::<usize>()) {
        None => state.page_size,
        Some(Ok(size)) if (1..=100).contains(&size) => size.min(state.page_size),
        Some(_) => return validation_error(&["query", "page_size"], "must be from 1 to 100"),
    };
    let offset = match param(params, "cursor") {
        None => 0,
        Some(cursor) => match cursor.strip_prefix("cur_").and_then(|n| n.parse().ok()) {
            Some(offset) => offset,
            None => return answer(400, detail("invalid_cursor", "Invalid cursor")),
        },
    };
    let agent = param(params, "agent_id");
    let after = param(params, "call_start_after_unix").and_then(|t| t.parse::<i64>().ok());
    let matching: Vec<&Value> = state
        .conversations
        .iter()
        .filter(|c| agent.as_deref().is_none_or(|agent| c["agent_id"] == agent))
        .filter(|c| {
            after.is_none_or(|after| c["metadata"]["start_time_unix_secs"].as_i64() >= Some(after))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|c| {
            json!({
                "agent_id": c["agent_id"], "conversation_id": c["conversation_id"],
                "start_time_unix_secs": c["metadata"]["start_time_unix_secs"],
                "call_duration_secs": c["metadata"]["call_duration_secs"], "message_count": 2,
                "status": c["status"], "call_successful": "success",
                "direction": "inbound"
            })
        })
        .collect();
    let has_more = offset + page_size < matching.len();
    answer(
        200,
        json!({
            "conversations": page,
            "has_more": has_more,
            "next_cursor": has_more.then(|| format!("cur_{}", offset + page_size)),
        }),
    )
}

/// The 422 a tool body without its required fields gets, if any.
fn tool_problem(body: &Value) -> Option<Response> {
    let config = &body["tool_config"];
    if !config.is_object() {
        return Some(validation_error(&["body", "tool_config"], "field required"));
    }
    for field in ["name", "description", "type"] {
        if !config[field].is_string() {
            return Some(validation_error(
                &["body", "tool_config", field],
                "field required",
            ));
        }
    }
    if config["type"] == "webhook" && !config["api_schema"]["url"].is_string() {
        return Some(validation_error(
            &["body", "tool_config", "api_schema", "url"],
            "field required",
        ));
    }
    None
}

fn tool_response(id: &str, request: Value) -> Value {
    json!({
        "id": id,
        "tool_config": request["tool_config"],
        "access_info": {"is_creator": true, "creator_name": "test", "creator_email": "test@example.com", "role": "admin"},
        "usage_stats": {"avg_latency_secs": 0.0}
    })
}

fn find<'a>(items: &'a [Value], field: &str, id: &str) -> Option<&'a Value> {
    items.iter().find(|item| item[field] == id)
}

/// JSON merge: objects merge key by key, anything else replaces.
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch,
    }
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

fn detail(status: &str, message: &str) -> Value {
    json!({"detail": {"status": status, "message": message}})
}

fn validation_error(location: &[&str], message: &str) -> Response {
    answer(
        422,
        json!({"detail": [{"loc": location, "msg": message, "type": "value_error"}]}),
    )
}

fn answer(status: u16, body: Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type("application/json")
        .body(body.to_string())
}

//! `caller-memory elevenlabs install-tool`: creates or updates the search-data server tool from
//! `elevenlabs/search-data-tool.json` and attaches it to an agent. Running it again changes
//! nothing that is already right.

use serde_json::{json, Value};
use url::Url;

use super::{is_service_url, SEARCH_DATA_PATH};
use crate::config::Settings;
use crate::outbound::elevenlabs::ElevenLabsApi;

/// The tool definition, as committed in the repository.
const TOOL_DEFINITION: &str = include_str!("../../elevenlabs/search-data-tool.json");

/// The workspace secret holding `ELEVENLABS_SEARCH_DATA_KEY`, created when it does not exist.
pub const SEARCH_KEY_SECRET_NAME: &str = "caller_memory_search_data_key";

/// What install-tool did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub tool_id: String,
    pub tool: Change,
    pub secret: Change,
    pub attached: Change,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

impl Change {
    fn word(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }
}

/// The tool definition for `url`, sending `X-Api-Key` from the workspace secret `secret_id`.
pub fn tool_definition(url: &Url, secret_id: &str) -> Value {
    let mut tool: Value =
        serde_json::from_str(TOOL_DEFINITION).expect("the committed tool definition is JSON");
    let schema = &mut tool["tool_config"]["api_schema"];
    schema["url"] = json!(url.as_str());
    schema["request_headers"]["X-Api-Key"] = json!({"secret_id": secret_id});
    tool
}

/// Checks `--url`: an http(s) URL ending in `/webhook/search-data`.
///
/// # Errors
/// A message that names `--url` and says what is wrong.
pub fn search_url(raw: &str) -> anyhow::Result<Url> {
    let url = Url::parse(raw).map_err(|error| anyhow::anyhow!("--url {raw:?}: {error}"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "https" | "http") && url.has_host(),
        "--url {raw:?}: must be an https URL (ElevenLabs calls it from the internet)"
    );
    anyhow::ensure!(
        is_service_url(url.as_str(), None, SEARCH_DATA_PATH),
        "--url {raw:?}: must end with {SEARCH_DATA_PATH}"
    );
    Ok(url)
}

/// Creates or updates the tool and attaches it to `agent_id`.
///
/// # Errors
/// When the agent does not exist or the API refuses a step; what was done before stays done.
pub async fn install(
    api: &ElevenLabsApi,
    agent_id: &str,
    url: &Url,
    search_key: &str,
) -> anyhow::Result<Installed> {
    let agent = super::read_agent(api, agent_id).await?;
    let (secret_id, secret) = search_key_secret(api, search_key).await?;
    let definition = tool_definition(url, &secret_id);
    let name = definition["tool_config"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let existing = api
        .tools_named(&name)
        .await
        .map_err(|error| {
            anyhow::Error::new(error).context("the workspace tools could not be listed")
        })?
        .into_iter()
        .find(|tool| {
            tool["tool_config"]["name"] == name.as_str() && tool["tool_config"]["type"] == "webhook"
        });
    let (tool_id, tool) = match existing {
        Some(existing) => {
            let id = existing["id"].as_str().unwrap_or_default().to_owned();
            if includes(&existing["tool_config"], &definition["tool_config"]) {
                (id, Change::Unchanged)
            } else {
                api.update_tool(&id, &definition).await.map_err(|error| {
                    anyhow::Error::new(error).context("the tool could not be updated")
                })?;
                (id, Change::Updated)
            }
        }
        None => {
            let created = api.create_tool(&definition).await.map_err(|error| {
                anyhow::Error::new(error).context("the tool could not be created")
            })?;
            let id = created["id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("the created tool has no id"))?;
            (id.to_owned(), Change::Created)
        }
    };
    let attached = attach(api, agent_id, &agent, &tool_id).await?;
    Ok(Installed {
        tool_id,
        tool,
        secret,
        attached,
    })
}

/// Whether `stored` has every value of `wanted` (the API adds defaults to what it stores).
fn includes(stored: &Value, wanted: &Value) -> bool {
    match (stored, wanted) {
        (Value::Object(stored), Value::Object(wanted)) => wanted.iter().all(|(key, value)| {
            stored
                .get(key)
                .is_some_and(|stored| includes(stored, value))
        }),
        (stored, wanted) => stored == wanted,
    }
}

/// The id of the workspace secret holding the search key, created when missing.
async fn search_key_secret(
    api: &ElevenLabsApi,
    search_key: &str,
) -> anyhow::Result<(String, Change)> {
    let listed = api
        .secrets_named(SEARCH_KEY_SECRET_NAME)
        .await
        .map_err(|error| {
            anyhow::Error::new(error).context("the workspace secrets could not be listed")
        })?;
    let found = listed
        .iter()
        .find(|secret| secret["name"] == SEARCH_KEY_SECRET_NAME)
        .and_then(|secret| secret["secret_id"].as_str());
    if let Some(id) = found {
        return Ok((id.to_owned(), Change::Unchanged));
    }
    let created = api
        .create_secret(SEARCH_KEY_SECRET_NAME, search_key)
        .await
        .map_err(|error| {
            anyhow::Error::new(error).context("the workspace secret could not be created")
        })?;
    let id = created["secret_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the created secret has no id"))?;
    Ok((id.to_owned(), Change::Created))
}

/// Adds `tool_id` to the agent's `tool_ids`, keeping the others.
async fn attach(
    api: &ElevenLabsApi,
    agent_id: &str,
    agent: &Value,
    tool_id: &str,
) -> anyhow::Result<Change> {
    let mut tool_ids: Vec<Value> = agent["conversation_config"]["agent"]["prompt"]["tool_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if tool_ids.iter().any(|id| id == tool_id) {
        return Ok(Change::Unchanged);
    }
    tool_ids.push(json!(tool_id));
    let patch = json!({"conversation_config": {"agent": {"prompt": {"tool_ids": tool_ids}}}});
    api.update_agent(agent_id, &patch).await.map_err(|error| {
        anyhow::Error::new(error).context("the tool could not be attached to the agent")
    })?;
    Ok(Change::Created)
}

/// `elevenlabs install-tool`.
pub async fn run(settings: &Settings, agent_id: &str, url: &str) -> anyhow::Result<()> {
    let url = search_url(url)?;
    let api = super::api(settings)?;
    let installed = install(&api, agent_id, &url, settings.search_data_key.expose()).await?;
    println!(
        "tool {} ({}): {}",
        installed.tool_id,
        url,
        installed.tool.word()
    );
    println!(
        "workspace secret {SEARCH_KEY_SECRET_NAME} (ELEVENLABS_SEARCH_DATA_KEY, sent as X-Api-Key): {}",
        installed.secret.word()
    );
    println!(
        "attached to agent {agent_id}: {}",
        match installed.attached {
            Change::Created => "yes (added now)",
            _ => "yes (already)",
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_calls_the_given_url_with_the_secret_and_binds_the_caller() {
        let url = search_url("https://memory.example.com/webhook/search-data").unwrap();
        let tool = tool_definition(&url, "secret_9");
        let schema = &tool["tool_config"]["api_schema"];
        assert_eq!(
            schema["url"],
            "https://memory.example.com/webhook/search-data"
        );
        assert_eq!(
            schema["request_headers"]["X-Api-Key"]["secret_id"],
            "secret_9"
        );
        assert_eq!(
            schema["request_body_schema"]["properties"]["caller_id"]["dynamic_variable"],
            "system__caller_id"
        );
    }

    #[test]
    fn a_stored_tool_with_added_defaults_is_unchanged_but_a_changed_value_is_not() {
        let wanted = json!({"name": "t", "api_schema": {"url": "https://a/webhook/search-data"}});
        let stored = json!({"name": "t", "execution_mode": "immediate",
                            "api_schema": {"url": "https://a/webhook/search-data", "method": "POST"}});
        assert!(includes(&stored, &wanted));
        let moved = json!({"name": "t", "api_schema": {"url": "https://b/webhook/search-data"}});
        assert!(!includes(&moved, &wanted));
    }

    #[test]
    fn a_url_that_is_not_the_search_webhook_is_refused_naming_the_flag() {
        for bad in [
            "memory.example.com",
            "ftp://h/webhook/search-data",
            "https://h/webhook/post-call",
        ] {
            let error = search_url(bad).unwrap_err().to_string();
            assert!(error.starts_with("--url"), "{error}");
        }
    }
}

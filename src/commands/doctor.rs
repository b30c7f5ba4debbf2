//! `caller-memory elevenlabs doctor`: reads an agent and its workspace's settings and reports
//! each setting the service depends on, with a fix for each problem.

mod checks;

use serde_json::Value;
use url::Url;

use crate::config::Settings;
use crate::outbound::elevenlabs::{ApiError, ElevenLabsApi};
pub use checks::{diagnose, Expectations, Finding, Verdict, Workspace};

/// Reads what the doctor needs.
pub async fn read_workspace(api: &ElevenLabsApi, agent_id: &str) -> anyhow::Result<Workspace> {
    let agent = super::read_agent(api, agent_id).await?;
    let settings = api.workspace_settings().await.map_err(|error| {
        anyhow::Error::new(error).context("the workspace settings could not be read")
    })?;
    let webhooks = api.workspace_webhooks().await.map_err(|error| {
        anyhow::Error::new(error).context("the workspace webhooks could not be read")
    })?;
    let prompt = &agent["conversation_config"]["agent"]["prompt"];
    let mut tools = Vec::new();
    for id in prompt["tool_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        match api.tool(id).await {
            Ok(tool) => tools.push(tool),
            Err(ApiError::NotFound(_)) => {
                tracing::warn!(tool = id, "the agent names a tool that does not exist")
            }
            Err(error) => {
                return Err(
                    anyhow::Error::new(error).context(format!("tool {id} could not be read"))
                )
            }
        }
    }
    // Tools defined inside the agent (the older form).
    for inline in prompt["tools"].as_array().into_iter().flatten() {
        tools.push(serde_json::json!({"tool_config": inline}));
    }
    Ok(Workspace {
        agent,
        settings,
        webhooks,
        tools,
    })
}

/// `elevenlabs doctor`: prints every finding; fails when any is a problem.
pub async fn run(
    settings: &Settings,
    agent_id: &str,
    public_url: Option<Url>,
) -> anyhow::Result<()> {
    let api = super::api(settings)?;
    let workspace = read_workspace(&api, agent_id).await?;
    let expect = Expectations {
        public_url,
        first_message_override: settings.first_message_override,
    };
    let name = workspace.agent["name"].as_str().unwrap_or_default();
    println!("agent {agent_id} ({name})");
    let findings = diagnose(&workspace, &expect);
    for finding in &findings {
        let label = match finding.verdict {
            Verdict::Ok => "ok",
            Verdict::Problem => "PROBLEM",
            Verdict::Unknown => "check",
        };
        println!("{label:<8} {}: {}", finding.check, finding.detail);
        if let Some(fix) = finding
            .fix
            .as_ref()
            .filter(|_| finding.verdict != Verdict::Ok)
        {
            println!("{:<8} fix: {fix}", "");
        }
    }
    let problems = findings
        .iter()
        .filter(|finding| finding.verdict == Verdict::Problem)
        .count();
    if expect.public_url.is_none() {
        println!("(pass --public-url https://<your host> to check the URLs' host too)");
    }
    if problems > 0 {
        anyhow::bail!("{problems} problem(s) found");
    }
    println!("no problem found");
    Ok(())
}

#[cfg(test)]
mod tests;

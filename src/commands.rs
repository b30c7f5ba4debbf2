//! The commands that use the ElevenLabs API: `elevenlabs doctor`, `elevenlabs install-tool` and
//! `backfill`.

pub mod backfill;
pub mod doctor;
pub mod install_tool;
mod progress;

use clap::Subcommand;
use url::Url;

use crate::config::Settings;
use crate::outbound::elevenlabs::{ApiError, ElevenLabsApi, RateLimitRetries};
use crate::startup::elevenlabs_api;

/// How many 429s a command waits out before giving up on a request.
const COMMAND_RATE_LIMIT_RETRIES: RateLimitRetries = RateLimitRetries(8);

/// The paths ElevenLabs must call, under the service's public URL.
pub const CLIENT_DATA_PATH: &str = "/webhook/client-data";
pub const SEARCH_DATA_PATH: &str = "/webhook/search-data";
pub const POST_CALL_PATH: &str = "/webhook/post-call";

/// `caller-memory elevenlabs ...`: commands that read and change the ElevenLabs workspace.
#[derive(Debug, Subcommand)]
pub enum ElevenLabsCommand {
    /// Check an agent and its workspace settings against this service, with a fix for each
    /// problem; exits non-zero on any problem.
    Doctor {
        /// The agent to check.
        #[arg(long)]
        agent: String,
        /// The service's public base URL (https://host), to check the webhook URLs' host too.
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Create or update the search-data server tool and attach it to an agent (idempotent).
    InstallTool {
        /// The agent to attach the tool to.
        #[arg(long)]
        agent: String,
        /// The public URL of the search webhook, https://<host>/webhook/search-data.
        #[arg(long)]
        url: String,
    },
}

/// Runs an `elevenlabs` command.
pub async fn elevenlabs(settings: Settings, command: ElevenLabsCommand) -> anyhow::Result<()> {
    match command {
        ElevenLabsCommand::Doctor { agent, public_url } => {
            let public_url = public_url.as_deref().map(public_base_url).transpose()?;
            doctor::run(&settings, &agent, public_url).await
        }
        ElevenLabsCommand::InstallTool { agent, url } => {
            install_tool::run(&settings, &agent, &url).await
        }
    }
}

fn public_base_url(raw: &str) -> anyhow::Result<Url> {
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.has_host() => Ok(url),
        _ => anyhow::bail!("--public-url {raw:?}: expected the service's base URL, such as https://memory.example.com"),
    }
}

/// The API client for a command; the key is required.
fn api(settings: &Settings) -> anyhow::Result<ElevenLabsApi> {
    let Some(key) = &settings.elevenlabs_api_key else {
        anyhow::bail!(
            "ELEVENLABS_API_KEY is not set: this command reads and changes the workspace through \
             the ElevenLabs API; create a key in ElevenLabs (Developers -> API keys) and set it"
        );
    };
    elevenlabs_api(settings, key, COMMAND_RATE_LIMIT_RETRIES)
}

/// The agent named by `--agent`.
async fn read_agent(api: &ElevenLabsApi, agent_id: &str) -> anyhow::Result<serde_json::Value> {
    api.agent(agent_id).await.map_err(|error| match error {
        ApiError::NotFound(_) => anyhow::anyhow!("--agent: the workspace has no agent {agent_id}"),
        error => anyhow::Error::new(error).context("the agent could not be read"),
    })
}

/// Whether `url` is `path` on the service, and at `public_url` when that is known.
fn is_service_url(url: &str, public_url: Option<&Url>, path: &str) -> bool {
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    let on_path = url.path().trim_end_matches('/') == path;
    match public_url {
        Some(public) => on_path && url.origin() == public.origin(),
        None => on_path,
    }
}

/// `path` under `public_url`, or a placeholder to fill in.
fn service_url(public_url: Option<&Url>, path: &str) -> String {
    match public_url {
        Some(public) => format!("{}{path}", public.as_str().trim_end_matches('/')),
        None => format!("https://<your host>{path}"),
    }
}

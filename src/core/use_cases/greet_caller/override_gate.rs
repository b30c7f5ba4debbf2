//! Which overrides each agent allows, learnt from ElevenLabs in the background and cached.
//!
//! The greeting never waits for ElevenLabs: it asks the gate, which answers from what it already
//! knows and, when an agent is new or its settings are older than the refresh interval, starts a
//! read in the background. Until an agent's settings are known, no override is sent.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::ports::{
    AgentSettings, AgentSettingsError, Clock, ErrorChain, OverridePermissions,
};
use crate::core::AgentId;

/// How many agents the gate remembers; an authenticated caller naming ever new agent ids must not
/// grow memory or the API traffic without bound. Agents past it get no override.
pub const MAX_KNOWN_AGENTS: usize = 1_024;

/// The longest wait before a failed read is tried again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Whether an override may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideVerdict {
    Allowed,
    Withheld(WithheldReason),
}

/// Why an override the service would have sent was left out of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WithheldReason {
    /// The agent's settings do not allow this override.
    NotAllowed,
    /// The agent's settings are not known yet (its first ring; the read is under way).
    SettingsUnknown,
    /// The agent's settings could not be read from ElevenLabs.
    SettingsUnavailable,
    /// ElevenLabs has no agent with the id the request named.
    UnknownAgent,
    /// The request named no usable agent id, so its settings cannot be known.
    NoAgent,
    /// More agents than the gate remembers have rung.
    TooManyAgents,
}

impl WithheldReason {
    /// Every reason, in declaration order (`reason as usize` is its index here).
    pub const ALL: [WithheldReason; 6] = [
        Self::NotAllowed,
        Self::SettingsUnknown,
        Self::SettingsUnavailable,
        Self::UnknownAgent,
        Self::NoAgent,
        Self::TooManyAgents,
    ];

    /// A stable label (for logs and metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAllowed => "not_allowed",
            Self::SettingsUnknown => "settings_unknown",
            Self::SettingsUnavailable => "settings_unavailable",
            Self::UnknownAgent => "unknown_agent",
            Self::NoAgent => "no_agent",
            Self::TooManyAgents => "too_many_agents",
        }
    }

    /// What a person reading the log should know or do.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::NotAllowed => "the agent does not allow this override; enable it in the agent's Security tab or set FIRST_MESSAGE_OVERRIDE=false",
            Self::SettingsUnknown => "the agent's settings are being read from ElevenLabs for the first time",
            Self::SettingsUnavailable => "the agent's settings could not be read from ElevenLabs",
            Self::UnknownAgent => "ElevenLabs has no agent with this id",
            Self::NoAgent => "the request named no usable agent id",
            Self::TooManyAgents => "more agents rang than the service keeps settings for",
        }
    }
}

impl fmt::Display for WithheldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known of one agent.
#[derive(Debug, Default)]
struct Known {
    /// The last permissions read, kept through later failed reads.
    permissions: Option<Result<OverridePermissions, WithheldReason>>,
    /// When the last read (successful or not) finished.
    checked_at: Option<DateTime<Utc>>,
    /// Whether the last read failed.
    failed: bool,
    /// A read is under way.
    reading: bool,
}

/// Caches each agent's override permissions and refreshes them in the background.
pub struct OverrideGate {
    settings: Arc<dyn AgentSettings>,
    clock: Arc<dyn Clock>,
    refresh: Duration,
    agents: Mutex<HashMap<AgentId, Known>>,
}

impl OverrideGate {
    /// `refresh` is how long permissions read from ElevenLabs are trusted.
    pub fn new(settings: Arc<dyn AgentSettings>, clock: Arc<dyn Clock>, refresh: Duration) -> Self {
        Self {
            settings,
            clock,
            refresh,
            agents: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `agent` allows the first-message override, from what is known now; never waits.
    /// Starts a background read when the agent is new or its settings are due for a refresh.
    pub fn first_message(self: &Arc<Self>, agent: Option<&AgentId>) -> OverrideVerdict {
        let Some(agent) = agent else {
            return OverrideVerdict::Withheld(WithheldReason::NoAgent);
        };
        let mut agents = self.agents();
        if !agents.contains_key(agent) && agents.len() >= MAX_KNOWN_AGENTS {
            return OverrideVerdict::Withheld(WithheldReason::TooManyAgents);
        }
        let known = agents.entry(agent.clone()).or_default();
        if !known.reading && self.is_due(known) {
            known.reading = true;
            tokio::spawn(Arc::clone(self).read(agent.clone()));
        }
        match known.permissions {
            Some(Ok(permissions)) if permissions.first_message => OverrideVerdict::Allowed,
            Some(Ok(_)) => OverrideVerdict::Withheld(WithheldReason::NotAllowed),
            Some(Err(reason)) => OverrideVerdict::Withheld(reason),
            None if known.failed => OverrideVerdict::Withheld(WithheldReason::SettingsUnavailable),
            None => OverrideVerdict::Withheld(WithheldReason::SettingsUnknown),
        }
    }

    fn is_due(&self, known: &Known) -> bool {
        let Some(checked_at) = known.checked_at else {
            return true;
        };
        let interval = if known.failed {
            self.refresh.min(RETRY_AFTER_FAILURE)
        } else {
            self.refresh
        };
        let age = (self.clock.now() - checked_at).to_std().unwrap_or_default();
        age >= interval
    }

    /// Reads `agent`'s settings and records the result.
    async fn read(self: Arc<Self>, agent: AgentId) {
        let result = self.settings.override_permissions(&agent).await;
        let now = self.clock.now();
        let mut agents = self.agents();
        let known = agents.entry(agent.clone()).or_default();
        known.reading = false;
        known.checked_at = Some(now);
        match result {
            Ok(permissions) => {
                if known.permissions != Some(Ok(permissions)) {
                    tracing::info!(%agent, first_message_override = permissions.first_message, "agent override permissions read from ElevenLabs");
                }
                known.permissions = Some(Ok(permissions));
                known.failed = false;
            }
            Err(AgentSettingsError::UnknownAgent) => {
                tracing::warn!(%agent, "ElevenLabs has no agent with this id; no override is sent for it");
                known.permissions = Some(Err(WithheldReason::UnknownAgent));
                known.failed = false;
            }
            Err(error) => {
                tracing::warn!(%agent, error = %ErrorChain(&error), kept_previous = known.permissions.is_some(), "agent override permissions could not be read; will try again");
                known.failed = true;
            }
        }
    }

    /// Lets the background reads finish (tests run them on a single-threaded runtime).
    #[cfg(test)]
    pub(crate) async fn settle(&self) {
        for _ in 0..10_000 {
            if self.agents().values().all(|known| !known.reading) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("a background read did not finish");
    }

    fn agents(&self) -> MutexGuard<'_, HashMap<AgentId, Known>> {
        self.agents
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests;

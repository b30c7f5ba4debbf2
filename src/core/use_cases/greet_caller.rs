//! Greet a caller while the phone is ringing: recognise them by number from their profile card.
//!
//! The greeting never fails: a withheld number, a caller without a card, a slow or broken store
//! and an unreadable card all give the new-caller greeting, because a failed greeting would drop
//! the call.

mod composed;
mod override_gate;
mod summary;

use std::sync::Arc;
use std::time::Duration;

use crate::core::ports::{
    Blob, BlobStore, CallerMemo, ErrorChain, GreetingFallback, NoTelemetry, ReadStart, Telemetry,
};
use crate::core::use_cases::read_profile::read_profile_blob;
use crate::core::use_cases::ReadProfileError;
use crate::core::{AgentId, CallerId, FirstMessageTemplate, ProfileCard};
use composed::ComposedGreetings;

pub use override_gate::{OverrideGate, OverrideVerdict, WithheldReason, MAX_KNOWN_AGENTS};
pub use summary::{MAX_LAST_CALL_SUMMARY_CHARS, MAX_PROFILE_SUMMARY_CHARS};

/// What the agent knows about the caller when it picks up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Greeting {
    /// The caller's name, or empty when unknown.
    pub user_name: String,
    /// A short, speakable description of the caller; empty for a new caller.
    pub user_profile_summary: String,
    /// The summary of the caller's last call (with this agent when there was one); empty when
    /// unknown.
    pub last_call_summary: String,
    pub is_returning_caller: bool,
    pub previous_call_count: u64,
    /// What the agent says first instead of its own first message; `None` keeps the agent's own.
    pub first_message: Option<String>,
    /// Why the personalised first message was left out, when it was (so that it can be counted).
    pub withheld_override: Option<WithheldReason>,
}

impl Greeting {
    /// The neutral greeting for a caller the service does not know.
    pub fn new_caller() -> Self {
        Self {
            user_name: String::new(),
            user_profile_summary: String::new(),
            last_call_summary: String::new(),
            is_returning_caller: false,
            previous_call_count: 0,
            first_message: None,
            withheld_override: None,
        }
    }
}

/// Whether returning callers get a personalised first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstMessagePolicy {
    /// Replace the agent's first message with this template, rendered for the caller.
    Personalised(FirstMessageTemplate),
    /// Keep the agent's own first message (for agents that do not allow the override).
    AgentDefault,
}

/// The greet-caller use case.
pub struct GreetCaller {
    profiles: Arc<dyn BlobStore>,
    first_message: FirstMessagePolicy,
    deadline: Duration,
    /// When set, an override is sent only if the agent allows it.
    overrides: Option<Arc<OverrideGate>>,
    telemetry: Arc<dyn Telemetry>,
    composed: Arc<ComposedGreetings>,
}

/// How many callers' composed greetings are kept (a greeting is well under 2 KiB).
const COMPOSED_GREETINGS: usize = 4_096;

impl GreetCaller {
    /// `deadline` bounds the whole lookup; past it the caller is greeted as a new caller.
    pub fn new(
        profiles: Arc<dyn BlobStore>,
        first_message: FirstMessagePolicy,
        deadline: Duration,
    ) -> Self {
        Self {
            profiles,
            first_message,
            deadline,
            overrides: None,
            telemetry: Arc::new(NoTelemetry),
            composed: Arc::new(ComposedGreetings::new(COMPOSED_GREETINGS)),
        }
    }

    /// Sends the first-message override only to agents that `gate` says allow it.
    pub fn with_override_gate(mut self, gate: Arc<OverrideGate>) -> Self {
        self.overrides = Some(gate);
        self
    }

    /// Reports greeting fallbacks to `telemetry`.
    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// The greetings this use case keeps in memory, for an erasure to forget.
    pub fn memo(&self) -> Arc<dyn CallerMemo> {
        self.composed.clone()
    }

    /// Whether a greeting of `caller` is kept in memory.
    #[cfg(test)]
    pub(crate) fn remembers(&self, caller: &CallerId) -> bool {
        self.composed.holds(caller)
    }

    /// Greets `caller` (`None` when the number is withheld or unusable) on behalf of `agent`.
    pub async fn greet(&self, caller: Option<&CallerId>, agent: Option<&AgentId>) -> Greeting {
        // Asked at every ring, so that an agent's settings are learnt before its first returning
        // caller; the answer never waits for ElevenLabs.
        let verdict = match (&self.overrides, &self.first_message) {
            (Some(gate), FirstMessagePolicy::Personalised(_)) => gate.first_message(agent),
            _ => OverrideVerdict::Allowed,
        };
        let Some(caller) = caller else {
            return Greeting::new_caller();
        };
        let start = self.composed.read_start();
        let greeting = match read_profile_blob(self.profiles.as_ref(), caller, self.deadline).await
        {
            Ok(Some(card)) => self.compose(start, caller, &card, agent),
            Ok(None) => Ok(Greeting::new_caller()),
            Err(error) => Err(error),
        };
        match greeting {
            Ok(greeting) => self.apply(verdict, greeting, agent),
            Err(error) => {
                tracing::warn!(%caller, error = %ErrorChain(&error), "greeting the caller as new: profile card lookup failed");
                self.telemetry.greeting_fallback(match error {
                    ReadProfileError::DeadlinePassed(_) => GreetingFallback::DeadlinePassed,
                    ReadProfileError::Storage(_) => GreetingFallback::StoreFailed,
                    ReadProfileError::Corrupt(_) => GreetingFallback::UnreadableCard,
                });
                Greeting::new_caller()
            }
        }
    }

    /// The greeting of the caller whose card is `card`, as if the agent allowed the override:
    /// composed once per card version and agent, then kept (unless a caller was forgotten since
    /// `start`, when the card read began).
    fn compose(
        &self,
        start: ReadStart,
        caller: &CallerId,
        card: &Blob,
        agent: Option<&AgentId>,
    ) -> Result<Greeting, ReadProfileError> {
        if let Some(greeting) = self.composed.get(caller, &card.version, agent) {
            return Ok(greeting);
        }
        let decoded = ProfileCard::decode(&card.bytes)?;
        let greeting = if decoded.call_count > 0 {
            self.returning_caller(&decoded, agent)
        } else {
            Greeting::new_caller()
        };
        self.composed
            .keep(start, caller, &card.version, agent, &greeting);
        Ok(greeting)
    }

    /// Leaves the personalised first message out when the agent does not allow it (or might
    /// not), saying why.
    fn apply(
        &self,
        verdict: OverrideVerdict,
        mut greeting: Greeting,
        agent: Option<&AgentId>,
    ) -> Greeting {
        if let (OverrideVerdict::Withheld(reason), Some(_)) = (verdict, &greeting.first_message) {
            let agent = agent.map(AgentId::as_str).unwrap_or_default();
            tracing::info!(
                agent,
                reason = reason.as_str(),
                "first message override withheld: {}",
                reason.explanation()
            );
            greeting.first_message = None;
            greeting.withheld_override = Some(reason);
        }
        greeting
    }

    fn returning_caller(&self, card: &ProfileCard, agent: Option<&AgentId>) -> Greeting {
        let name = card
            .name
            .as_deref()
            .map(summary::one_line)
            .filter(|name| !name.is_empty());
        let first_message = match &self.first_message {
            FirstMessagePolicy::Personalised(template) => Some(template.render(name.as_deref())),
            FirstMessagePolicy::AgentDefault => None,
        };
        Greeting {
            user_name: name.unwrap_or_default(),
            user_profile_summary: summary::profile_summary(card),
            last_call_summary: last_call_summary(card, agent)
                .map(|text| summary::clip(&summary::one_line(text), MAX_LAST_CALL_SUMMARY_CHARS))
                .unwrap_or_default(),
            is_returning_caller: true,
            previous_call_count: card.call_count,
            first_message,
            withheld_override: None,
        }
    }
}

/// The summary of the caller's last call with `agent` when they have talked to it before, else of
/// their last call; `None` when no summary is known.
pub fn last_call_summary<'card>(
    card: &'card ProfileCard,
    agent: Option<&AgentId>,
) -> Option<&'card str> {
    let with_agent = agent.and_then(|agent| card.last_call_per_agent.get(agent.as_str()));
    with_agent
        .and_then(|call| call.summary.as_deref())
        .or_else(|| card.last_call.as_ref()?.summary.as_deref())
}

#[cfg(test)]
mod tests;

//! Post-call outcomes and the streak of consecutive failed deliveries.
//!
//! ElevenLabs disables the post-call webhook after 10 consecutive failed deliveries, so the
//! streak is counted here, exported as a gauge, and said once in the log when it reaches
//! [`STREAK_WARNING`] and [`STREAK_CRITICAL`], with what to do about it. Post-call traffic is a
//! few deliveries per call, so the streak's small lock is never busy.

use std::sync::Mutex;

use prometheus::IntGauge;

use super::Metrics;

/// A streak this long is logged as a warning (the `PostCallFailureStreak` alert warns too).
pub const STREAK_WARNING: u64 = 3;
/// A streak this long is logged as an error (the critical alert).
pub const STREAK_CRITICAL: u64 = 5;
/// ElevenLabs disables a webhook after this many failed deliveries in a row.
const ELEVENLABS_DISABLES_AFTER: u64 = 10;

/// What became of one post-call delivery (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostCallOutcome {
    Archived,
    Ignored,
    /// 401: the signature is missing, wrong or outside the tolerance.
    RefusedSignature,
    /// 413: the body is larger than `MAX_BODY_BYTES`.
    RefusedSize,
    /// Any other 4xx: not a valid webhook payload (JSON, content type, conversation id, audio).
    RefusedShape,
    /// 5xx: the delivery could not be stored.
    Failed,
}

impl PostCallOutcome {
    /// The outcome of a delivery answered with `status` when it was not accepted.
    pub fn of_refusal(status: u16) -> Self {
        match status {
            401 => Self::RefusedSignature,
            413 => Self::RefusedSize,
            400..=499 => Self::RefusedShape,
            _ => Self::Failed,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Archived => "archived",
            Self::Ignored => "ignored",
            Self::RefusedSignature => "refused_signature",
            Self::RefusedSize => "refused_size",
            Self::RefusedShape => "refused_shape",
            Self::Failed => "failed",
        }
    }

    /// What a person should do when deliveries keep ending this way.
    fn advice(self) -> &'static str {
        match self {
            Self::RefusedSignature => {
                "were refused for their signature: ELEVENLABS_POST_CALL_KEY probably differs from \
                 the webhook secret"
            }
            Self::RefusedSize => {
                "were refused as larger than MAX_BODY_BYTES: raise MAX_BODY_BYTES (and the body \
                 limit of any proxy in front)"
            }
            Self::RefusedShape => {
                "were refused as malformed (not JSON, a wrong content type or a bad conversation \
                 id): check that nothing between ElevenLabs and the service rewrites the request"
            }
            Self::Failed => {
                "could not be stored: check that PAYLOAD_STORAGE_PATH is writable and has free \
                 space"
            }
            Self::Archived | Self::Ignored => "succeeded",
        }
    }
}

/// The event types with their own label value; any other type is counted as `other`.
const EVENT_TYPES: [&str; 3] = [
    "post_call_transcription",
    "post_call_audio",
    "call_initiation_failure",
];

fn event_type_label(event_type: &str) -> &str {
    EVENT_TYPES
        .iter()
        .find(|known| **known == event_type)
        .copied()
        .unwrap_or("other")
}

/// Consecutive non-2xx post-call answers.
pub(super) struct Streak {
    gauge: IntGauge,
    state: Mutex<StreakState>,
}

#[derive(Default)]
struct StreakState {
    length: u64,
    /// The outcome shared by every delivery of the streak, `None` when they differ.
    common: Option<PostCallOutcome>,
}

impl Streak {
    pub(super) fn new(gauge: IntGauge) -> Self {
        Self {
            gauge,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, StreakState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn extend(&self, outcome: PostCallOutcome) {
        let mut state = self.state();
        state.common = match (state.length, state.common) {
            (0, _) => Some(outcome),
            (_, Some(common)) if common == outcome => Some(common),
            _ => None,
        };
        state.length += 1;
        self.gauge
            .set(i64::try_from(state.length).unwrap_or(i64::MAX));
        let message = || streak_message(state.length, state.common);
        if state.length == STREAK_WARNING {
            tracing::warn!("{}", message());
        } else if state.length == STREAK_CRITICAL {
            tracing::error!("{}", message());
        }
    }

    fn end(&self) {
        let mut state = self.state();
        if state.length >= STREAK_WARNING {
            tracing::info!(
                "post-call deliveries succeed again after {} in a row did not",
                state.length
            );
        }
        *state = StreakState::default();
        self.gauge.set(0);
    }
}

/// What the log says at a streak threshold, in words a person acts on.
pub fn streak_message(length: u64, common: Option<PostCallOutcome>) -> String {
    let what = match common {
        Some(outcome) => outcome.advice().to_owned(),
        None => "were refused or failed for several reasons: see the warnings above".to_owned(),
    };
    format!(
        "{length} post-call deliveries in a row {what}; ElevenLabs disables the webhook after \
         {ELEVENLABS_DISABLES_AFTER}"
    )
}

impl Metrics {
    /// Counts a delivery the post-call operation accepted (`archived` or ignored); the streak
    /// ends when the answer goes out ([`Metrics::post_call_answered`]).
    pub fn post_call_accepted(&self, event_type: &str, archived: bool) {
        let outcome = if archived {
            PostCallOutcome::Archived
        } else {
            PostCallOutcome::Ignored
        };
        self.instruments
            .post_call_deliveries
            .with_label_values(&[event_type_label(event_type), outcome.label()])
            .inc();
    }

    /// Sees every post-call answer: a 2xx ends the streak; anything else is counted by reason
    /// (its event type unknown, since a refused body is not read) and extends the streak.
    pub fn post_call_answered(&self, status: u16) {
        if (200..300).contains(&status) {
            self.streak.end();
            return;
        }
        let outcome = PostCallOutcome::of_refusal(status);
        self.instruments
            .post_call_deliveries
            .with_label_values(&["unknown", outcome.label()])
            .inc();
        self.streak.extend(outcome);
    }
}

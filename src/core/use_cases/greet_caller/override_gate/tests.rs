use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::TimeZone;

use super::*;
use crate::test_doubles::ManualClock;

type Answer = Result<OverridePermissions, AgentSettingsError>;

/// Answers each read with the next scripted answer (the last one repeats), or never answers
/// when it hangs.
struct ScriptedSettings {
    answers: Mutex<VecDeque<fn() -> Answer>>,
    reads: AtomicUsize,
    hang: bool,
}

impl ScriptedSettings {
    fn new(answers: &[fn() -> Answer]) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(answers.iter().copied().collect()),
            reads: AtomicUsize::new(0),
            hang: false,
        })
    }

    fn hanging() -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(VecDeque::new()),
            reads: AtomicUsize::new(0),
            hang: true,
        })
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl AgentSettings for ScriptedSettings {
    async fn override_permissions(&self, _agent: &AgentId) -> Answer {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.hang {
            std::future::pending::<()>().await;
        }
        let answer = {
            let mut answers = self.answers.lock().unwrap();
            if answers.len() > 1 {
                answers.pop_front().unwrap()
            } else {
                *answers.front().unwrap()
            }
        };
        answer()
    }
}

fn allowed() -> Answer {
    Ok(OverridePermissions {
        first_message: true,
    })
}

fn forbidden() -> Answer {
    Ok(OverridePermissions {
        first_message: false,
    })
}

fn down() -> Answer {
    Err(AgentSettingsError::Unavailable("connection refused".into()))
}

fn missing() -> Answer {
    Err(AgentSettingsError::UnknownAgent)
}

const REFRESH: Duration = Duration::from_secs(300);

struct Setup {
    gate: Arc<OverrideGate>,
    clock: Arc<ManualClock>,
}

fn gate(settings: Arc<ScriptedSettings>) -> Setup {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
    ));
    let gate = Arc::new(OverrideGate::new(settings, clock.clone(), REFRESH));
    Setup { gate, clock }
}

fn agent(id: &str) -> AgentId {
    AgentId::parse(id).unwrap()
}

async fn settle(gate: &OverrideGate) {
    gate.settle().await;
}

#[tokio::test]
async fn the_first_ring_gets_no_override_and_never_waits_for_elevenlabs() {
    let settings = ScriptedSettings::hanging();
    let Setup { gate, .. } = gate(settings.clone());
    let verdict = gate.first_message(Some(&agent("agent_1")));
    assert_eq!(
        verdict,
        OverrideVerdict::Withheld(WithheldReason::SettingsUnknown)
    );
    tokio::task::yield_now().await;
    assert_eq!(settings.reads(), 1, "the read starts in the background");
    assert_eq!(
        gate.first_message(Some(&agent("agent_1"))),
        OverrideVerdict::Withheld(WithheldReason::SettingsUnknown)
    );
    tokio::task::yield_now().await;
    assert_eq!(settings.reads(), 1, "one read at a time per agent");
}

#[tokio::test]
async fn once_read_the_agents_own_permission_decides() {
    let cases: [(fn() -> Answer, OverrideVerdict); 3] = [
        (allowed, OverrideVerdict::Allowed),
        (
            forbidden,
            OverrideVerdict::Withheld(WithheldReason::NotAllowed),
        ),
        (
            missing,
            OverrideVerdict::Withheld(WithheldReason::UnknownAgent),
        ),
    ];
    for (answer, expected) in cases {
        let Setup { gate, .. } = gate(ScriptedSettings::new(&[answer]));
        gate.first_message(Some(&agent("agent_1")));
        settle(&gate).await;
        assert_eq!(gate.first_message(Some(&agent("agent_1"))), expected);
    }
}

#[tokio::test]
async fn permissions_are_trusted_until_the_refresh_interval_then_read_again() {
    let settings = ScriptedSettings::new(&[allowed, forbidden]);
    let Setup { gate, clock } = gate(settings.clone());
    gate.first_message(Some(&agent("agent_1")));
    settle(&gate).await;
    clock.advance(chrono::Duration::seconds(299));
    assert_eq!(
        gate.first_message(Some(&agent("agent_1"))),
        OverrideVerdict::Allowed
    );
    settle(&gate).await;
    assert_eq!(settings.reads(), 1);
    clock.advance(chrono::Duration::seconds(1));
    gate.first_message(Some(&agent("agent_1")));
    settle(&gate).await;
    assert_eq!(settings.reads(), 2);
    assert_eq!(
        gate.first_message(Some(&agent("agent_1"))),
        OverrideVerdict::Withheld(WithheldReason::NotAllowed)
    );
}

#[tokio::test]
async fn an_unreachable_api_withholds_the_override_and_is_tried_again_soon() {
    let settings = ScriptedSettings::new(&[down, allowed]);
    let Setup { gate, clock } = gate(settings.clone());
    gate.first_message(Some(&agent("agent_1")));
    settle(&gate).await;
    assert_eq!(
        gate.first_message(Some(&agent("agent_1"))),
        OverrideVerdict::Withheld(WithheldReason::SettingsUnavailable)
    );
    clock.advance(chrono::Duration::seconds(30));
    gate.first_message(Some(&agent("agent_1")));
    settle(&gate).await;
    assert_eq!(
        gate.first_message(Some(&agent("agent_1"))),
        OverrideVerdict::Allowed
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_permissions_last_read() {
    let settings = ScriptedSettings::new(&[allowed, down]);
    let Setup { gate, clock } = gate(settings.clone());
    gate.first_message(Some(&agent("agent_1")));
    settle(&gate).await;
    clock.advance(chrono::Duration::seconds(300));
    gate.first_message(Some(&agent("agent_1")));
    settle(&gate).await;
    assert_eq!(settings.reads(), 2);
    assert_eq!(
        gate.first_message(Some(&agent("agent_1"))),
        OverrideVerdict::Allowed
    );
}

#[tokio::test]
async fn without_an_agent_id_or_past_the_agent_limit_nothing_is_read() {
    let settings = ScriptedSettings::new(&[allowed]);
    let Setup { gate, .. } = gate(settings.clone());
    assert_eq!(
        gate.first_message(None),
        OverrideVerdict::Withheld(WithheldReason::NoAgent)
    );
    for index in 0..MAX_KNOWN_AGENTS {
        gate.first_message(Some(&agent(&format!("agent_{index}"))));
    }
    settle(&gate).await;
    assert_eq!(settings.reads(), MAX_KNOWN_AGENTS);
    assert_eq!(
        gate.first_message(Some(&agent("agent_one_too_many"))),
        OverrideVerdict::Withheld(WithheldReason::TooManyAgents)
    );
    settle(&gate).await;
    assert_eq!(settings.reads(), MAX_KNOWN_AGENTS);
}

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{TimeZone, Utc};

use super::*;
use crate::core::ports::{
    Blob, BlobKey, BlobStoreError, BlobVersion, ByteStream, MockBlobStore, PutCondition,
};
use crate::core::use_cases::test_support::{
    erasure, maria, store_with_card, RecordingTelemetry, Reported,
};
use crate::core::CallRecord;
use crate::test_doubles::{InMemoryBlobStore, InMemoryMemoryStore};

const TEMPLATE: &str = "Hi{name_greeting}, welcome back! How can I help you today?";

fn agent(id: &str) -> AgentId {
    AgentId::parse(id).unwrap()
}

fn call(conversation: &str, summary: &str) -> CallRecord {
    CallRecord {
        conversation_id: conversation.to_owned(),
        at: Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap(),
        summary: Some(summary.to_owned()),
    }
}

fn marias_card() -> ProfileCard {
    ProfileCard {
        name: Some("Maria".to_owned()),
        call_count: 2,
        last_call: Some(call("conv_2", "Asked about parking.")),
        last_call_per_agent: [(
            "agent_dental".to_owned(),
            call("conv_1", "Moved her cleaning."),
        )]
        .into_iter()
        .collect(),
        ..ProfileCard::default()
    }
}

fn personalised() -> FirstMessagePolicy {
    FirstMessagePolicy::Personalised(FirstMessageTemplate::parse(TEMPLATE).unwrap())
}

fn greeter(store: Arc<dyn BlobStore>, policy: FirstMessagePolicy) -> GreetCaller {
    GreetCaller::new(store, policy, Duration::from_millis(200))
}

#[tokio::test]
async fn a_returning_caller_is_greeted_by_name() {
    let store = store_with_card(&maria(), &marias_card()).await;
    let greeting = greeter(store, personalised())
        .greet(Some(&maria()), None)
        .await;
    assert_eq!(greeting.user_name, "Maria");
    assert!(greeting.is_returning_caller);
    assert_eq!(greeting.previous_call_count, 2);
    assert_eq!(greeting.last_call_summary, "Asked about parking.");
    assert!(greeting
        .user_profile_summary
        .starts_with("Maria has called twice before"));
    assert_eq!(
        greeting.first_message.as_deref(),
        Some("Hi, Maria, welcome back! How can I help you today?")
    );
}

#[tokio::test]
async fn the_last_call_with_this_agent_is_preferred_over_the_last_call_overall() {
    let store = store_with_card(&maria(), &marias_card()).await;
    let greeter = greeter(store, personalised());
    let dental = greeter
        .greet(Some(&maria()), Some(&agent("agent_dental")))
        .await;
    assert_eq!(dental.last_call_summary, "Moved her cleaning.");
    let other = greeter
        .greet(Some(&maria()), Some(&agent("agent_other")))
        .await;
    assert_eq!(other.last_call_summary, "Asked about parking.");
}

#[tokio::test]
async fn an_unknown_caller_gets_neutral_values_and_no_first_message() {
    let store = Arc::new(InMemoryBlobStore::new());
    let greeting = greeter(store, personalised())
        .greet(Some(&maria()), None)
        .await;
    assert_eq!(greeting, Greeting::new_caller());
    assert_eq!(greeting.first_message, None);
}

#[tokio::test]
async fn a_withheld_number_is_greeted_as_a_new_caller_without_a_lookup() {
    let store = MockBlobStore::new(); // any call would panic: no expectations are set
    let greeting = greeter(Arc::new(store), personalised())
        .greet(None, None)
        .await;
    assert_eq!(greeting, Greeting::new_caller());
}

#[tokio::test]
async fn a_returning_caller_without_a_name_still_gets_a_natural_first_message() {
    let card = ProfileCard {
        name: None,
        ..marias_card()
    };
    let store = store_with_card(&maria(), &card).await;
    let greeting = greeter(store, personalised())
        .greet(Some(&maria()), None)
        .await;
    assert_eq!(greeting.user_name, "");
    assert_eq!(
        greeting.first_message.as_deref(),
        Some("Hi, welcome back! How can I help you today?")
    );
}

#[tokio::test]
async fn a_name_that_looks_like_a_placeholder_is_said_literally() {
    let card = ProfileCard {
        name: Some("{name_greeting}".to_owned()),
        ..marias_card()
    };
    let store = store_with_card(&maria(), &card).await;
    let greeting = greeter(store, personalised())
        .greet(Some(&maria()), None)
        .await;
    assert_eq!(
        greeting.first_message.as_deref(),
        Some("Hi, {name_greeting}, welcome back! How can I help you today?")
    );
}

#[tokio::test]
async fn with_the_override_switched_off_the_agent_keeps_its_own_first_message() {
    let store = store_with_card(&maria(), &marias_card()).await;
    let greeting = greeter(store, FirstMessagePolicy::AgentDefault)
        .greet(Some(&maria()), None)
        .await;
    assert_eq!(greeting.user_name, "Maria");
    assert_eq!(greeting.first_message, None);
}

#[tokio::test]
async fn a_failing_store_gives_the_new_caller_greeting() {
    let mut store = MockBlobStore::new();
    store
        .expect_get()
        .returning(|_| Err(BlobStoreError::storage("disk unreadable")));
    let greeting = greeter(Arc::new(store), personalised())
        .greet(Some(&maria()), None)
        .await;
    assert_eq!(greeting, Greeting::new_caller());
}

#[tokio::test]
async fn an_unreadable_card_gives_the_new_caller_greeting() {
    let mut store = MockBlobStore::new();
    store.expect_get().returning(|_| {
        Ok(Some(Blob {
            bytes: Bytes::from_static(b"{not json"),
            version: BlobVersion("1".to_owned()),
        }))
    });
    let greeting = greeter(Arc::new(store), personalised())
        .greet(Some(&maria()), None)
        .await;
    assert_eq!(greeting, Greeting::new_caller());
}

#[tokio::test]
async fn a_store_that_hangs_gives_the_new_caller_greeting_at_the_deadline() {
    let telemetry = Arc::new(RecordingTelemetry::default());
    let greeter = GreetCaller::new(
        Arc::new(HangingBlobStore),
        personalised(),
        Duration::from_millis(50),
    )
    .with_telemetry(telemetry.clone());
    let started = Instant::now();
    let greeting = greeter.greet(Some(&maria()), None).await;
    assert_eq!(greeting, Greeting::new_caller());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the deadline was not applied"
    );
    assert_eq!(
        telemetry.events(),
        [Reported::GreetingFallback(GreetingFallback::DeadlinePassed)]
    );
}

#[tokio::test]
async fn new_and_returning_callers_greeted_normally_report_no_fallback() {
    let telemetry = Arc::new(RecordingTelemetry::default());
    let store = store_with_card(&maria(), &marias_card()).await;
    let greeter = greeter(store, personalised()).with_telemetry(telemetry.clone());
    greeter.greet(Some(&maria()), None).await;
    let stranger = CallerId::parse("+34911234567").unwrap();
    greeter.greet(Some(&stranger), None).await;
    greeter.greet(None, None).await;
    assert_eq!(telemetry.events(), []);
}

/// A store that never answers.
struct HangingBlobStore;

#[async_trait]
impl BlobStore for HangingBlobStore {
    async fn put(
        &self,
        _: &BlobKey,
        _: Bytes,
        _: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        std::future::pending().await
    }
    async fn put_stream(&self, _: &BlobKey, _: ByteStream) -> Result<BlobVersion, BlobStoreError> {
        std::future::pending().await
    }
    async fn get(&self, _: &BlobKey) -> Result<Option<Blob>, BlobStoreError> {
        std::future::pending().await
    }
    async fn list(&self, _: &str) -> Result<Vec<BlobKey>, BlobStoreError> {
        std::future::pending().await
    }
    async fn delete(&self, _: &BlobKey) -> Result<(), BlobStoreError> {
        std::future::pending().await
    }
    async fn check(&self) -> Result<(), BlobStoreError> {
        std::future::pending().await
    }
}

fn gate_answering(first_message: bool) -> Arc<OverrideGate> {
    let mut settings = crate::core::ports::MockAgentSettings::new();
    settings
        .expect_override_permissions()
        .returning(move |_| Ok(crate::core::ports::OverridePermissions { first_message }));
    Arc::new(OverrideGate::new(
        Arc::new(settings),
        Arc::new(crate::test_doubles::ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        )),
        Duration::from_secs(300),
    ))
}

#[tokio::test]
async fn an_agent_that_allows_the_override_gets_it_once_its_settings_are_known() {
    let store = store_with_card(&maria(), &marias_card()).await;
    let gate = gate_answering(true);
    let greeter = greeter(store, personalised()).with_override_gate(gate.clone());
    let first = greeter
        .greet(Some(&maria()), Some(&agent("agent_dental")))
        .await;
    assert_eq!(first.first_message, None, "unknown settings: no override");
    assert_eq!(
        first.withheld_override,
        Some(WithheldReason::SettingsUnknown)
    );
    assert_eq!(
        first.user_name, "Maria",
        "dynamic variables are always sent"
    );
    gate.settle().await;
    let second = greeter
        .greet(Some(&maria()), Some(&agent("agent_dental")))
        .await;
    assert_eq!(
        second.first_message.as_deref(),
        Some("Hi, Maria, welcome back! How can I help you today?")
    );
    assert_eq!(second.withheld_override, None);
}

#[tokio::test]
async fn an_agent_that_forbids_the_override_never_gets_it_but_keeps_its_variables() {
    let store = store_with_card(&maria(), &marias_card()).await;
    let gate = gate_answering(false);
    let greeter = greeter(store, personalised()).with_override_gate(gate.clone());
    greeter.greet(None, Some(&agent("agent_dental"))).await;
    gate.settle().await;
    let greeting = greeter
        .greet(Some(&maria()), Some(&agent("agent_dental")))
        .await;
    assert_eq!(greeting.first_message, None);
    assert_eq!(greeting.withheld_override, Some(WithheldReason::NotAllowed));
    assert!(greeting.is_returning_caller);
    assert_eq!(greeting.previous_call_count, 2);
}

#[tokio::test]
async fn an_erased_callers_greeting_is_not_kept_in_memory() {
    let store = store_with_card(&maria(), &marias_card()).await;
    let greeter = greeter(store.clone(), personalised());
    greeter.greet(Some(&maria()), None).await;
    assert!(greeter.remembers(&maria()));

    erasure(Arc::new(InMemoryMemoryStore::new()), store, greeter.memo())
        .erase(&maria())
        .await
        .unwrap();

    assert!(!greeter.remembers(&maria()));
}

#[tokio::test]
async fn a_greeting_composed_from_a_card_read_before_an_erasure_is_not_kept() {
    let memo: Arc<std::sync::OnceLock<Arc<dyn CallerMemo>>> = Arc::default();
    let card = Bytes::from(serde_json::to_vec(&marias_card()).unwrap());
    let mut store = MockBlobStore::new();
    store.expect_get().returning({
        let memo = memo.clone();
        move |_| {
            // The erasure finishes while the card read before it is on its way.
            memo.get().expect("the greeter's memo").forget(&maria());
            Ok(Some(Blob {
                bytes: card.clone(),
                version: BlobVersion("v1".to_owned()),
            }))
        }
    });
    let greeter = greeter(Arc::new(store), personalised());
    assert!(memo.set(greeter.memo()).is_ok());

    let greeting = greeter.greet(Some(&maria()), None).await;

    assert_eq!(greeting.user_name, "Maria");
    assert!(!greeter.remembers(&maria()));
}

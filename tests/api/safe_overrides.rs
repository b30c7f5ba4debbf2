//! Safe overrides: with `ELEVENLABS_API_KEY` set, the first-message override goes only to agents
//! whose settings (read from the ElevenLabs API, played by a local fake) allow it, and the
//! greeting never waits for that API.

use std::cell::Cell;
use std::time::Duration;

use serde_json::{json, Value};

use crate::calls::{eventually, Call};
use crate::helpers::{json_body, Backend, TestApp, CLIENT_DATA_KEY};
use crate::metrics::{sample, scrape};
use crate::support::fake_elevenlabs::{agent_json, FakeElevenLabs, FAKE_API_KEY};

const AGENT: &str = "agent_front_desk";

/// The service with the API key, pointed at `fake`, after Maria's call was learnt.
async fn service_knowing_maria(fake: &FakeElevenLabs, refresh_secs: &str) -> TestApp {
    let url = fake.url().to_string();
    let app = TestApp::spawn_service(
        &Backend::Embedded,
        &[
            ("ELEVENLABS_API_KEY", FAKE_API_KEY),
            ("ELEVENLABS_API_URL", &url),
            ("ELEVENLABS_SETTINGS_REFRESH_SECS", refresh_secs),
        ],
    )
    .await;
    let webhooks = app.webhooks();
    webhooks.deliver_call(&Call::maria().transcription()).await;
    webhooks.wait_until_learnt().await;
    app
}

/// Client-data's answer when Maria rings `agent`; the request gives up after 10 s, so a greeting
/// that waited for a hung API fails the test.
async fn ring(app: &TestApp, agent: &str) -> Value {
    let response = app
        .client
        .post(app.url("/webhook/client-data"))
        .header("x-api-key", CLIENT_DATA_KEY)
        .timeout(Duration::from_secs(10))
        .json(
            &json!({"caller_id": Call::maria().number, "agent_id": agent,
                      "called_number": "+15550001111", "call_sid": "CA1"}),
        )
        .send()
        .await
        .expect("the greeting answers without waiting for the ElevenLabs API");
    assert_eq!(response.status(), 200);
    json_body(response).await
}

fn first_message(greeting: &Value) -> Option<&str> {
    greeting["conversation_config_override"]["agent"]["first_message"].as_str()
}

fn assert_variables_of_maria(greeting: &Value) {
    assert_eq!(greeting["type"], "conversation_initiation_client_data");
    assert_eq!(
        greeting["dynamic_variables"]["user_name"], "Maria",
        "{greeting}"
    );
    assert_eq!(greeting["dynamic_variables"]["is_returning_caller"], true);
}

/// Rings until the answer satisfies `condition`, and returns it.
async fn ring_until(app: &TestApp, agent: &str, condition: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = ring(app, agent).await;
        if condition(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the greeting never changed as expected; last answer: {last}");
}

#[tokio::test]
async fn the_first_message_goes_only_to_an_agent_known_to_allow_it_and_stops_when_revoked() {
    let fake = FakeElevenLabs::start().await;
    fake.put_agent(agent_json(AGENT, true));
    let app = service_knowing_maria(&fake, "0").await;

    let first_ring = ring(&app, AGENT).await;
    assert_eq!(
        first_message(&first_ring),
        None,
        "settings unknown: {first_ring}"
    );
    assert!(first_ring.get("conversation_config_override").is_none());
    assert_variables_of_maria(&first_ring);

    let known = ring_until(&app, AGENT, |greeting| first_message(greeting).is_some()).await;
    assert_eq!(
        first_message(&known),
        Some("Hi, Maria, welcome back! How can I help you today?")
    );
    assert!(fake.count("GET", &format!("/v1/convai/agents/{AGENT}")) >= 1);

    fake.put_agent(agent_json(AGENT, false));
    let revoked = ring_until(&app, AGENT, |greeting| first_message(greeting).is_none()).await;
    assert_variables_of_maria(&revoked);
}

/// Rings Maria through an agent that does not allow the override until its settings are known
/// (a second read proves the first one is recorded), checking that no ring carries an override;
/// returns how many rings that took.
async fn ring_until_known_not_allowed(app: &TestApp, fake: &FakeElevenLabs) -> usize {
    let path = format!("/v1/convai/agents/{AGENT}");
    let rings = Cell::new(0);
    // With a refresh interval of 0 every ring reads again, but only once the previous read has
    // been recorded.
    ring_until(app, AGENT, |greeting| {
        rings.set(rings.get() + 1);
        assert_eq!(first_message(greeting), None, "{greeting}");
        assert_variables_of_maria(greeting);
        fake.count("GET", &path) >= 2
    })
    .await;
    rings.get()
}

#[tokio::test]
async fn an_agent_that_does_not_allow_the_override_never_receives_one() {
    let fake = FakeElevenLabs::start().await;
    fake.put_agent(agent_json(AGENT, false));
    let app = service_knowing_maria(&fake, "0").await;
    ring_until_known_not_allowed(&app, &fake).await;
    let greeting = ring(&app, AGENT).await;
    assert_eq!(first_message(&greeting), None, "{greeting}");
}

#[tokio::test]
async fn every_withheld_override_is_counted_by_its_reason_at_the_next_scrape() {
    let fake = FakeElevenLabs::start().await;
    fake.put_agent(agent_json(AGENT, false));
    let app = service_knowing_maria(&fake, "0").await;
    let rings = ring_until_known_not_allowed(&app, &fake).await;
    // The settings are known now: this one is withheld because the agent does not allow it.
    ring(&app, AGENT).await;

    let metrics = scrape(&app).await;
    let withheld = |reason: &str| {
        let series =
            format!("caller_memory_greeting_overrides_withheld_total{{reason=\"{reason}\"}}");
        sample(&metrics, &series).unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    assert!(
        withheld("settings_unknown") >= 1.0,
        "the first ring: {metrics}"
    );
    assert!(withheld("not_allowed") >= 1.0, "the last ring: {metrics}");
    assert_eq!(
        withheld("settings_unknown") + withheld("not_allowed"),
        (rings + 1) as f64,
        "one count per ring of a returning caller"
    );
    assert_eq!(withheld("unknown_agent") + withheld("no_agent"), 0.0);
}

#[tokio::test]
async fn a_hung_or_failing_api_never_delays_the_greeting_and_no_override_is_sent() {
    let fake = FakeElevenLabs::start().await;
    fake.put_agent(agent_json(AGENT, true));
    fake.delay(Duration::from_secs(60));
    let app = service_knowing_maria(&fake, "300").await;
    let hung = ring(&app, AGENT).await;
    assert_eq!(first_message(&hung), None);
    assert_variables_of_maria(&hung);
    eventually("the agent's settings were requested", || {
        fake.count("GET", &format!("/v1/convai/agents/{AGENT}")) == 1
    })
    .await;
    assert_eq!(first_message(&ring(&app, AGENT).await), None);

    let other = "agent_other";
    fake.heal();
    fake.put_agent(agent_json(other, true));
    fake.fail_with(500);
    let path = format!("/v1/convai/agents/{other}");
    let failing = ring(&app, other).await;
    assert_eq!(first_message(&failing), None);
    eventually("the failing read was made", || {
        fake.count("GET", &path) == 1
    })
    .await;
    assert_eq!(first_message(&ring(&app, other).await), None);
}

#[tokio::test]
async fn a_wrong_api_key_or_an_unknown_agent_means_no_override() {
    let fake = FakeElevenLabs::start().await;
    fake.put_agent(agent_json(AGENT, true));
    let url = fake.url().to_string();
    let app = TestApp::spawn_service(
        &Backend::Embedded,
        &[
            ("ELEVENLABS_API_KEY", "not-the-key"),
            ("ELEVENLABS_API_URL", &url),
            ("ELEVENLABS_SETTINGS_REFRESH_SECS", "0"),
        ],
    )
    .await;
    let webhooks = app.webhooks();
    webhooks.deliver_call(&Call::maria().transcription()).await;
    webhooks.wait_until_learnt().await;
    let path = format!("/v1/convai/agents/{AGENT}");
    for _ in 0..200 {
        assert_eq!(first_message(&ring(&app, AGENT).await), None);
        if fake.count("GET", &path) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fake.count("GET", &path) >= 2);
    assert_eq!(first_message(&ring(&app, "agent_missing").await), None);
}

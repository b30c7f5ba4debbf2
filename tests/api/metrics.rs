//! `/metrics` of a running service: scraped, checked with promtool, and its counters compared
//! with the requests the test sent; the alert rules checked and unit-tested with promtool.
//!
//! promtool (Debian's `prometheus` package; `.ci/run` installs it) must be on PATH.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::calls::Call;
use crate::helpers::{json_body, Backend, TestApp, CLIENT_DATA_KEY};

/// Scrapes `/metrics` where `app` serves it, requiring the Prometheus text format.
pub async fn scrape(app: &TestApp) -> String {
    let base = app.metrics_address.as_deref().unwrap_or(&app.address);
    let response = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape sent");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.expect("metrics read")
}

/// The value of one series (`name{label="value",...}` exactly as exposed, labels sorted).
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

/// Runs promtool with `arguments` (and `input` on stdin), failing the test with its output.
fn promtool(arguments: &[&str], input: Option<&str>) {
    let mut child = Command::new("promtool")
        .args(arguments)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is on PATH (Debian's prometheus package; .ci/run installs it)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.unwrap_or("").as_bytes()).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool {arguments:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn forged_delivery(app: &TestApp) -> u16 {
    let response = app
        .client
        .post(app.url("/webhook/post-call"))
        .header("content-type", "application/json")
        .header("elevenlabs-signature", "t=1,v0=00")
        .body("{}")
        .send()
        .await
        .expect("post-call sent");
    response.status().as_u16()
}

#[tokio::test]
async fn a_scraped_service_passes_promtool_and_counts_exactly_the_requests_it_was_sent() {
    let app = TestApp::spawn_service(&Backend::Embedded, &[]).await;
    let webhooks = app.webhooks();
    let maria = Call::maria();
    webhooks.deliver_call(&maria.transcription()).await;
    webhooks.wait_until_learnt().await;
    for _ in 0..3 {
        webhooks.greet(maria.number).await;
    }
    webhooks
        .search(maria.number, "cleaning appointment", 5)
        .await;
    assert_eq!(forged_delivery(&app).await, 401);

    let metrics = scrape(&app).await;
    promtool(&["check", "metrics"], Some(&metrics));

    let value = |series: &str| sample(&metrics, series).unwrap_or_else(|| panic!("no {series}"));
    let requests = |operation: &str, status: &str| {
        value(&format!(
            "caller_memory_http_requests_total{{operation=\"{operation}\",status=\"{status}\"}}"
        ))
    };
    assert_eq!(requests("client_data", "200"), 3.0);
    assert_eq!(requests("search_data", "200"), 1.0);
    assert_eq!(requests("post_call", "200"), 1.0);
    assert_eq!(requests("post_call", "401"), 1.0);
    let latency = r#"caller_memory_http_request_duration_seconds_count{operation="client_data"}"#;
    assert_eq!(value(latency), 3.0);
    let deliveries = |event_type: &str, outcome: &str| {
        value(&format!(
            "caller_memory_post_call_deliveries_total{{event_type=\"{event_type}\",outcome=\"{outcome}\"}}"
        ))
    };
    assert_eq!(deliveries("post_call_transcription", "archived"), 1.0);
    assert_eq!(deliveries("unknown", "refused_signature"), 1.0);
    assert_eq!(value("caller_memory_post_call_failure_streak"), 1.0);
    assert_eq!(value("caller_memory_ingestion_pending"), 0.0);
    assert_eq!(value("caller_memory_ingestion_failed"), 0.0);
    assert_eq!(value("caller_memory_ingestion_in_progress"), 0.0);
    let ingested = r#"caller_memory_ingestion_resolved_total{outcome="ingested"}"#;
    assert_eq!(value(ingested), 1.0);
    assert_eq!(value("caller_memory_ingestion_lag_seconds_count"), 1.0);
    assert_eq!(value("caller_memory_memory_store_up"), 1.0);
    assert_eq!(value("caller_memory_blob_store_up"), 1.0);
    let adds = r#"caller_memory_memory_store_call_duration_seconds_count{call="add"}"#;
    assert_eq!(value(adds), maria.expected_memories().len() as f64);
    // The first ring after the call was learnt reads the card from disk, the next two from memory.
    let hits = r#"caller_memory_read_cache_lookups_total{result="hit"}"#;
    assert!(value(hits) >= 2.0, "{metrics}");
    let build = format!(
        "caller_memory_build_info{{blob_backend=\"disk\",memory_backend=\"embedded\",version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&build), 1.0);
}

#[tokio::test]
async fn refused_post_call_deliveries_raise_the_failure_streak_until_one_is_accepted() {
    let app = TestApp::spawn().await;
    let streak = "caller_memory_post_call_failure_streak";
    for expected in 1..=3 {
        assert_eq!(forged_delivery(&app).await, 401);
        assert_eq!(
            sample(&scrape(&app).await, streak),
            Some(f64::from(expected))
        );
    }
    app.webhooks()
        .deliver_call(&Call::maria().transcription())
        .await;
    assert_eq!(sample(&scrape(&app).await, streak), Some(0.0));
}

#[tokio::test]
async fn with_metrics_addr_metrics_are_served_apart_from_the_webhooks() {
    let app = TestApp::spawn_service(&Backend::Embedded, &[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let separate = app.metrics_address.clone().expect("a metrics listener");
    assert_ne!(separate, app.address);

    let on_main_port = app.get("/metrics").await;
    assert_eq!(on_main_port.status(), 404);
    assert_eq!(json_body(on_main_port).await["error"], "not_found");
    let health_on_metrics_port = app
        .client
        .get(format!("{separate}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health_on_metrics_port.status(), 404);

    app.webhooks().greet("+14155550123").await;
    let metrics = scrape(&app).await;
    let greeted = r#"caller_memory_http_requests_total{operation="client_data",status="200"}"#;
    assert_eq!(sample(&metrics, greeted), Some(1.0));
}

#[tokio::test]
async fn with_metrics_disabled_there_is_no_metrics_endpoint_and_the_webhooks_still_work() {
    let app = TestApp::spawn_service(&Backend::Embedded, &[("METRICS_ENABLED", "false")]).await;
    let greeting = app
        .post_json(
            "/webhook/client-data",
            Some(CLIENT_DATA_KEY),
            &json!({"caller_id": "+14155550123"}).to_string(),
        )
        .await;
    assert_eq!(greeting.status(), 200);
    assert_eq!(app.get("/metrics").await.status(), 404);
}

#[tokio::test]
async fn a_memory_store_that_goes_down_is_reported_down_at_the_next_scrape_and_up_once_healed() {
    let backend = Backend::openmemory().await;
    let app = TestApp::spawn_service(&backend, &[]).await;
    let up = "caller_memory_memory_store_up";
    assert_eq!(sample(&scrape(&app).await, up), Some(1.0));

    backend.fake().fail_with(503);
    let metrics = scrape(&app).await;
    assert_eq!(sample(&metrics, up), Some(0.0));
    let errors = r#"caller_memory_memory_store_errors_total{call="check",kind="unavailable"}"#;
    assert!(sample(&metrics, errors) >= Some(1.0), "{metrics}");

    backend.fake().heal();
    // A failed probe is reused for a moment (so a hanging server is asked once), so the healed
    // store shows at one of the next scrapes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sample(&scrape(&app).await, up) != Some(1.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the healed store was never reported up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A client whose connections come from `source` (a 127.0.0.x address).
fn client_from(source: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(source))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_refused_stranger_and_a_throttled_guesser_show_in_the_edge_figures() {
    let app = TestApp::spawn_service(
        &Backend::Embedded,
        &[
            ("ALLOWED_SOURCE_IPS", "127.0.0.1/32,127.0.0.5/32"),
            ("AUTH_FAILURE_LIMIT", "2"),
            ("AUTH_LOCKOUT_SECS", "600"),
        ],
    )
    .await;
    let ring = |client: reqwest::Client, key: &'static str| {
        let url = app.url("/webhook/client-data");
        async move {
            let response = client
                .post(url)
                .header("x-api-key", key)
                .json(&json!({"caller_id": "+14155550123"}))
                .send()
                .await
                .expect("client-data sent");
            response.status().as_u16()
        }
    };
    let stranger = client_from([127, 0, 0, 9]);
    assert_eq!(ring(stranger, CLIENT_DATA_KEY).await, 403);
    let guesser = client_from([127, 0, 0, 5]);
    assert_eq!(ring(guesser.clone(), "not-the-key").await, 401);
    assert_eq!(ring(guesser.clone(), "still-not-the-key").await, 401);
    for _ in 0..3 {
        assert_eq!(ring(guesser.clone(), CLIENT_DATA_KEY).await, 429);
    }

    let metrics = scrape(&app).await;
    promtool(&["check", "metrics"], Some(&metrics));
    let value = |series: &str| {
        sample(&metrics, series).unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    let refusals = |kind: &str| {
        value(&format!(
            "caller_memory_edge_refusals_total{{kind=\"{kind}\"}}"
        ))
    };
    assert_eq!(refusals("source_not_allowed"), 1.0);
    assert_eq!(refusals("auth_throttled"), 3.0);
    for kind in [
        "budget_exceeded",
        "header_timeout",
        "body_stalled",
        "connection_cap",
    ] {
        assert_eq!(refusals(kind), 0.0, "{kind}");
    }
    assert_eq!(value("caller_memory_edge_locked_out_peers"), 1.0);
    assert_eq!(value("caller_memory_edge_unverified_bytes_in_flight"), 0.0);
    assert!(
        value("caller_memory_edge_open_connections") >= 1.0,
        "the scrape's own connection is open"
    );

    // A later scrape counts nothing twice and keeps counting.
    assert_eq!(
        ring(client_from([127, 0, 0, 9]), CLIENT_DATA_KEY).await,
        403
    );
    let metrics = scrape(&app).await;
    let source = r#"caller_memory_edge_refusals_total{kind="source_not_allowed"}"#;
    assert_eq!(sample(&metrics, source), Some(2.0));
    let throttled = r#"caller_memory_edge_refusals_total{kind="auth_throttled"}"#;
    assert_eq!(sample(&metrics, throttled), Some(3.0));
}

#[test]
fn the_alert_rules_are_valid_and_fire_as_their_unit_tests_say() {
    promtool(&["check", "rules", "deploy/prometheus/alerts.yml"], None);
    promtool(
        &["test", "rules", "deploy/prometheus/alerts-tests.yml"],
        None,
    );
}

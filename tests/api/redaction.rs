//! `REDACT`: card numbers and email addresses said in a call are never learnt, while the archive
//! keeps the call byte for byte.

use serde_json::json;

use crate::calls::Call;
use crate::helpers::{json_body, Backend, TestApp};

const ADMIN_KEY: &str = "test-admin-key-0123456789";

#[tokio::test]
async fn card_numbers_and_emails_said_in_a_call_are_not_learnt_but_stay_archived() {
    let backend = Backend::Embedded;
    let app = TestApp::spawn_service(
        &backend,
        &[("REDACT", "cards,emails"), ("ADMIN_API_KEY", ADMIN_KEY)],
    )
    .await;
    let webhooks = app.webhooks();
    let maria = Call::maria();
    let mut event = maria.transcription();
    let said = "My card is 4111-1111-1111-1111, CVV 737, and write to maria.lopez@example.com.";
    event["data"]["transcript"][3]["message"] = json!(said);
    assert_eq!(event["data"]["transcript"][3]["role"], "user");
    event["data"]["analysis"]["data_collection_results"]["email"] =
        json!({"data_collection_id": "email", "value": "maria.lopez@example.com"});
    webhooks.deliver_call(&event).await;
    webhooks.wait_until_learnt().await;

    let exported = json_body(
        app.client
            .get(app.url("/admin/callers/+14155550123/export"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let learnt = json!([exported["profile"], exported["memories"]]).to_string();
    for secret in ["4111", "737", "maria.lopez@example.com"] {
        assert!(!learnt.contains(secret), "{secret} was learnt: {learnt}");
    }
    assert!(
        learnt.contains("My card is [card number], CVV [security code], and write to [email]."),
        "{learnt}"
    );
    assert_eq!(
        exported["profile"]["facts"]["email"], "[email]",
        "{exported}"
    );
    let archived = std::fs::read(
        app.archive()
            .join(maria.conversation)
            .join(format!("{}_transcription.json", maria.conversation)),
    )
    .unwrap();
    assert_eq!(archived, event.to_string().into_bytes());
}

#[tokio::test]
async fn with_redact_archive_the_archive_keeps_a_redacted_copy() {
    let app = TestApp::spawn_service(
        &Backend::Embedded,
        &[("REDACT", "cards"), ("REDACT_ARCHIVE", "true")],
    )
    .await;
    let webhooks = app.webhooks();
    let maria = Call::maria();
    let mut event = maria.transcription();
    event["data"]["transcript"][3]["message"] = json!("Card 4111 1111 1111 1111, thanks.");
    webhooks.deliver_call(&event).await;
    webhooks.wait_until_learnt().await;

    let archived: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            app.archive()
                .join(maria.conversation)
                .join(format!("{}_transcription.json", maria.conversation)),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        archived["data"]["transcript"][3]["message"],
        "Card [card number], thanks."
    );
    assert_eq!(archived["data"]["conversation_id"], maria.conversation);
    assert!(!archived.to_string().contains("4111 1111"));
}

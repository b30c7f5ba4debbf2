//! Past conversations from the conversations API, and their conversion into the body the
//! post-call webhook would have delivered.

use serde_json::{json, Value};

use super::client::{next_cursor, ApiError};

/// One conversation of a list page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub conversation_id: String,
    pub agent_id: Option<String>,
    pub start_time_unix_secs: Option<i64>,
    /// `initiated`, `in-progress`, `processing`, `done` or `failed`.
    pub status: Option<String>,
}

/// A page of `GET /v1/convai/conversations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationPage {
    pub conversations: Vec<ConversationSummary>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl ConversationPage {
    /// Reads a `GetConversationsPageResponseModel`.
    ///
    /// # Errors
    /// [`ApiError::Unreadable`] when `conversations` is not a list.
    pub fn from_wire(page: &Value) -> Result<Self, ApiError> {
        let listed = page
            .get("conversations")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::Unreadable("the page has no conversations list".into()))?;
        let conversations = listed
            .iter()
            .filter_map(|item| {
                Some(ConversationSummary {
                    conversation_id: item.get("conversation_id")?.as_str()?.to_owned(),
                    agent_id: item
                        .get("agent_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    start_time_unix_secs: item.get("start_time_unix_secs").and_then(Value::as_i64),
                    status: item
                        .get("status")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                })
            })
            .collect();
        Ok(Self {
            conversations,
            next_cursor: next_cursor(page),
        })
    }
}

/// The `post_call_transcription` webhook body for a conversation read with
/// `GET /v1/convai/conversations/{id}`: ElevenLabs documents the webhook's `data` as that same
/// object, so it is carried whole; `event_timestamp` is when the call ended.
pub fn as_transcription_webhook(conversation: Value) -> Value {
    let metadata = conversation.get("metadata");
    let start = metadata
        .and_then(|metadata| metadata.get("start_time_unix_secs"))
        .and_then(Value::as_i64);
    let duration = metadata
        .and_then(|metadata| metadata.get("call_duration_secs"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    json!({
        "type": "post_call_transcription",
        "event_timestamp": start.map(|start| start + duration),
        "data": conversation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::elevenlabs::parse_transcription;

    #[test]
    fn a_conversation_from_the_api_reads_as_the_webhook_would_have_delivered_it() {
        let conversation = json!({
            "agent_id": "agent_1",
            "conversation_id": "conv_api_1",
            "status": "done",
            "metadata": {
                "start_time_unix_secs": 1_767_225_600,
                "call_duration_secs": 42,
                "phone_call": {"type": "twilio", "direction": "inbound", "phone_number_id": "pn_1",
                               "agent_number": "+15550000000", "external_number": "+14155550123",
                               "stream_sid": "s", "call_sid": "c"}
            },
            "analysis": {"call_successful": "success", "transcript_summary": "Booked a cleaning.",
                         "data_collection_results": {"first_name": {"data_collection_id": "first_name", "value": "Maria", "rationale": ""}}},
            "transcript": [
                {"role": "agent", "message": "Hello!", "time_in_call_secs": 0},
                {"role": "user", "message": "I'd like a cleaning on Friday.", "time_in_call_secs": 3}
            ],
            "has_audio": true, "has_user_audio": true, "has_response_audio": true, "has_auxiliary_audio": false
        });
        let body = as_transcription_webhook(conversation);
        assert_eq!(body["event_timestamp"], 1_767_225_642);
        let call = parse_transcription(body.to_string().as_bytes()).unwrap();
        assert_eq!(call.conversation_id.as_str(), "conv_api_1");
        assert_eq!(call.caller.external_number.as_deref(), Some("+14155550123"));
        assert_eq!(call.summary.as_deref(), Some("Booked a cleaning."));
        assert_eq!(call.collected["first_name"], "Maria");
        assert_eq!(call.transcript.len(), 2);
    }

    #[test]
    fn a_page_gives_its_conversations_and_the_next_cursor() {
        let page = json!({
            "conversations": [{"agent_id": "agent_1", "conversation_id": "conv_1", "start_time_unix_secs": 10,
                               "call_duration_secs": 5, "message_count": 2, "status": "done", "call_successful": "success"}],
            "has_more": true, "next_cursor": "cursor_2"
        });
        let page = ConversationPage::from_wire(&page).unwrap();
        assert_eq!(page.conversations[0].conversation_id, "conv_1");
        assert_eq!(page.next_cursor.as_deref(), Some("cursor_2"));
        assert!(ConversationPage::from_wire(&json!({"detail": "x"})).is_err());
    }
}

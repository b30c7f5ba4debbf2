//! The readable message of an ElevenLabs error body.

use serde_json::Value;

/// The readable part of an error body: `{"detail": {"status", "message"}}`,
/// `{"detail": "text"}` or a 422's `{"detail": [{"loc", "msg", "type"}]}`.
pub(super) fn error_message(body: &str) -> String {
    let Ok(document) = serde_json::from_str::<Value>(body) else {
        return body.chars().take(200).collect();
    };
    match document.get("detail") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Object(detail)) => {
            let status = detail.get("status").and_then(Value::as_str);
            let message = detail.get("message").and_then(Value::as_str);
            match (status, message) {
                (Some(status), Some(message)) => format!("{status}: {message}"),
                (None, Some(text)) | (Some(text), None) => text.to_owned(),
                (None, None) => Value::Object(detail.clone()).to_string(),
            }
        }
        Some(Value::Array(problems)) => problems
            .iter()
            .map(|problem| {
                let location = problem
                    .get("loc")
                    .and_then(Value::as_array)
                    .map(|parts| {
                        parts
                            .iter()
                            .map(|part| part.as_str().map_or(part.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let message = problem
                    .get("msg")
                    .and_then(Value::as_str)
                    .unwrap_or("invalid");
                format!("{location}: {message}")
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => document.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_error_body_gives_a_readable_message() {
        assert_eq!(
            error_message(r#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#),
            "invalid_api_key: Invalid API key"
        );
        assert_eq!(error_message(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(
            error_message(
                r#"{"detail":[{"loc":["body","tool_config","name"],"msg":"field required","type":"missing"}]}"#
            ),
            "body.tool_config.name: field required"
        );
        assert_eq!(error_message("bad gateway"), "bad gateway");
    }
}

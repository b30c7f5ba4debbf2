//! The one JSON error schema every failure answers with, framework errors included.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::Object;

use crate::inbound::http::auth::API_KEY_HEADER;

/// An error answer. `error` is a stable machine-readable code; `message` explains it to a person.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// Stable code, for example `invalid_request`, `unauthorized`, `invalid_signature`,
    /// `payload_too_large`, `not_found`, `internal_error`.
    pub error: String,
    /// What went wrong, in words. Never contains secrets or internal details.
    pub message: String,
}

impl ErrorBody {
    pub fn new(error: &str, message: impl Into<String>) -> Self {
        Self {
            error: error.to_owned(),
            message: message.into(),
        }
    }

    pub fn internal() -> Self {
        Self::new(
            "internal_error",
            "the service could not complete the request; it has been logged",
        )
    }
}

/// The code that goes with a status produced by the framework (bad JSON, missing header...).
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::NOT_IMPLEMENTED => "not_implemented",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_server_error() => "internal_error",
        _ => "request_failed",
    }
}

/// A request body's parse error as `<field>: <problem>`: poem-openapi wraps the message of a
/// field's own type (`query: is required`) in type names, which are dropped; an
/// error about the body as a whole (not JSON, not an object) is about `body`.
fn field_first(reason: &str) -> String {
    let mut message = reason.trim();
    if let Some(rest) = message.strip_prefix("failed to parse \"") {
        message = rest.split_once("\": ").map_or(message, |(_, inner)| inner);
    }
    while let Some(at) = message.rfind(" (occurred while parsing \"") {
        if !message.ends_with("\")") {
            break;
        }
        message = &message[..at];
    }
    let names_a_field = message.split_once(": ").is_some_and(|(field, _)| {
        !field.is_empty()
            && field
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    });
    if names_a_field {
        message.to_owned()
    } else {
        format!("body: {message}")
    }
}

/// Turns any error that escaped an operation into the JSON error schema, keeping its status.
/// The text of server errors is logged, never sent.
pub fn framework_error_to_json(error: poem::Error) -> Response {
    if error.is_from_response() {
        // An operation's own documented error answer: already in the schema.
        return error.into_response();
    }
    let status = error.status();
    let body = if error.is::<poem_openapi::error::AuthorizationError>() {
        // Raised before any checker runs: the header is not there (or not text). Only the
        // webhooks' scheme lets the framework answer; the administration API names its own.
        tracing::warn!("refused: {API_KEY_HEADER} is missing");
        ErrorBody::new(
            code_for(status),
            format!("{API_KEY_HEADER} header is missing"),
        )
    } else if let Some(parse) =
        error.downcast_ref::<poem_openapi::error::ParseRequestPayloadError>()
    {
        ErrorBody::new(code_for(status), field_first(&parse.reason))
    } else if status.is_server_error() {
        tracing::error!(error = %error, "request failed");
        ErrorBody::internal()
    } else if status == StatusCode::BAD_REQUEST {
        // Any other 400 (a body cut off while it was read, for example) starts with what it is
        // about too.
        ErrorBody::new(code_for(status), field_first(&error.to_string()))
    } else {
        ErrorBody::new(code_for(status), error.to_string())
    };
    poem_openapi::payload::Json(body)
        .with_status(status)
        .into_response()
}

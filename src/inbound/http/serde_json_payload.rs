//! A JSON answer written straight from its serde form, for the answers given at every ring:
//! poem-openapi's own `Json` builds a `serde_json::Value` tree of the answer before writing it,
//! which costs more than the rest of a greeting. The OpenAPI document still shows the type's
//! poem-openapi schema, and a test of each such type checks that both forms write the same JSON.

use poem::http::header::CONTENT_TYPE;
use poem::http::HeaderValue;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;

/// An answer written with serde, documented with `T`'s schema.
pub struct SerdeJson<T>(pub T);

impl<T: Type> Payload for SerdeJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        <poem_openapi::payload::Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + Serialize> IntoResponse for SerdeJson<T> {
    fn into_response(self) -> Response {
        // Room for a typical greeting, so that the buffer is not grown while writing.
        let mut body = Vec::with_capacity(1024);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => Response::builder()
                .header(
                    CONTENT_TYPE,
                    HeaderValue::from_static(<Self as Payload>::CONTENT_TYPE),
                )
                .body(body),
            Err(error) => {
                // Only a map with non-text keys or a failing `Serialize` impl could get here.
                tracing::error!(%error, "an answer could not be written as JSON");
                crate::inbound::http::edge::error_response(
                    poem::http::StatusCode::INTERNAL_SERVER_ERROR,
                    crate::inbound::http::error::ErrorBody::internal(),
                    None,
                )
            }
        }
    }
}

/// Whether `value` writes the same JSON through serde as through poem-openapi, for the tests of
/// each type answered with [`SerdeJson`].
#[cfg(test)]
pub fn same_json_both_ways<T: Serialize + poem_openapi::types::ToJSON>(value: &T) -> bool {
    serde_json::to_value(value).ok() == value.to_json()
}

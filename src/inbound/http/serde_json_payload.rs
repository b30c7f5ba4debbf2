//! A JSON answer written with serde, for the answers given at every ring: poem-openapi's own
//! `Json` builds a `serde_json::Value` tree of the answer before writing it, which costs more
//! than the rest of a greeting. The answer is written once into bytes, which can be kept and sent
//! again. The OpenAPI document still shows the type's poem-openapi schema, and a test of each such
//! type checks that both forms write the same JSON.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::http::header::CONTENT_TYPE;
use poem::http::HeaderValue;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;

/// An answer of type `T` already written as JSON, documented with `T`'s schema.
pub struct WrittenJson<T> {
    body: Bytes,
    written_from: PhantomData<fn() -> T>,
}

impl<T: Serialize> WrittenJson<T> {
    /// Writes `value`. Fails only for a map with non-text keys or a failing `Serialize` impl.
    pub fn write(value: &T) -> Result<Self, serde_json::Error> {
        // Room for a typical greeting, so that the buffer is not grown while writing.
        let mut body = Vec::with_capacity(1024);
        serde_json::to_writer(&mut body, value)?;
        Ok(Self {
            body: body.into(),
            written_from: PhantomData,
        })
    }

    /// The JSON text.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl<T> Clone for WrittenJson<T> {
    fn clone(&self) -> Self {
        Self {
            body: self.body.clone(),
            written_from: PhantomData,
        }
    }
}

impl<T: Type> Payload for WrittenJson<T> {
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

impl<T: Type> IntoResponse for WrittenJson<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static(<Self as Payload>::CONTENT_TYPE),
            )
            .body(self.body)
    }
}

/// Whether `value` writes the same JSON through serde as through poem-openapi, for the tests of
/// each type answered with [`WrittenJson`].
#[cfg(test)]
pub fn same_json_both_ways<T: Serialize + poem_openapi::types::ToJSON>(value: &T) -> bool {
    serde_json::to_value(value).ok() == value.to_json()
}

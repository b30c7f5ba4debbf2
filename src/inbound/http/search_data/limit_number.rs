//! The `limit` field on the wire: an integer whose parse error names the field (see
//! [`super::query_text`] for why).

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// How many memories to return, as sent (validated later into a `SearchLimit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitNumber(pub i64);

impl Type for LimitNumber {
    const IS_REQUIRED: bool = true;

    type RawValueType = i64;
    type RawElementValueType = i64;

    fn name() -> Cow<'static, str> {
        "integer_int64".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("integer", "int64")))
    }

    fn as_raw_value(&self) -> Option<&i64> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a i64> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for LimitNumber {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        value
            .as_ref()
            .and_then(Value::as_i64)
            .map(Self)
            .ok_or_else(|| ParseError::custom("limit: must be a whole number from 1 to 20"))
    }
}

impl ToJSON for LimitNumber {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

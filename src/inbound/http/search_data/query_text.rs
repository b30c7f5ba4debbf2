//! The `query` field on the wire: a required string whose parse error names the field.
//!
//! poem-openapi reports a missing or mistyped object field without saying which one; the agent's
//! developer needs to know, so this type says so itself.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// What to look for, as sent (validated later into a `SearchQuery`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryText(pub String);

impl Type for QueryText {
    const IS_REQUIRED: bool = true;

    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for QueryText {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Ok(Self(text)),
            None | Some(Value::Null) => Err(ParseError::custom("query: the question is required")),
            Some(_) => Err(ParseError::custom("query: must be a string")),
        }
    }
}

impl ToJSON for QueryText {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

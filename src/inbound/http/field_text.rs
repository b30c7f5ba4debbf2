//! Text fields of the webhook requests whose parse error names the field.
//!
//! poem-openapi reports a missing or mistyped object field (`"caller_id": 5`) without saying
//! which one, so the answer would start with `body: `; the developer of the agent needs to know,
//! so a field of type [`FieldText`] says its own name.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// The wire name of a request field, for its parse errors.
pub trait FieldName: Send + Sync + 'static {
    const NAME: &'static str;
}

/// Declares a [`FieldName`] for each `Type = "wire_name"` pair.
macro_rules! field_names {
    ($($marker:ident = $name:literal),* $(,)?) => {
        $(
            #[doc = concat!("The `", $name, "` field.")]
            pub enum $marker {}

            impl FieldName for $marker {
                const NAME: &'static str = $name;
            }
        )*
    };
}

field_names! {
    QueryField = "query",
    CallerIdField = "caller_id",
    UserIdField = "user_id",
    AgentIdField = "agent_id",
    ConversationIdField = "conversation_id",
    CalledNumberField = "called_number",
    CallSidField = "call_sid",
}

/// A string field as sent, validated later; documented as a plain `string`. Required, unless
/// wrapped in an `Option`.
pub struct FieldText<F> {
    text: String,
    field: PhantomData<F>,
}

impl<F> FieldText<F> {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            field: PhantomData,
        }
    }
}

impl<F> Deref for FieldText<F> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl<F> fmt::Debug for FieldText<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl<F: FieldName> Type for FieldText<F> {
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
        Some(&self.text)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.text))
    }
}

impl<F: FieldName> ParseFromJSON for FieldText<F> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Ok(Self::new(text)),
            None | Some(Value::Null) => {
                Err(ParseError::custom(format!("{}: is required", F::NAME)))
            }
            Some(_) => Err(ParseError::custom(format!("{}: must be a string", F::NAME))),
        }
    }
}

impl<F: FieldName> ToJSON for FieldText<F> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.text.clone()))
    }
}

//! The fields of a ring read straight from the body's bytes.
//!
//! poem-openapi's `Json` extractor parses a body into a `serde_json::Value` tree, copying every
//! key and text, and only then reads the fields out of the tree. What ElevenLabs sends at a ring
//! is a flat object of the documented text fields; this reads such a body in one pass, borrowing
//! its text. Anything else (another field, a field given twice or not as text or null, not an
//! object, not JSON) is not read here and goes to the `Json` extractor, so that what is answered
//! to it, the 400s naming a field included, stays the extractor's own.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// The fields of a ring that decide its greeting, as sent (validated by [`super::answer`]).
#[derive(Debug, Default, PartialEq)]
pub struct RingFields<'body> {
    pub caller_id: Option<Cow<'body, str>>,
    pub agent_id: Option<Cow<'body, str>>,
}

impl<'body> RingFields<'body> {
    /// The fields of `body` when it is a JSON object of the documented fields only, each at most
    /// once and each text or null; `None` for any other body.
    pub fn read(body: &'body [u8]) -> Option<Self> {
        // The whole body is checked to be UTF-8 at once, which costs less than serde_json
        // checking each key and text on its own (as it does when reading from bytes).
        let text = std::str::from_utf8(body).ok()?;
        serde_json::from_str(text).ok()
    }
}

/// The documented fields of the request; any other key ends the reading.
#[derive(Clone, Copy, Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    CallerId,
    AgentId,
    CalledNumber,
    CallSid,
}

/// A text value, borrowed from the body unless it has escapes.
#[derive(Deserialize)]
struct Text<'body>(#[serde(borrow)] Cow<'body, str>);

impl<'de> Deserialize<'de> for RingFields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A map only: the derived form would also take a JSON array of the values.
        deserializer.deserialize_map(RingVisitor)
    }
}

struct RingVisitor;

impl<'de> Visitor<'de> for RingVisitor {
    type Value = RingFields<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an object of the documented ring fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = RingFields::default();
        // The extractor keeps the last of a repeated key; rather than follow it, such a body is
        // left to it.
        let mut seen = [false; 4];
        while let Some(field) = map.next_key::<Field>()? {
            let index = field as usize;
            if std::mem::replace(&mut seen[index], true) {
                return Err(serde::de::Error::custom("a field is given twice"));
            }
            let text = map
                .next_value::<Option<Text<'de>>>()?
                .map(|Text(text)| text);
            match field {
                Field::CallerId => fields.caller_id = text,
                Field::AgentId => fields.agent_id = text,
                // Documented and checked to be text, but the greeting does not depend on them.
                Field::CalledNumber | Field::CallSid => {}
            }
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Option<RingFields<'_>> {
        RingFields::read(body.as_bytes())
    }

    #[test]
    fn a_ring_as_elevenlabs_sends_it_is_read_without_copying_its_text() {
        let fields = read(
            r#"{"caller_id": "+14155550123", "agent_id": "agent_1",
                "called_number": "+14155550199", "call_sid": "CA71"}"#,
        )
        .unwrap();
        assert_eq!(fields.caller_id.as_deref(), Some("+14155550123"));
        assert_eq!(fields.agent_id.as_deref(), Some("agent_1"));
        assert!(matches!(fields.caller_id, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn missing_and_null_fields_are_absent_and_escapes_are_decoded() {
        let fields = read(r#"{"caller_id": null, "agent_id": "agent\u005f1"}"#).unwrap();
        assert_eq!(fields.caller_id, None);
        assert_eq!(fields.agent_id.as_deref(), Some("agent_1"));
        assert_eq!(read("{}"), Some(RingFields::default()));
    }

    #[test]
    fn any_other_body_is_left_to_the_extractor() {
        for body in [
            "",
            " ",
            "{nope",
            "[]",
            r#"["+14155550123"]"#,
            "null",
            r#"{"caller_id": 14155550123}"#,
            r#"{"agent_id": ["a"]}"#,
            r#"{"caller_id": "+1", "caller_id": "+2"}"#,
            r#"{"caller_id": "+14155550123", "extra": 1}"#,
            r#"{"caller_id": "+14155550123"} {}"#,
        ] {
            assert_eq!(read(body), None, "{body}");
        }
        assert_eq!(RingFields::read(b"{\"caller_id\": \"+1\xff\"}"), None);
    }
}

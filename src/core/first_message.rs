//! The first sentence a returning caller hears, rendered from a configurable template.

/// A first-message template with two placeholders: `{name}` (the caller's name, or nothing when
/// unknown) and `{name_greeting}` (", Maria", or nothing when the name is unknown).
///
/// The template is split into pieces once, when it is parsed; rendering only joins the pieces, so
/// caller text is inserted as plain data and never read as a template: a caller whose name is
/// `{name_greeting}` hears exactly that. ElevenLabs' own `{{variable}}` syntax is left untouched
/// for ElevenLabs to fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstMessageTemplate {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Name,
    NameGreeting,
}

/// Why a first-message template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidFirstMessageTemplate {
    #[error("first message template is empty")]
    Empty,
    #[error("first message template has an unknown placeholder {{{0}}}; the placeholders are {{name}} and {{name_greeting}}")]
    UnknownPlaceholder(String),
}

impl FirstMessageTemplate {
    pub fn parse(raw: &str) -> Result<Self, InvalidFirstMessageTemplate> {
        if raw.trim().is_empty() {
            return Err(InvalidFirstMessageTemplate::Empty);
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = raw;
        while let Some(start) = rest.find('{') {
            text.push_str(&rest[..start]);
            let from_brace = &rest[start..];
            let consumed = if from_brace.starts_with("{{") {
                // ElevenLabs' dynamic-variable syntax: copied through as text.
                let end = from_brace
                    .find("}}")
                    .map_or(from_brace.len(), |end| end + 2);
                text.push_str(&from_brace[..end]);
                end
            } else {
                match placeholder(from_brace)? {
                    Some((piece, length)) => {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                        pieces.push(piece);
                        length
                    }
                    None => {
                        text.push('{');
                        1
                    }
                }
            };
            rest = &from_brace[consumed..];
        }
        text.push_str(rest);
        pieces.push(Piece::Text(text));
        pieces.retain(|piece| piece != &Piece::Text(String::new()));
        Ok(Self { pieces })
    }

    /// The message for a caller whose name is `name`, if known.
    pub fn render(&self, name: Option<&str>) -> String {
        let name = name.map(defuse_elevenlabs_syntax);
        let mut message = String::new();
        for piece in &self.pieces {
            match (piece, &name) {
                (Piece::Text(text), _) => message.push_str(text),
                (Piece::Name, Some(name)) => message.push_str(name),
                (Piece::NameGreeting, Some(name)) => {
                    message.push_str(", ");
                    message.push_str(name);
                }
                (Piece::Name | Piece::NameGreeting, None) => {}
            }
        }
        message
    }
}

/// Reads `{identifier}` at the start of `text`: the placeholder and its length, `None` when the
/// brace does not open an identifier (then it is plain text).
fn placeholder(text: &str) -> Result<Option<(Piece, usize)>, InvalidFirstMessageTemplate> {
    let Some(end) = text.find('}') else {
        return Ok(None);
    };
    let identifier = &text[1..end];
    let is_identifier = !identifier.is_empty()
        && identifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match identifier {
        "name" => Ok(Some((Piece::Name, end + 1))),
        "name_greeting" => Ok(Some((Piece::NameGreeting, end + 1))),
        _ if is_identifier => Err(InvalidFirstMessageTemplate::UnknownPlaceholder(
            identifier.to_owned(),
        )),
        _ => Ok(None),
    }
}

/// The first message is itself a template to ElevenLabs, which fills `{{variable}}`; a caller's
/// text must not reach ElevenLabs' variables (a name such as `{{system__conversation_history}}`),
/// so double braces in it are separated.
fn defuse_elevenlabs_syntax(text: &str) -> String {
    text.replace("{{", "{ {").replace("}}", "} }")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(raw: &str) -> FirstMessageTemplate {
        FirstMessageTemplate::parse(raw).unwrap()
    }

    #[test]
    fn the_default_template_reads_well_with_and_without_a_name() {
        let default = template("Hi{name_greeting}, welcome back! How can I help you today?");
        assert_eq!(
            default.render(Some("Maria")),
            "Hi, Maria, welcome back! How can I help you today?"
        );
        assert_eq!(
            default.render(None),
            "Hi, welcome back! How can I help you today?"
        );
    }

    #[test]
    fn the_name_placeholder_is_replaced_wherever_it_appears() {
        let greeting = template("Welcome back {name}. Good to hear from you, {name}!");
        assert_eq!(
            greeting.render(Some("Ana")),
            "Welcome back Ana. Good to hear from you, Ana!"
        );
    }

    #[test]
    fn a_callers_name_that_looks_like_a_placeholder_is_said_literally() {
        let greeting = template("Hello {name}, and{name_greeting}!");
        assert_eq!(
            greeting.render(Some("{name_greeting}")),
            "Hello {name_greeting}, and, {name_greeting}!"
        );
    }

    #[test]
    fn a_callers_name_cannot_reach_elevenlabs_variables() {
        let greeting = template("Hi {name}");
        assert_eq!(
            greeting.render(Some("{{system__caller_id}}")),
            "Hi { {system__caller_id} }"
        );
    }

    #[test]
    fn elevenlabs_variables_and_stray_braces_in_the_template_are_kept() {
        let greeting = template("Hi {{user_name}} {name} :-{ }");
        assert_eq!(greeting.render(Some("Li")), "Hi {{user_name}} Li :-{ }");
    }

    #[test]
    fn a_misspelt_placeholder_or_an_empty_template_is_rejected() {
        assert_eq!(
            FirstMessageTemplate::parse("Hi {nmae}"),
            Err(InvalidFirstMessageTemplate::UnknownPlaceholder(
                "nmae".to_owned()
            ))
        );
        assert_eq!(
            FirstMessageTemplate::parse("  "),
            Err(InvalidFirstMessageTemplate::Empty)
        );
    }
}

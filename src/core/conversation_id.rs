//! Identifiers that arrive from ElevenLabs and end up in storage keys.

use std::fmt;

/// An ElevenLabs conversation id, safe to use as a storage key component:
/// `[A-Za-z0-9_-]{1,128}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationId(String);

/// An ElevenLabs agent id, with the same character rules as a conversation id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(String);

/// Why a raw value is not a safe identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIdentifier {
    #[error("identifier is empty")]
    Empty,
    #[error("identifier is longer than {MAX_IDENTIFIER_LENGTH} characters")]
    TooLong,
    #[error("identifier may only contain letters, digits, '_' and '-'")]
    UnexpectedCharacter,
}

/// The longest identifier accepted.
pub const MAX_IDENTIFIER_LENGTH: usize = 128;

fn validate_identifier(raw: &str) -> Result<(), InvalidIdentifier> {
    if raw.is_empty() {
        return Err(InvalidIdentifier::Empty);
    }
    if raw.len() > MAX_IDENTIFIER_LENGTH {
        return Err(InvalidIdentifier::TooLong);
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(InvalidIdentifier::UnexpectedCharacter);
    }
    Ok(())
}

macro_rules! identifier {
    ($name:ident) => {
        impl $name {
            /// Accepts only `[A-Za-z0-9_-]{1,128}`.
            pub fn parse(raw: &str) -> Result<Self, InvalidIdentifier> {
                validate_identifier(raw)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

identifier!(ConversationId);
identifier!(AgentId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elevenlabs_ids_are_accepted() {
        assert!(ConversationId::parse("conv_01jz9a2b3c4d5e6f7g8h9j0k1m").is_ok());
        assert!(AgentId::parse("agent_01jz8q3w5e6r7t8y9u0i1o2p3a").is_ok());
    }

    #[test]
    fn path_traversal_and_separators_are_rejected() {
        for hostile in ["../etc", "a/b", "a\\b", "a.b", "", "conv id", "conv\0"] {
            assert!(
                ConversationId::parse(hostile).is_err(),
                "{hostile:?} accepted"
            );
        }
    }

    #[test]
    fn the_length_is_bounded() {
        assert!(ConversationId::parse(&"a".repeat(128)).is_ok());
        assert_eq!(
            ConversationId::parse(&"a".repeat(129)),
            Err(InvalidIdentifier::TooLong)
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn accepted_ids_are_always_safe_path_components(raw in "\\PC{0,200}") {
                if let Ok(id) = ConversationId::parse(&raw) {
                    prop_assert!(!id.as_str().is_empty() && id.as_str().len() <= MAX_IDENTIFIER_LENGTH);
                    prop_assert!(!id.as_str().contains(['/', '\\', '.', '\0']));
                }
            }

            #[test]
            fn any_string_at_all_gives_a_safe_path_component_or_a_refusal(raw in any::<String>()) {
                if let Ok(id) = ConversationId::parse(&raw) {
                    prop_assert!(id.as_str().len() <= MAX_IDENTIFIER_LENGTH);
                    prop_assert!(id.as_str() != "." && id.as_str() != "..");
                    prop_assert!(!id.as_str().chars().any(|c| c.is_control() || matches!(c, '/' | '\\' | '.' | '%' | ':')));
                }
            }

            #[test]
            fn every_id_of_the_allowed_alphabet_is_accepted(raw in "[A-Za-z0-9_-]{1,128}") {
                let id = ConversationId::parse(&raw).unwrap();
                prop_assert_eq!(id.as_str(), raw.as_str());
            }
        }
    }
}

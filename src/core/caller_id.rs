//! The caller's phone number, the key of everything the service remembers.

use std::borrow::Cow;
use std::fmt;

/// A phone number in E.164 form (`+` and 7 to 15 digits).
///
/// Built only through [`CallerId::parse`], so a value of this type is always a usable key. Its
/// `Debug` and `Display` forms are masked so that logging a caller never leaks the full number;
/// [`CallerId::as_e164`] gives the full number to adapters that need it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallerId(String);

/// Why a raw value is not a usable phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCallerId {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number must start with + or 00 followed by the country code")]
    NoCountryCode,
    #[error("phone number may only contain digits, spaces, dashes, dots and parentheses")]
    UnexpectedCharacter,
    #[error("phone number must have between 7 and 15 digits")]
    WrongLength,
}

impl CallerId {
    /// Normalises a phone number to E.164: spaces, dashes, dots and parentheses are removed and a
    /// leading `00` becomes `+`. Anything else is rejected.
    pub fn parse(raw: &str) -> Result<Self, InvalidCallerId> {
        let is_formatting = |c: char| matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}');
        let trimmed = raw.trim();
        // Parsed at every ring, and numbers mostly come already compact: only a number with
        // formatting in it is copied without it.
        let compact: Cow<'_, str> = if trimmed.contains(is_formatting) {
            trimmed.chars().filter(|c| !is_formatting(*c)).collect()
        } else {
            Cow::Borrowed(trimmed)
        };
        if compact.is_empty() {
            return Err(InvalidCallerId::Empty);
        }
        let digits = if let Some(rest) = compact.strip_prefix('+') {
            rest
        } else if let Some(rest) = compact.strip_prefix("00") {
            rest
        } else {
            return Err(InvalidCallerId::NoCountryCode);
        };
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(InvalidCallerId::UnexpectedCharacter);
        }
        if !(7..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(InvalidCallerId::WrongLength);
        }
        let mut e164 = String::with_capacity(1 + digits.len());
        e164.push('+');
        e164.push_str(digits);
        Ok(Self(e164))
    }

    /// The full number, for adapters that key storage by it. Never log this.
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The number with all but the country prefix and the last two digits hidden, for logs.
    pub fn masked(&self) -> String {
        mask_phone_number(&self.0)
    }
}

/// Masks any phone-like text for logs: keeps the first three and last two characters.
pub fn mask_phone_number(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() <= 5 {
        return "*".repeat(chars.len());
    }
    let hidden = chars.len() - 5;
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(hidden))
}

impl fmt::Debug for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallerId({})", self.masked())
    }
}

impl fmt::Display for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_characters_are_removed() {
        let id = CallerId::parse(" +1 (415) 555-01.23 ").unwrap();
        assert_eq!(id.as_e164(), "+14155550123");
    }

    #[test]
    fn a_double_zero_prefix_becomes_plus() {
        assert_eq!(
            CallerId::parse("0044 20 7946 0958").unwrap().as_e164(),
            "+442079460958"
        );
    }

    #[test]
    fn numbers_without_country_code_letters_or_wrong_length_are_rejected() {
        assert_eq!(CallerId::parse(""), Err(InvalidCallerId::Empty));
        assert_eq!(
            CallerId::parse("4155550123"),
            Err(InvalidCallerId::NoCountryCode)
        );
        assert_eq!(
            CallerId::parse("anonymous"),
            Err(InvalidCallerId::NoCountryCode)
        );
        assert_eq!(
            CallerId::parse("+1415abc0123"),
            Err(InvalidCallerId::UnexpectedCharacter)
        );
        assert_eq!(CallerId::parse("+123"), Err(InvalidCallerId::WrongLength));
        assert_eq!(
            CallerId::parse("+1234567890123456"),
            Err(InvalidCallerId::WrongLength)
        );
    }

    #[test]
    fn logs_never_show_the_full_number() {
        let id = CallerId::parse("+14155550123").unwrap();
        assert_eq!(id.to_string(), "+14*******23");
        assert!(!format!("{id:?}").contains("5550123"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn parsing_never_panics_and_yields_only_e164(raw in "\\PC{0,40}") {
                if let Ok(id) = CallerId::parse(&raw) {
                    let digits = id.as_e164().strip_prefix('+').expect("a leading plus");
                    prop_assert!((7..=15).contains(&digits.len()));
                    prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                }
            }

            #[test]
            fn parsing_any_string_at_all_never_panics(raw in any::<String>()) {
                if let Ok(id) = CallerId::parse(&raw) {
                    prop_assert!(id.as_e164().starts_with('+'));
                }
            }

            #[test]
            fn any_formatting_of_a_valid_number_gives_the_same_id(
                digits in "[1-9][0-9]{6,14}",
                separators in proptest::collection::vec(prop_oneof![Just(" "), Just("-"), Just("."), Just("("), Just(")"), Just("")], 16),
                double_zero in any::<bool>(),
            ) {
                let mut formatted = String::from(if double_zero { "00" } else { "+" });
                for (digit, separator) in digits.chars().zip(separators.iter().cycle()) {
                    formatted.push(digit);
                    formatted.push_str(separator);
                }
                let id = CallerId::parse(&formatted).unwrap();
                prop_assert_eq!(id.as_e164(), format!("+{digits}"));
            }

            #[test]
            fn the_masked_form_never_contains_the_subscriber_digits(digits in "[1-9][0-9]{9,14}") {
                let id = CallerId::parse(&format!("+{digits}")).unwrap();
                let middle = &digits[2..digits.len() - 2];
                prop_assert!(!id.to_string().contains(middle));
            }
        }
    }
}

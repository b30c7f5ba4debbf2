//! Redaction: card numbers, card security codes, email addresses and national identity numbers
//! replaced with a placeholder before anything is learnt (`REDACT=cards,emails,national_ids`).
//!
//! - A card number is a run of 13 to 19 digits, written together or in groups separated by one
//!   space or dash ("4111 1111 1111 1111", "4111-1111-1111-1111", "4 1 1 1 ..."), that passes
//!   the Luhn check. A run right after `+` is a phone number and is left alone; so is any shorter
//!   run (times, prices, order numbers, phone numbers have at most 15 digits and rarely pass
//!   Luhn at 13 to 15).
//! - A security code is the first 3 or 4 digit number within a few words after card talk ("cvv",
//!   "cvc", "security code", "card verification"), redacted with `cards`.
//! - An email address is `local@domain.tld`.
//! - A national identity number is a US Social Security number, a UK National Insurance number
//!   or a Spanish DNI / NIE, each checked beyond its shape (see [`national_ids`]).

mod cards;
mod emails;
mod national_ids;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use crate::core::CompletedCall;

/// What replaces a card number.
pub const CARD_PLACEHOLDER: &str = "[card number]";
/// What replaces a card security code.
pub const SECURITY_CODE_PLACEHOLDER: &str = "[security code]";
/// What replaces an email address.
pub const EMAIL_PLACEHOLDER: &str = "[email]";
/// What replaces a national identity number.
pub const NATIONAL_ID_PLACEHOLDER: &str = "[national id]";

/// What can be redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitive {
    /// Card numbers and security codes.
    Cards,
    Emails,
    /// US Social Security, UK National Insurance and Spanish DNI / NIE numbers.
    NationalIds,
}

impl Sensitive {
    /// The name used in `REDACT`.
    pub fn name(self) -> &'static str {
        match self {
            Sensitive::Cards => "cards",
            Sensitive::Emails => "emails",
            Sensitive::NationalIds => "national_ids",
        }
    }

    pub const ALL: [Sensitive; 3] = [Sensitive::Cards, Sensitive::Emails, Sensitive::NationalIds];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// A byte range of a text and what replaces it.
type Span = (usize, usize, &'static str);

/// `text` with each span replaced by its placeholder (a span overlapping an earlier one is left
/// out); `None` when there is no span.
fn replace_spans(text: &str, mut spans: Vec<Span>) -> Option<String> {
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    let mut redacted = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, placeholder) in spans {
        if start < at {
            continue;
        }
        redacted.push_str(&text[at..start]);
        redacted.push_str(placeholder);
        at = end;
    }
    redacted.push_str(&text[at..]);
    Some(redacted)
}

/// The text shortly after each cue (any case): where it starts in `text`, and at most `reach`
/// bytes of it.
fn after_cues<'a>(text: &'a str, cues: &[&str], reach: usize) -> Vec<(usize, &'a str)> {
    let lower = text.to_ascii_lowercase();
    let mut windows = Vec::new();
    for cue in cues {
        for (at, _) in lower.match_indices(cue) {
            let from = at + cue.len();
            let mut to = (from + reach).min(text.len());
            while !text.is_char_boundary(to) {
                to -= 1;
            }
            windows.push((from, &text[from..to]));
        }
    }
    windows
}

/// Which kinds of sensitive text are redacted; none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redaction {
    kinds: Vec<Sensitive>,
}

impl Redaction {
    pub fn of(kinds: impl IntoIterator<Item = Sensitive>) -> Self {
        let mut chosen = Vec::new();
        for kind in kinds {
            if !chosen.contains(&kind) {
                chosen.push(kind);
            }
        }
        Self { kinds: chosen }
    }

    pub fn is_off(&self) -> bool {
        self.kinds.is_empty()
    }

    /// `text` with every chosen kind of sensitive text replaced by its placeholder.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        // Email addresses go first, whatever the configured order: digits inside an address
        // ("csc@a000.com") must not be taken for a security code said after card talk. Card
        // numbers go before identity numbers, which are shorter.
        let order = [Sensitive::Emails, Sensitive::Cards, Sensitive::NationalIds];
        for kind in order.iter().filter(|kind| self.kinds.contains(kind)) {
            let redacted = match kind {
                Sensitive::Cards => cards::redact(&text),
                Sensitive::Emails => emails::redact(&text),
                Sensitive::NationalIds => national_ids::redact(&text),
            };
            if let Some(redacted) = redacted {
                text = Cow::Owned(redacted);
            }
        }
        text
    }

    /// Redacts what is learnt from a call: every turn, every collected value and the summary.
    pub fn redact_call(&self, call: &mut CompletedCall) {
        if self.is_off() {
            return;
        }
        let mut apply = |text: &mut String| {
            if let Cow::Owned(redacted) = self.redact(text) {
                *text = redacted;
            }
        };
        call.transcript
            .iter_mut()
            .filter_map(|turn| turn.message.as_mut())
            .for_each(&mut apply);
        call.collected.values_mut().for_each(&mut apply);
        if let Some(summary) = call.summary.as_mut() {
            apply(summary);
        }
    }
}

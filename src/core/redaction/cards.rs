//! Card numbers (Luhn-checked digit runs) and the security codes spoken next to them.

use super::{after_cues, replace_spans, Span, CARD_PLACEHOLDER, SECURITY_CODE_PLACEHOLDER};

const MIN_CARD_DIGITS: usize = 13;
const MAX_CARD_DIGITS: usize = 19;

/// Words after which a short number is a card security code.
const SECURITY_CODE_CUES: [&str; 5] = ["cvv", "cvc", "security code", "card verification", "csc"];

/// How far after a cue (in characters) a security code is looked for.
const SECURITY_CODE_REACH: usize = 40;

/// `None` when there is nothing to redact.
pub(super) fn redact(text: &str) -> Option<String> {
    let mut spans = card_spans(text);
    spans.extend(security_code_spans(text));
    replace_spans(text, spans)
}

/// One group of digits: its byte range.
pub(super) type Group = (usize, usize);

/// Runs of digit groups joined by exactly one space or dash.
pub(super) fn digit_runs(text: &str) -> Vec<Vec<Group>> {
    let bytes = text.as_bytes();
    let mut runs: Vec<Vec<Group>> = Vec::new();
    let mut current: Vec<Group> = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        if !bytes[index].is_ascii_digit() {
            index += 1;
            continue;
        }
        let start = index;
        while index < bytes.len() && bytes[index].is_ascii_digit() {
            index += 1;
        }
        let joined = current.last().is_some_and(|&(_, previous_end)| {
            start == previous_end + 1 && matches!(bytes[previous_end], b' ' | b'-')
        });
        if !joined && !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
        let after_plus = !joined && start > 0 && bytes[start - 1] == b'+';
        if after_plus {
            // A phone number: skip the whole run it starts.
            current.clear();
            while index < bytes.len()
                && (bytes[index].is_ascii_digit()
                    || (matches!(bytes[index], b' ' | b'-')
                        && bytes.get(index + 1).is_some_and(u8::is_ascii_digit)))
            {
                index += 1;
            }
            continue;
        }
        current.push((start, index));
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// The byte ranges of Luhn-valid card numbers, longest first from each group.
fn card_spans(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    for run in digit_runs(text) {
        let mut first = 0;
        while first < run.len() {
            let mut found = None;
            let mut digits = String::new();
            for (last, &(start, end)) in run.iter().enumerate().skip(first) {
                digits.push_str(&text[start..end]);
                if digits.len() > MAX_CARD_DIGITS {
                    break;
                }
                if digits.len() >= MIN_CARD_DIGITS && luhn_valid(&digits) {
                    found = Some(last);
                }
            }
            match found {
                Some(last) => {
                    spans.push((run[first].0, run[last].1, CARD_PLACEHOLDER));
                    first = last + 1;
                }
                None => first += 1,
            }
        }
    }
    spans
}

/// The Luhn checksum that every card number satisfies.
pub(super) fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    for (position, digit) in digits.bytes().rev().enumerate() {
        let mut value = u32::from(digit - b'0');
        if position % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    sum % 10 == 0
}

/// The first 3 or 4 digit number (digits may be spaced) shortly after each cue.
fn security_code_spans(text: &str) -> Vec<Span> {
    after_cues(text, &SECURITY_CODE_CUES, SECURITY_CODE_REACH)
        .into_iter()
        .filter_map(|(from, window)| {
            let run = digit_runs(window).into_iter().find(|run| {
                let count: usize = run.iter().map(|(start, end)| end - start).sum();
                (3..=4).contains(&count)
            })?;
            Some((
                from + run[0].0,
                from + run[run.len() - 1].1,
                SECURITY_CODE_PLACEHOLDER,
            ))
        })
        .collect()
}

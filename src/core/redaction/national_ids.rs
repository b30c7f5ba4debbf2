//! National identity numbers whose shape, checked beyond the digits, sets them apart from phone
//! numbers, dates and order numbers.
//!
//! - US Social Security number: `AAA-GG-SSSS` (dashes, or spaces, the same both times) with the
//!   ranges the SSA never issues excluded: area 000, 666 or 900-999, group 00, serial 0000. Nine
//!   digits written in any other way (together, digit by digit) count only shortly after
//!   "social security", "SSN" or "social".
//! - UK National Insurance number: two capital letters (the first not D, F, I, Q, U or V, the
//!   second not D, F, I, O, Q, U or V, and not BG, GB, KN, NK, NT, TN or ZZ), six digits
//!   (together or in pairs) and A, B, C or D: `AB123456C`, `AB 12 34 56 C`.
//! - Spanish DNI: eight digits and the check letter (`TRWAGMYFPDXBNJZSQVHLCKE`, the number
//!   modulo 23), as `12345678Z` or `12345678-Z`; NIE: X, Y or Z (worth 0, 1, 2), seven digits and
//!   the same check letter. A wrong check letter is not a DNI.

use super::cards::{digit_runs, Group};
use super::{after_cues, replace_spans, NATIONAL_ID_PLACEHOLDER};

/// Words after which nine digits, however grouped, are a Social Security number.
const SSN_CUES: [&str; 3] = ["social security", "ssn", "social"];

/// How far after a cue (in characters) a Social Security number is looked for.
const SSN_REACH: usize = 40;

/// The check letters of the DNI and NIE, by remainder modulo 23.
const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// The most alphanumeric pieces one identity number is written in (`AB 12 34 56 C`).
const MAX_PIECES: usize = 5;

/// `None` when there is nothing to redact.
pub(super) fn redact(text: &str) -> Option<String> {
    let mut spans = social_security_spans(text);
    spans.extend(lettered_id_spans(text));
    let spans = spans
        .into_iter()
        .map(|(start, end)| (start, end, NATIONAL_ID_PLACEHOLDER))
        .collect();
    replace_spans(text, spans)
}

/// Whether nine digits can be a Social Security number the SSA issues.
fn issuable_ssn(digits: &str) -> bool {
    if digits.len() != 9 {
        return false;
    }
    let (area, group, serial) = (&digits[..3], &digits[3..5], &digits[5..]);
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

fn digits_of(text: &str, run: &[Group]) -> String {
    run.iter().map(|&(start, end)| &text[start..end]).collect()
}

/// Whether the byte before `start` and the byte at `end` leave the number standing alone.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let bytes = text.as_bytes();
    let before = start.checked_sub(1).map(|at| bytes[at]);
    let after = bytes.get(end).copied();
    !before.is_some_and(|byte| byte.is_ascii_alphanumeric())
        && !after.is_some_and(|byte| byte.is_ascii_alphanumeric())
}

/// `AAA-GG-SSSS` anywhere; any nine digits shortly after a cue.
fn social_security_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = digit_runs(text)
        .into_iter()
        .filter(|run| {
            let lengths: Vec<usize> = run.iter().map(|(start, end)| end - start).collect();
            let bytes = text.as_bytes();
            lengths == [3, 2, 4] && bytes[run[0].1] == bytes[run[1].1]
        })
        .filter(|run| issuable_ssn(&digits_of(text, run)))
        .map(|run| (run[0].0, run[2].1))
        .filter(|&(start, end)| stands_alone(text, start, end))
        .collect();
    for (from, window) in after_cues(text, &SSN_CUES, SSN_REACH) {
        let found = digit_runs(window).into_iter().find(|run| {
            let digits = digits_of(window, run);
            digits.len() == 9 && issuable_ssn(&digits)
        });
        if let Some(run) = found {
            spans.push((from + run[0].0, from + run[run.len() - 1].1));
        }
    }
    spans
}

/// UK National Insurance numbers and Spanish DNI / NIE numbers: up to [`MAX_PIECES`]
/// alphanumeric pieces joined by single spaces or dashes.
fn lettered_id_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        if !bytes[index].is_ascii_alphanumeric() {
            index += 1;
            continue;
        }
        let start = index;
        while index < bytes.len() && bytes[index].is_ascii_alphanumeric() {
            index += 1;
        }
        pieces.push((start, index));
    }
    let joined = |left: (usize, usize), right: (usize, usize)| {
        right.0 == left.1 + 1 && matches!(bytes[left.1], b' ' | b'-')
    };
    let mut spans = Vec::new();
    let mut first = 0;
    while first < pieces.len() {
        let mut found = None;
        let mut candidate = String::new();
        for last in first..pieces.len().min(first + MAX_PIECES) {
            if last > first && !joined(pieces[last - 1], pieces[last]) {
                break;
            }
            candidate.push_str(&text[pieces[last].0..pieces[last].1]);
            if is_uk_national_insurance(&candidate) || is_spanish_id(&candidate) {
                found = Some(last);
            }
        }
        match found {
            Some(last) => {
                spans.push((pieces[first].0, pieces[last].1));
                first = last + 1;
            }
            None => first += 1,
        }
    }
    spans
}

fn is_uk_national_insurance(candidate: &str) -> bool {
    let bytes = candidate.as_bytes();
    if bytes.len() != 9 {
        return false;
    }
    let (prefix, digits, suffix) = (&candidate[..2], &bytes[2..8], bytes[8]);
    let (first, second) = (bytes[0], bytes[1]);
    first.is_ascii_uppercase()
        && second.is_ascii_uppercase()
        && !b"DFIQUV".contains(&first)
        && !b"DFIOQUV".contains(&second)
        && !["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].contains(&prefix)
        && digits.iter().all(u8::is_ascii_digit)
        && (b'A'..=b'D').contains(&suffix)
}

fn is_spanish_id(candidate: &str) -> bool {
    let bytes = candidate.as_bytes();
    if bytes.len() != 9 {
        return false;
    }
    let (number, letter) = (&candidate[..8], bytes[8]);
    let number = match bytes[0] {
        b'X' => format!("0{}", &number[1..]),
        b'Y' => format!("1{}", &number[1..]),
        b'Z' => format!("2{}", &number[1..]),
        _ => number.to_owned(),
    };
    if !number.bytes().all(|byte| byte.is_ascii_digit()) {
        return false;
    }
    number
        .parse::<usize>()
        .is_ok_and(|value| DNI_LETTERS[value % 23] == letter)
}

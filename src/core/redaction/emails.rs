//! Email addresses: `local@domain.tld`.

use super::EMAIL_PLACEHOLDER;

fn local_part(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn domain_part(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-')
}

/// `None` when there is nothing to redact.
pub(super) fn redact(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut redacted = String::new();
    let mut copied = 0;
    for (at, _) in text.match_indices('@') {
        if at < copied {
            continue;
        }
        let mut start = at;
        while start > copied && local_part(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && domain_part(bytes[end]) {
            end += 1;
        }
        // A sentence may end right after the address.
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &text[at + 1..end];
        let has_top_level = domain.rsplit_once('.').is_some_and(|(name, top)| {
            !name.is_empty() && top.len() >= 2 && top.bytes().all(|b| b.is_ascii_alphabetic())
        });
        if start == at || !has_top_level {
            continue;
        }
        redacted.push_str(&text[copied..start]);
        redacted.push_str(EMAIL_PLACEHOLDER);
        copied = end;
    }
    if copied == 0 {
        return None;
    }
    redacted.push_str(&text[copied..]);
    Some(redacted)
}

//! The text processing of a legacy OpenMemory server that shows through its HTTP answers:
//! the token-set hash behind global deduplication, condensation and a simple relevance.

use std::collections::BTreeSet;

/// Content longer than this is condensed (the server's `OM_SUMMARY_MAX_LENGTH`).
const CONDENSE_ABOVE_CHARS: usize = 200;

/// The canonical token set: lower-cased, synonyms folded (like/love/enjoy -> prefer), lightly
/// stemmed, 1-character tokens dropped. Order and case do not matter.
// exchanges-legacy/l67_dedup_reordered_words.json, l69_dedup_different_digit_other_caller.json,
// l71_dedup_synonym_other_caller.json
pub fn canonical_tokens(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .map(|word| fold_synonym(&word).unwrap_or_else(|| stem(&word)))
        .filter(|token| token.chars().count() > 1)
        .collect()
}

fn fold_synonym(word: &str) -> Option<String> {
    const PREFER: &[&str] = &[
        "like",
        "likes",
        "liked",
        "love",
        "loves",
        "loved",
        "enjoy",
        "enjoys",
        "enjoyed",
        "prefer",
        "prefers",
        "preferred",
    ];
    PREFER.contains(&word).then(|| "prefer".to_owned())
}

fn stem(word: &str) -> String {
    for suffix in ["ing", "ed", "es", "s"] {
        if let Some(stemmed) = word.strip_suffix(suffix) {
            if stemmed.chars().count() >= 3 {
                return stemmed.to_owned();
            }
        }
    }
    word.to_owned()
}

/// A majority vote over 32-bit token hashes, bits 32-63 repeating bits 0-31; the server looks
/// for an exact match of it among all users' memories.
// exchanges-legacy/l63_dedup_caller_b_same_content_as_a.json, l74_dedup_b_different_order_number.json
pub fn token_set_hash(text: &str) -> u64 {
    let tokens = canonical_tokens(text);
    let mut votes = [0i64; 32];
    for token in &tokens {
        let hash = fnv1a(token);
        for (bit, vote) in votes.iter_mut().enumerate() {
            *vote += if hash >> bit & 1 == 1 { 1 } else { -1 };
        }
    }
    let low = votes
        .iter()
        .enumerate()
        .filter(|(_, vote)| **vote > 0)
        .fold(0u64, |hash, (bit, _)| hash | 1 << bit);
    low | low << 32
}

fn fnv1a(token: &str) -> u32 {
    token.bytes().fold(0x811c_9dc5, |hash: u32, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// Keeps the first two sentences and the last one of long content, as the server's essence
/// extraction did with the recorded memory, and drops any kept sentence of 200 characters or more:
/// a long first sentence (marker included) left `""` or only a later short sentence.
// exchanges-legacy/l61_add_long_content.json, l62_get_long_content_stored.json
pub fn condense(content: &str) -> String {
    if content.chars().count() <= CONDENSE_ABOVE_CHARS {
        return content.to_owned();
    }
    let sentences: Vec<&str> = content
        .split_inclusive(['.', '!', '?'])
        .map(str::trim)
        .filter(|sentence| !sentence.is_empty())
        .collect();
    let kept = if sentences.len() <= 3 {
        sentences
    } else {
        vec![sentences[0], sentences[1], sentences[sentences.len() - 1]]
    };
    kept.into_iter()
        .filter(|sentence| sentence.chars().count() < CONDENSE_ABOVE_CHARS)
        .collect::<Vec<_>>()
        .join(" ")
}

/// How many canonical tokens the query and the content share.
pub fn overlap(query: &BTreeSet<String>, content: &str) -> usize {
    canonical_tokens(content).intersection(query).count()
}

/// Scores normalised within the result set; a single match scores 0 and others can be negative.
// exchanges-legacy/l09_query_caller_a_filters_user_id.json, l66_dedup_b_query_lacks_it.json
pub fn z_scores(raw: &[f64]) -> Vec<f64> {
    let count = raw.len() as f64;
    let mean = raw.iter().sum::<f64>() / count;
    let variance = raw.iter().map(|value| (value - mean).powi(2)).sum::<f64>() / count;
    let deviation = variance.sqrt();
    raw.iter()
        .map(|value| {
            if deviation > 0.0 {
                (value - mean) / deviation
            } else {
                0.0
            }
        })
        .collect()
}

/// `decodeURIComponent`: a malformed escape is an error (the legacy router then crashes), and a
/// `+` stays a `+`.
// exchanges-legacy/l82_bad_percent_encoding_in_path_no_key_crashes_server.json, l21
pub fn decode_uri_component(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = raw.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

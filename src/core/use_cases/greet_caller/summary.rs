//! Short, speakable text about a caller, composed from their profile card.
//!
//! The agent reads these values aloud or puts them in its prompt, so they are plain sentences of
//! bounded length; caller text is cleaned of line breaks and clipped, never interpreted.

use crate::core::{says_something, ProfileCard};

/// The longest profile summary, in characters.
pub const MAX_PROFILE_SUMMARY_CHARS: usize = 300;
/// The longest last-call summary, in characters.
pub const MAX_LAST_CALL_SUMMARY_CHARS: usize = 1000;
const MAX_FACTS: usize = 4;
const MAX_FACT_CHARS: usize = 60;

/// "Maria has called twice before, most recently on 15 January 2026. Known details: last name
/// Lopez; city Madrid."
pub fn profile_summary(card: &ProfileCard) -> String {
    let name = card.name.as_deref().map(one_line).filter(|n| !n.is_empty());
    let who = name.clone().unwrap_or_else(|| "This caller".to_owned());
    let mut summary = format!("{who} has called {} before", times(card.call_count));
    if let Some(last_seen) = card.last_seen {
        summary.push_str(&format!(
            ", most recently on {}",
            last_seen.format("%-d %B %Y")
        ));
    }
    summary.push('.');
    let details: Vec<String> = card
        .facts
        .iter()
        .map(|(field, value)| (field.replace('_', " "), one_line(value)))
        .filter(|(_, value)| says_something(value))
        .filter(|(_, value)| {
            name.as_deref()
                .is_none_or(|n| !value.eq_ignore_ascii_case(n))
        })
        .take(MAX_FACTS)
        .map(|(field, value)| format!("{field} {}", clip(&value, MAX_FACT_CHARS)))
        .collect();
    if !details.is_empty() {
        summary.push_str(&format!(" Known details: {}.", details.join("; ")));
    }
    clip(&summary, MAX_PROFILE_SUMMARY_CHARS)
}

fn times(count: u64) -> String {
    match count {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    }
}

/// Collapses line breaks, tabs and runs of spaces into single spaces.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Shortens `text` to at most `max_chars` characters, at a word boundary when one is near, ending
/// with an ellipsis when anything was cut.
pub fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    let at_word = match kept.rfind(' ') {
        Some(space) if space >= kept.len() / 2 => &kept[..space],
        _ => kept.as_str(),
    };
    format!("{}…", at_word.trim_end_matches([' ', ',', ';', '.']))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn card() -> ProfileCard {
        ProfileCard {
            name: Some("Maria".to_owned()),
            call_count: 2,
            last_seen: Some(Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap()),
            facts: [
                ("first_name", "Maria"),
                ("last_name", "Lopez"),
                ("preferred_time", "mornings\nbefore ten"),
            ]
            .into_iter()
            .map(|(field, value)| (field.to_owned(), value.to_owned()))
            .collect(),
            ..ProfileCard::default()
        }
    }

    #[test]
    fn the_summary_names_the_caller_their_calls_and_a_few_facts() {
        assert_eq!(
            profile_summary(&card()),
            "Maria has called twice before, most recently on 15 January 2026. \
             Known details: last name Lopez; preferred time mornings before ten."
        );
    }

    #[test]
    fn a_caller_without_a_name_is_described_without_one() {
        let card = ProfileCard {
            call_count: 1,
            ..ProfileCard::default()
        };
        assert_eq!(
            profile_summary(&card),
            "This caller has called once before."
        );
    }

    #[test]
    fn the_summary_stays_short_however_much_is_known() {
        let mut card = card();
        card.name = Some("N".repeat(500));
        for index in 0..50 {
            card.facts
                .insert(format!("fact_{index}"), "word ".repeat(40));
        }
        let summary = profile_summary(&card);
        assert!(summary.chars().count() <= MAX_PROFILE_SUMMARY_CHARS);
        assert!(summary.ends_with('…'));
    }

    #[test]
    fn clipping_prefers_a_word_boundary_and_respects_multibyte_text() {
        assert_eq!(clip("das Frühstück ist fertig", 16), "das Frühstück…");
        assert_eq!(clip("ééééééééé", 4), "ééé…");
        assert_eq!(clip("short", 10), "short");
    }
}

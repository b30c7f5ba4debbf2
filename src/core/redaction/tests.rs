use proptest::prelude::*;

use super::cards::luhn_valid;
use super::*;

fn all() -> Redaction {
    Redaction::of(Sensitive::ALL)
}

/// A Luhn-valid card number of `length` digits starting with `prefix`, completed by `body`.
fn card_number(prefix: &str, body: &[u8], length: usize) -> String {
    let mut digits: String = prefix.to_owned();
    digits.extend(body.iter().map(|digit| char::from(b'0' + digit % 10)));
    digits.truncate(length - 1);
    for check in 0..10 {
        let candidate = format!("{digits}{check}");
        if luhn_valid(&candidate) {
            return candidate;
        }
    }
    unreachable!("one check digit always completes a Luhn number")
}

/// The ways a number is spoken and transcribed: together, in groups of four with spaces or
/// dashes, or digit by digit.
fn spoken(digits: &str, form: u8) -> String {
    let chars: Vec<String> = digits.chars().map(String::from).collect();
    match form % 4 {
        0 => digits.to_owned(),
        1 => chars
            .chunks(4)
            .map(|group| group.concat())
            .collect::<Vec<_>>()
            .join(" "),
        2 => chars
            .chunks(4)
            .map(|group| group.concat())
            .collect::<Vec<_>>()
            .join("-"),
        _ => chars.join(" "),
    }
}

fn digits_of(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

proptest! {
    #[test]
    fn card_numbers_in_any_spoken_form_are_never_kept(
        prefix in prop::sample::select(vec!["4", "51", "55", "37", "6011", "35"]),
        body in prop::collection::vec(0u8..10, 19),
        length in 13usize..=19,
        form in 0u8..4,
        before in "[A-Za-z ,]{0,20}",
        after in "[A-Za-z ,.]{0,20}",
    ) {
        let card = card_number(prefix, &body, length);
        let text = format!("{before} my card is {} {after}", spoken(&card, form));
        let redacted = all().redact(&text).into_owned();
        prop_assert!(!digits_of(&redacted).contains(&card), "{text} -> {redacted}");
        prop_assert!(redacted.contains(CARD_PLACEHOLDER), "{text} -> {redacted}");
    }

    #[test]
    fn times_prices_order_and_phone_numbers_are_left_alone(
        hour in 1u8..13,
        minute in 0u8..60,
        dollars in 1u32..10_000,
        cents in 0u8..100,
        order in 1u64..10_000_000_000,
        phone in 1_000_000u64..1_000_000_000_000_000,
    ) {
        let text = format!(
            "Can we do {hour}:{minute:02} on Friday? It was ${dollars}.{cents:02}, order {order}, \
             call me on +{phone} or 555-0123."
        );
        prop_assert_eq!(all().redact(&text), text.as_str());
    }

    #[test]
    fn email_addresses_are_never_kept(
        local in "[a-z][a-z0-9._+-]{0,15}",
        domain in "[a-z][a-z0-9-]{0,10}",
        top in "(com|org|es|co\\.uk)",
    ) {
        let address = format!("{local}@{domain}.{top}");
        let text = format!("Write to {address}. Thanks");
        let redacted = all().redact(&text).into_owned();
        prop_assert!(!redacted.contains(&address), "{redacted}");
        prop_assert_eq!(redacted, format!("Write to {EMAIL_PLACEHOLDER}. Thanks"));
    }
}

#[test]
fn a_security_code_after_card_talk_is_redacted_but_other_short_numbers_are_not() {
    let text = "The card is 4111 1111 1111 1111, the CVV is 123, and I have 2 kids.";
    assert_eq!(
        all().redact(text),
        "The card is [card number], the CVV is [security code], and I have 2 kids."
    );
    assert_eq!(
        all().redact("security code 4 5 6 7"),
        "security code [security code]"
    );
    assert_eq!(all().redact("I am 123 years old"), "I am 123 years old");
}

#[test]
fn only_the_chosen_kinds_are_redacted() {
    let text = "maria@example.com, card 4111111111111111";
    assert_eq!(
        Redaction::of([Sensitive::Emails]).redact(text),
        "[email], card 4111111111111111"
    );
    assert_eq!(
        Redaction::of([Sensitive::Cards]).redact(text),
        "maria@example.com, card [card number]"
    );
    assert_eq!(Redaction::default().redact(text), text);
}

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

fn national_ids() -> Redaction {
    Redaction::of([Sensitive::NationalIds])
}

/// The check letter of a DNI number (NIE numbers count X, Y, Z as 0, 1, 2).
fn dni_letter(number: u32) -> char {
    char::from(b"TRWAGMYFPDXBNJZSQVHLCKE"[(number % 23) as usize])
}

proptest! {
    #[test]
    fn issuable_social_security_numbers_are_never_kept(
        area in (1u32..900).prop_filter("never issued", |area| *area != 666),
        group in 1u32..100,
        serial in 1u32..10_000,
        separator in prop::sample::select(vec!["-", " "]),
    ) {
        let ssn = format!("{area:03}{separator}{group:02}{separator}{serial:04}");
        let text = format!("Sure, it is {ssn}, thanks.");
        let redacted = national_ids().redact(&text).into_owned();
        prop_assert_eq!(redacted, format!("Sure, it is {NATIONAL_ID_PLACEHOLDER}, thanks."));
    }

    #[test]
    fn dni_and_nie_numbers_with_their_check_letter_are_never_kept(
        number in 0u32..100_000_000,
        nie in prop::sample::select(vec!["", "X", "Y", "Z"]),
        separator in prop::sample::select(vec!["", "-", " "]),
    ) {
        let written = match nie {
            "" => format!("{number:08}{separator}{}", dni_letter(number)),
            prefix => {
                let number = number % 10_000_000;
                let value = "XYZ".find(prefix).unwrap() as u32 * 10_000_000 + number;
                format!("{prefix}{number:07}{separator}{}", dni_letter(value))
            }
        };
        let text = format!("Mi DNI es {written}.");
        let redacted = national_ids().redact(&text).into_owned();
        prop_assert_eq!(redacted, format!("Mi DNI es {NATIONAL_ID_PLACEHOLDER}."));
    }

    #[test]
    fn phone_numbers_dates_and_order_numbers_are_not_taken_for_national_ids(
        area in 200u32..1000,
        exchange in 200u32..1000,
        line in 0u32..10_000,
        year in 1990u32..2100,
        month in 1u32..13,
        day in 1u32..29,
        order in 10_000u64..100_000_000_000,
    ) {
        let text = format!(
            "Call {area}-{exchange}-{line:04} or ({area}) {exchange} {line:04} or +1 {area} \
             {exchange} {line:04}. It was on {year}-{month:02}-{day:02}, {day:02}/{month:02}/{year} \
             or {day:02}-{month:02}-{year}. Order {order}, ticket ORD-{order}, ref {area}-{line:04}."
        );
        prop_assert_eq!(national_ids().redact(&text), text.as_str());
    }
}

#[test]
fn numbers_the_ssa_never_issues_are_not_social_security_numbers() {
    for never_issued in [
        "000-12-3456",
        "666-12-3456",
        "912-34-5678",
        "123-00-4567",
        "123-45-0000",
    ] {
        let text = format!("number {never_issued}");
        assert_eq!(national_ids().redact(&text), text, "{never_issued}");
    }
    assert_eq!(
        national_ids().redact("123-45 6789 and 1234-56-789"),
        "123-45 6789 and 1234-56-789",
        "mixed separators and other groupings are not the SSN shape"
    );
}

#[test]
fn nine_digits_count_as_a_social_security_number_only_after_it_is_mentioned() {
    assert_eq!(
        national_ids().redact("My social security number is 1 2 3 4 5 6 7 8 9."),
        format!("My social security number is {NATIONAL_ID_PLACEHOLDER}.")
    );
    assert_eq!(
        national_ids().redact("SSN: 123456789"),
        format!("SSN: {NATIONAL_ID_PLACEHOLDER}")
    );
    assert_eq!(
        national_ids().redact("Tracking number 123456789, order 987654321"),
        "Tracking number 123456789, order 987654321"
    );
}

#[test]
fn uk_national_insurance_numbers_are_redacted_in_their_written_forms() {
    for written in ["JH123456C", "AB 12 34 56 C", "AB123456D", "JG 123456 A"] {
        let text = format!("It's {written}, I think");
        assert_eq!(
            national_ids().redact(&text),
            format!("It's {NATIONAL_ID_PLACEHOLDER}, I think"),
            "{written}"
        );
    }
    for not_an_ni in [
        "QQ123456E",
        "GB123456A",
        "DA123456A",
        "AO123456A",
        "AB1234567C",
        "Flight BA123",
    ] {
        let text = format!("It's {not_an_ni}, I think");
        assert_eq!(national_ids().redact(&text), text, "{not_an_ni}");
    }
}

#[test]
fn a_dni_with_a_wrong_check_letter_is_left_alone() {
    assert_eq!(
        national_ids().redact("12345678Z and X1234567L"),
        format!("{NATIONAL_ID_PLACEHOLDER} and {NATIONAL_ID_PLACEHOLDER}")
    );
    assert_eq!(
        national_ids().redact("12345678A and X1234567A"),
        "12345678A and X1234567A"
    );
}

//! Every vector of `hmac_vectors.json` (ElevenLabs' own SDK vectors and signatures over the
//! sample payloads), and a test for each edge case it lists, with the decision taken here.

use chrono::TimeZone;
use serde_json::Value;

use super::*;

const TOLERANCE: Duration = Duration::from_secs(30 * 60);

fn vectors() -> Value {
    serde_json::from_str(include_str!("hmac_vectors.json")).expect("vectors are JSON")
}

fn at(unix: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(unix, 0).single().expect("valid time")
}

/// Verifies `body` in two chunks, as it would stream in.
fn check(key: &str, header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let header = SignatureHeader::parse(Some(header))?;
    let mut verifier = BodyVerifier::start(key, header, at(now), TOLERANCE)?;
    let (first, rest) = body.split_at(body.len() / 2);
    verifier.update(first);
    verifier.update(rest);
    verifier.verify()
}

fn text<'a>(vector: &'a Value, field: &str) -> &'a str {
    vector[field].as_str().expect("a text field")
}

fn timestamp(vector: &Value) -> i64 {
    text(vector, "timestamp")
        .parse()
        .expect("numeric timestamp")
}

/// The SDK vector: secret, timestamp and body, and a header valid at `t`.
fn sdk_case() -> (String, i64, Vec<u8>, String) {
    let vector = &vectors()["sdk_test_vector"];
    (
        text(vector, "secret").to_owned(),
        timestamp(vector),
        text(vector, "body").as_bytes().to_vec(),
        text(vector, "expected_header").to_owned(),
    )
}

#[test]
fn the_python_sdk_vector_verifies_and_signs_identically() {
    let (secret, t, body, header) = sdk_case();
    assert_eq!(check(&secret, &header, &body, t), Ok(()));
    assert_eq!(sign(&secret, t, &body), header);
}

#[test]
fn the_js_sdk_style_vector_verifies_and_signs_identically() {
    let vector = &vectors()["js_style_vector"];
    let (secret, body, header) = (
        text(vector, "secret"),
        text(vector, "body").as_bytes(),
        text(vector, "expected_header"),
    );
    assert_eq!(check(secret, header, body, timestamp(vector)), Ok(()));
    assert_eq!(sign(secret, timestamp(vector), body), header);
}

#[test]
fn the_signatures_over_the_sample_payload_files_verify() {
    let vectors = vectors();
    let files = vectors["file_vectors"].as_array().expect("file vectors");
    assert_eq!(files.len(), 3);
    for vector in files {
        let path = format!(
            "{}/payloads/{}",
            env!("CARGO_MANIFEST_DIR"),
            text(vector, "file")
        );
        let body = std::fs::read(&path).expect("sample payload");
        assert_eq!(
            body.len() as u64,
            vector["body_len"].as_u64().unwrap(),
            "{path}"
        );
        let header = text(vector, "expected_header");
        let t = timestamp(vector);
        assert_eq!(
            check(text(vector, "secret"), header, &body, t),
            Ok(()),
            "{path}"
        );
        assert_eq!(sign(text(vector, "secret"), t, &body), header);
    }
}

#[test]
fn a_missing_or_empty_header_is_refused_like_the_sdk() {
    assert_eq!(SignatureHeader::parse(None), Err(SignatureError::Missing));
    assert_eq!(
        SignatureHeader::parse(Some("")),
        Err(SignatureError::Missing)
    );
    assert_eq!(
        SignatureHeader::parse(Some("  ")),
        Err(SignatureError::Missing)
    );
}

#[test]
fn an_empty_secret_refuses_every_delivery_like_the_sdk() {
    let (_, t, body, header) = sdk_case();
    assert_eq!(check("", &header, &body, t), Err(SignatureError::NoKey));
}

#[test]
fn a_header_without_t_or_v0_is_refused_like_the_sdk() {
    for header in [
        "invalid_format",
        "t=1600000000",
        "v0=abcd",
        "t=,v0=ab",
        "t=16e8,v0=ab",
    ] {
        assert_eq!(
            SignatureHeader::parse(Some(header)),
            Err(SignatureError::Malformed),
            "{header}"
        );
    }
}

#[test]
fn two_timestamps_in_one_header_are_refused_as_ambiguous() {
    let (_, _, _, header) = sdk_case();
    let doubled = format!("t=1,{header}");
    assert_eq!(
        SignatureHeader::parse(Some(&doubled)),
        Err(SignatureError::Malformed)
    );
}

#[test]
fn whitespace_around_parts_is_tolerated_unlike_the_sdk() {
    let (secret, t, body, header) = sdk_case();
    let spaced = format!("  {} ", header.replace(',', " , "));
    assert_eq!(check(&secret, &spaced, &body, t), Ok(()));
}

#[test]
fn a_timestamp_one_second_past_the_tolerance_is_refused_like_the_sdk() {
    let (secret, t, body, header) = sdk_case();
    assert_eq!(
        check(&secret, &header, &body, t + 1801),
        Err(SignatureError::Expired)
    );
}

#[test]
fn a_timestamp_exactly_at_the_tolerance_is_accepted_like_the_sdk() {
    let (secret, t, body, header) = sdk_case();
    assert_eq!(check(&secret, &header, &body, t + 1800), Ok(()));
}

#[test]
fn a_timestamp_more_than_five_minutes_ahead_is_refused_unlike_the_sdk() {
    let (secret, t, body, header) = sdk_case();
    assert_eq!(
        check(&secret, &header, &body, t - 301),
        Err(SignatureError::FromTheFuture)
    );
    // A clock a little behind the sender's is normal, as the SDK allows.
    assert_eq!(check(&secret, &header, &body, t - 300), Ok(()));
}

#[test]
fn a_v0_that_is_not_a_digest_is_refused_like_the_sdk() {
    let (secret, t, body, _) = sdk_case();
    let header = format!("t={t},v0=invalid_signature");
    assert_eq!(
        check(&secret, &header, &body, t),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn the_right_digest_in_uppercase_hex_is_refused_like_the_sdk() {
    let (secret, t, body, header) = sdk_case();
    let (prefix, digest) = header.split_once("v0=").unwrap();
    let upper = format!("{prefix}v0={}", digest.to_ascii_uppercase());
    assert_eq!(
        check(&secret, &upper, &body, t),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn parts_in_reverse_order_are_accepted_like_the_sdk() {
    let (secret, t, body, header) = sdk_case();
    let (time, digest) = header.split_once(',').unwrap();
    assert_eq!(
        check(&secret, &format!("{digest},{time}"), &body, t),
        Ok(())
    );
}

#[test]
fn a_reserialized_body_is_refused_like_the_sdk() {
    let (secret, t, body, header) = sdk_case();
    let reparsed: Value = serde_json::from_slice(&body).unwrap();
    let compact = serde_json::to_vec(&reparsed).unwrap();
    assert_ne!(compact, body);
    assert_eq!(
        check(&secret, &header, &compact, t),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn any_of_several_v0_signatures_may_match_as_during_a_key_rotation() {
    let (secret, t, body, header) = sdk_case();
    let (time, digest) = header.split_once(',').unwrap();
    let rotated = format!("{time},v0={},{digest},v1=future-scheme", "0".repeat(64));
    assert_eq!(check(&secret, &rotated, &body, t), Ok(()));
}

#[test]
fn a_signature_made_with_another_key_is_refused() {
    let (_, t, body, header) = sdk_case();
    assert_eq!(
        check("other_secret", &header, &body, t),
        Err(SignatureError::Mismatch)
    );
}

//! Properties of the signature check over arbitrary headers, bodies, keys and times: it never
//! panics, and it accepts exactly the deliveries signed with our key over these very bytes.

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;

const TOLERANCE: Duration = Duration::from_secs(30 * 60);
const KEY: &str = "wsec_property_key";

fn at(unix: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(unix, 0).single().expect("valid time")
}

/// Checks `body` as it would stream in, cut at `cut`.
fn check(key: &str, header: &str, body: &[u8], now: i64, cut: usize) -> Result<(), SignatureError> {
    let header = SignatureHeader::parse(Some(header))?;
    let mut verifier = BodyVerifier::start(key, header, at(now), TOLERANCE)?;
    let (first, rest) = body.split_at(cut.min(body.len()));
    verifier.update(first);
    verifier.update(rest);
    verifier.verify()
}

/// Flips bit `bit` (modulo the length) of `bytes`.
fn flip(bytes: &mut [u8], bit: usize) {
    let bit = bit % (bytes.len() * 8);
    bytes[bit / 8] ^= 1 << (bit % 8);
}

/// Times within the range chrono can represent, around the present.
fn unix_time() -> impl Strategy<Value = i64> {
    1_000_000_000i64..4_000_000_000
}

proptest! {
    #[test]
    fn any_header_body_and_time_is_answered_without_panicking(
        header in proptest::option::of(".{0,200}"),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        key in ".{0,40}",
        now in unix_time(),
    ) {
        if let Ok(parsed) = SignatureHeader::parse(header.as_deref()) {
            if let Ok(mut verifier) = BodyVerifier::start(&key, parsed, at(now), TOLERANCE) {
                verifier.update(&body);
                let _ = verifier.verify();
            }
        }
    }

    #[test]
    fn headers_shaped_like_signatures_are_answered_without_panicking(
        header in "( ?(t|v0|v1)=[0-9a-fA-F,=]{0,70} ?,?){0,4}",
        now in unix_time(),
    ) {
        let _ = check(KEY, &header, b"{}", now, 1);
    }

    #[test]
    fn a_body_signed_with_our_key_within_the_tolerance_verifies(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        signed_at in unix_time(),
        age in -300i64..=1800,
        cut in any::<usize>(),
    ) {
        let header = sign(KEY, signed_at, &body);
        prop_assert_eq!(check(KEY, &header, &body, signed_at + age, cut), Ok(()));
    }

    #[test]
    fn a_signature_outside_the_tolerance_is_refused(
        body in proptest::collection::vec(any::<u8>(), 0..64),
        signed_at in unix_time(),
        too_old in 1801i64..1_000_000,
        too_new in 301i64..1_000_000,
    ) {
        let header = sign(KEY, signed_at, &body);
        prop_assert_eq!(check(KEY, &header, &body, signed_at + too_old, 0), Err(SignatureError::Expired));
        prop_assert_eq!(check(KEY, &header, &body, signed_at - too_new, 0), Err(SignatureError::FromTheFuture));
    }

    #[test]
    fn one_flipped_bit_of_the_body_is_refused(
        body in proptest::collection::vec(any::<u8>(), 1..2048),
        bit in any::<usize>(),
        signed_at in unix_time(),
        cut in any::<usize>(),
    ) {
        let header = sign(KEY, signed_at, &body);
        let mut tampered = body.clone();
        flip(&mut tampered, bit);
        prop_assert_eq!(check(KEY, &header, &tampered, signed_at, cut), Err(SignatureError::Mismatch));
    }

    #[test]
    fn one_flipped_bit_of_the_timestamp_is_refused(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        signed_at in unix_time(),
        bit in any::<usize>(),
    ) {
        let header = sign(KEY, signed_at, &body);
        let (time, digest) = header.split_once(',').expect("two parts");
        let mut time = time.as_bytes().to_vec();
        // Only the digits after `t=`: flipping the name is a different header altogether.
        flip(&mut time[2..], bit);
        let tampered = format!("{},{digest}", String::from_utf8_lossy(&time));
        // Checked at the signing time, so the only possible acceptance is a forged match.
        prop_assert!(check(KEY, &tampered, &body, signed_at, 0).is_err());
    }

    #[test]
    fn one_flipped_bit_of_the_digest_is_refused(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        signed_at in unix_time(),
        bit in any::<usize>(),
        in_the_text in any::<bool>(),
    ) {
        let header = sign(KEY, signed_at, &body);
        let (time, hex_digest) = header.split_once(",v0=").expect("two parts");
        let tampered = if in_the_text {
            // A flipped bit of the hex text: another digit, or not hex at all.
            let mut text = hex_digest.as_bytes().to_vec();
            flip(&mut text, bit);
            String::from_utf8_lossy(&text).into_owned()
        } else {
            let mut digest = hex::decode(hex_digest).expect("hex");
            flip(&mut digest, bit);
            hex::encode(digest)
        };
        let header = format!("{time},v0={tampered}");
        prop_assert!(check(KEY, &header, &body, signed_at, 0).is_err());
    }

    #[test]
    fn a_signature_made_with_any_other_key_is_refused(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        other_key in ".{1,40}",
        signed_at in unix_time(),
    ) {
        prop_assume!(other_key != KEY);
        let header = sign(&other_key, signed_at, &body);
        prop_assert_eq!(check(KEY, &header, &body, signed_at, 0), Err(SignatureError::Mismatch));
    }
}

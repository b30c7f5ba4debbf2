//! Which phone number a finished call is about: the person on the other end of the line.

use crate::core::{mask_phone_number, CallerCandidates, CallerId};

/// Picks the caller: the provider's external number first (the other party, inbound or
/// outbound), then the caller-id system variable, then the platform user id. A candidate that
/// is not a phone number, or is the agent's own number, is passed over, so an outbound call never
/// pools different people under our number.
///
/// The error explains, with masked numbers, why no candidate was usable.
pub(crate) fn resolve_caller(candidates: &CallerCandidates) -> Result<CallerId, String> {
    let agent_number = candidates
        .agent_number
        .as_deref()
        .and_then(|raw| CallerId::parse(raw).ok());
    let ordered = [
        ("external_number", &candidates.external_number),
        ("system__caller_id", &candidates.caller_id_variable),
        ("user_id", &candidates.user_id),
    ];
    let mut passed_over = Vec::new();
    for (field, raw) in ordered {
        let Some(raw) = raw.as_deref() else { continue };
        match CallerId::parse(raw) {
            Ok(caller) if Some(&caller) == agent_number.as_ref() => {
                passed_over.push(format!("{field} {caller} is the agent's own number"));
            }
            Ok(caller) => return Ok(caller),
            Err(error) => {
                passed_over.push(format!("{field} {}: {error}", mask_phone_number(raw)));
            }
        }
    }
    if passed_over.is_empty() {
        Err("the call carries no phone number".to_owned())
    } else {
        Err(format!(
            "no usable phone number ({})",
            passed_over.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(
        external: Option<&str>,
        variable: Option<&str>,
        user: Option<&str>,
        agent: Option<&str>,
    ) -> CallerCandidates {
        CallerCandidates {
            external_number: external.map(Into::into),
            caller_id_variable: variable.map(Into::into),
            user_id: user.map(Into::into),
            agent_number: agent.map(Into::into),
        }
    }

    fn resolved(candidates: &CallerCandidates) -> String {
        resolve_caller(candidates).unwrap().as_e164().to_owned()
    }

    #[test]
    fn the_external_number_wins_over_the_caller_id_variable_and_user_id() {
        let all = candidates(
            Some("+14155550123"),
            Some("+14155550777"),
            Some("+14155550888"),
            Some("+14155550199"),
        );
        assert_eq!(resolved(&all), "+14155550123");
    }

    #[test]
    fn the_caller_id_variable_is_used_without_an_external_number() {
        let without_external = candidates(
            None,
            Some("+14155550777"),
            Some("+14155550888"),
            Some("+14155550199"),
        );
        assert_eq!(resolved(&without_external), "+14155550777");
    }

    #[test]
    fn the_user_id_is_the_last_resort() {
        let only_user = candidates(None, Some("anonymous"), Some("+14155550888"), None);
        assert_eq!(resolved(&only_user), "+14155550888");
    }

    #[test]
    fn an_outbound_call_is_about_the_callee_never_our_own_number() {
        // On an outbound call the caller-id variable can hold the number we dialled from.
        let outbound = candidates(
            Some("+442079460958"),
            Some("+14155550199"),
            None,
            Some("+14155550199"),
        );
        assert_eq!(resolved(&outbound), "+442079460958");

        let only_our_number = candidates(None, Some("+1 415 555 0199"), None, Some("+14155550199"));
        let why = resolve_caller(&only_our_number).unwrap_err();
        assert!(why.contains("agent's own number"), "{why}");
    }

    #[test]
    fn odd_spellings_are_normalised_to_e164() {
        for (raw, expected) in [
            (" +1 (415) 555-0123 ", "+14155550123"),
            ("0044 20 7946 0958", "+442079460958"),
            ("+49.30.1234567", "+49301234567"),
            ("+33\u{a0}1\u{a0}23\u{a0}45\u{a0}67\u{a0}89", "+33123456789"),
        ] {
            assert_eq!(resolved(&candidates(Some(raw), None, None, None)), expected);
        }
    }

    #[test]
    fn without_a_usable_number_the_reason_is_given_with_masked_numbers() {
        let none = resolve_caller(&CallerCandidates::default()).unwrap_err();
        assert_eq!(none, "the call carries no phone number");

        let unusable = candidates(Some("4155550123"), Some("anonymous"), None, None);
        let why = resolve_caller(&unusable).unwrap_err();
        assert!(why.contains("external_number"), "{why}");
        assert!(why.contains("system__caller_id"), "{why}");
        assert!(!why.contains("5550123"), "the full number leaked: {why}");
    }
}

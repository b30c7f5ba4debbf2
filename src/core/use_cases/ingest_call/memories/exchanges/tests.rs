use super::*;

fn agent(message: &str) -> Turn {
    Turn {
        speaker: Speaker::Agent,
        message: Some(message.to_owned()),
        time_in_call_secs: 0,
    }
}

fn caller(message: &str) -> Turn {
    Turn {
        speaker: Speaker::User,
        message: Some(message.to_owned()),
        time_in_call_secs: 7,
    }
}

fn contents(transcript: &[Turn]) -> Vec<String> {
    exchanges_of(transcript)
        .into_iter()
        .map(|exchange| exchange.content)
        .collect()
}

#[test]
fn an_answer_is_stored_with_the_question_it_answers() {
    let stored = contents(&[
        agent("Do you have any allergies?"),
        caller("Yes, I'm allergic to penicillin."),
    ]);
    assert_eq!(
        stored,
        ["Agent asked: Do you have any allergies? Caller: Yes, I'm allergic to penicillin."]
    );
}

#[test]
fn short_answers_that_carry_information_are_kept_because_of_their_question() {
    let stored = contents(&[
        agent("Any allergies we should know about?"),
        caller("Yes, penicillin."),
        agent("Which time works, 10:30 or 2:15?"),
        caller("2:15 works for me."),
        agent("Are you allergic to latex?"),
        caller("No."),
        agent("¿Tiene seguro dental?"),
        caller("Sí."),
    ]);
    assert_eq!(
        stored,
        [
            "Agent asked: Any allergies we should know about? Caller: Yes, penicillin.",
            "Agent asked: Which time works, 10:30 or 2:15? Caller: 2:15 works for me.",
            "Agent asked: Are you allergic to latex? Caller: No.",
            "Agent asked: ¿Tiene seguro dental? Caller: Sí.",
        ]
    );
}

#[test]
fn acknowledgements_and_pleasantries_are_not_stored() {
    let stored = contents(&[
        agent("I've booked you for Friday at 2:15."),
        caller("Okay."),
        agent("Is there anything else I can help with?"),
        caller("No, that's all. Thank you, bye."),
        agent("Perfecto, le espero el viernes."),
        caller("Vale, muchas gracias. Adiós."),
        agent("Great, you're booked for Friday the 23rd. Is there anything else?"),
        caller("No, that's all. Thanks!"),
        agent("Is that okay?"),
        caller("Yes."),
    ]);
    assert!(stored.is_empty(), "{stored:?}");
}

#[test]
fn thanks_with_a_form_of_address_or_a_courtesy_are_not_stored() {
    let thanks = [
        "Much obliged.",
        "Thank you kindly.",
        "Thank you, young man.",
        "Thank you, dear. Bye now.",
        "Thanks a lot.",
        "Thanks man.",
        "Sweet, thanks.",
        "Cheers, mate.",
        "Gracias, hasta luego.",
        "Gracias, muy amable.",
        "Grazie. Ciao.",
    ];
    for said in thanks {
        let stored = contents(&[agent("You're all set for Friday at 2:15."), caller(said)]);
        assert!(stored.is_empty(), "{said:?} was stored: {stored:?}");
    }
    let informative = contents(&[
        agent("Who will bring him in?"),
        caller("My dear husband, he drives a lot."),
    ]);
    assert_eq!(informative.len(), 1, "{informative:?}");
}

#[test]
fn consecutive_caller_turns_are_one_answer_keyed_by_the_first() {
    let transcript = [
        agent("Hi, this is Ava. How can I help?"),
        caller("Hi."),
        caller("My kitchen sink is leaking under the cabinet."),
        Turn {
            speaker: Speaker::Agent,
            message: None,
            time_in_call_secs: 9,
        },
        caller("Since yesterday."),
    ];
    let exchanges = exchanges_of(&transcript);
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].first_turn, 1);
    assert_eq!(
        exchanges[0].content,
        "Agent asked: Hi, this is Ava. How can I help? Caller: Hi. My kitchen sink is leaking \
         under the cabinet. Since yesterday."
    );
}

#[test]
fn a_long_agent_turn_keeps_its_last_sentences_without_leading_pleasantries() {
    let long = format!(
        "Sure. {} Our technician can come Tuesday or Thursday. Which day suits you?",
        "We have a lot of availability this month and the team is fully certified. ".repeat(4)
    );
    let stored = contents(&[agent(&long), caller("Thursday, please.")]);
    assert_eq!(
        stored,
        [
            "Agent asked: We have a lot of availability this month and the team is fully \
          certified. Our technician can come Tuesday or Thursday. Which day suits you? \
          Caller: Thursday, please."
        ]
    );
    let wordy = contents(&[agent(&"word ".repeat(100)), caller("Thursday.")]);
    assert!(wordy[0].starts_with("Agent said: …word word"));
    assert!(wordy[0].chars().count() < CONTEXT_CHARS + 40);
}

#[test]
fn an_answer_before_the_agent_speaks_stands_alone_and_said_is_used_for_statements() {
    let stored = contents(&[
        caller("Hello? I need a refill of my blood pressure pills."),
        agent("I can see your prescription for lisinopril."),
        caller("Great, that's the one."),
    ]);
    assert_eq!(
        stored,
        ["Caller: Hello? I need a refill of my blood pressure pills.",]
    );
    let stored = contents(&[
        agent("I can see your prescription for lisinopril."),
        caller("The 20 milligram one."),
    ]);
    assert_eq!(
        stored,
        ["Agent said: I can see your prescription for lisinopril. Caller: The 20 milligram one."]
    );
}

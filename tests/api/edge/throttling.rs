//! Failed-authentication throttling: a peer that keeps guessing is refused for a while, once
//! logged, while ElevenLabs from its own address is served.

use super::*;

const GUESSER: [u8; 4] = [127, 0, 0, 5];
const ELEVENLABS: [u8; 4] = [127, 0, 0, 2];

#[tokio::test]
async fn a_peer_that_keeps_guessing_is_refused_for_a_while_and_elevenlabs_is_not() {
    let edge = Edge::start(&[("AUTH_FAILURE_LIMIT", "3"), ("AUTH_LOCKOUT_SECS", "120")]);
    let guesser = edge.client_from(GUESSER);
    let body = transcription("conv_guessed");

    // Wrong signatures and wrong keys count alike.
    assert_eq!(guesser.forge(&body).await.status(), 401);
    assert_eq!(guesser.ring("not-the-key").await.status(), 401);
    assert_eq!(guesser.forge(&body).await.status(), 401);
    for _ in 0..20 {
        let refused = guesser.forge(&body).await;
        assert_eq!(refused.status(), 429);
        let retry_after: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1..=120).contains(&retry_after),
            "Retry-After {retry_after}"
        );
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["error"], "too_many_failures");
    }
    // Even the right secret no longer helps the guesser for now.
    assert_eq!(guesser.deliver(&body).await.status(), 429);
    assert_eq!(guesser.ring(DEV_CLIENT_DATA_KEY).await.status(), 429);
    assert!(!edge.archived("conv_guessed"));

    let elevenlabs = edge.client_from(ELEVENLABS);
    let genuine = elevenlabs.deliver(&transcription("conv_genuine")).await;
    assert_eq!(genuine.status(), 200);
    assert!(edge.archived("conv_genuine"));
    assert_eq!(elevenlabs.ring(DEV_CLIENT_DATA_KEY).await.status(), 200);

    let logs = edge.logs();
    assert_eq!(
        logs.matches("peer refused for a while after repeated failed authentications")
            .count(),
        1,
        "one line for the lockout, none for each refused request"
    );
    assert!(logs.contains("127.0.0.5"));
}

#[tokio::test]
async fn behind_a_trusted_proxy_failures_count_against_the_forwarded_client() {
    let edge = Edge::start(&[
        ("AUTH_FAILURE_LIMIT", "2"),
        ("TRUSTED_PROXIES", "127.0.0.3"),
    ]);
    let proxy = edge.client_from([127, 0, 0, 3]);
    let body = transcription("conv_proxied");
    let guessing = [("x-forwarded-for", "198.51.100.7")];
    for _ in 0..2 {
        let response = proxy
            .post("/webhook/post-call", body.clone(), &guessing)
            .header("elevenlabs-signature", forged_signature())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    assert_eq!(proxy.deliver_with(&body, &guessing).await.status(), 429);
    // Every other client of the same proxy is still served.
    let genuine = proxy
        .deliver_with(
            &transcription("conv_other_client"),
            &[("x-forwarded-for", "34.67.146.145")],
        )
        .await;
    assert_eq!(genuine.status(), 200);
}

//! `ALLOWED_SOURCE_IPS` and `TRUSTED_PROXIES`: strangers are refused before their body is read,
//! and a forwarding header counts only when a trusted proxy sent it.

use super::*;

const ELEVENLABS: [u8; 4] = [127, 0, 0, 2];
const PROXY: [u8; 4] = [127, 0, 0, 3];
const STRANGER: [u8; 4] = [127, 0, 0, 9];

fn allowlisted() -> Edge {
    Edge::start(&[
        ("ALLOWED_SOURCE_IPS", "127.0.0.2/32"),
        ("TRUSTED_PROXIES", "127.0.0.3"),
    ])
}

#[tokio::test]
async fn a_stranger_spoofing_x_forwarded_for_is_refused_while_elevenlabs_gets_in() {
    let edge = allowlisted();
    let stranger = edge.client_from(STRANGER);

    for header in ["x-forwarded-for", "forwarded"] {
        let spoofed = if header == "forwarded" {
            "for=127.0.0.2"
        } else {
            "127.0.0.2"
        };
        let body = transcription("conv_spoofed");
        let refused = stranger.deliver_with(&body, &[(header, spoofed)]).await;
        assert_eq!(refused.status(), 403, "{header}");
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["error"], "forbidden");
    }
    let refused = stranger.ring(DEV_CLIENT_DATA_KEY).await;
    assert_eq!(refused.status(), 403);
    assert!(!edge.archived("conv_spoofed"));

    let genuine = edge
        .client_from(ELEVENLABS)
        .deliver(&transcription("conv_genuine"))
        .await;
    assert_eq!(genuine.status(), 200, "{}", genuine.text().await.unwrap());
    assert!(edge.archived("conv_genuine"));
    assert_eq!(
        edge.client_from(ELEVENLABS)
            .ring(DEV_CLIENT_DATA_KEY)
            .await
            .status(),
        200
    );

    // Probes stay open to load balancers, whatever their address.
    let health = stranger
        .client
        .get(edge.service.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(edge.logs().contains("outside ALLOWED_SOURCE_IPS"));
}

#[tokio::test]
async fn the_stranger_is_refused_before_its_body_is_read() {
    let edge = allowlisted();
    let mut stream = connect_from(STRANGER, edge.socket_address()).await;
    // A 200 MB body is announced and none of it is sent: the answer comes anyway.
    send(
        &mut stream,
        forged_head("content-length: 200000000").as_bytes(),
    )
    .await;
    let answer = read_answer(&mut stream).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.body["error"], "forbidden");
    assert_eq!(files_in(&edge.staging()), 0, "nothing was staged");
}

#[tokio::test]
async fn behind_the_trusted_proxy_the_client_it_names_is_checked() {
    let edge = allowlisted();
    let proxy = edge.client_from(PROXY);

    // The proxy forwards ElevenLabs: let in.
    let forwarded = proxy
        .deliver_with(
            &transcription("conv_forwarded"),
            &[("x-forwarded-for", "127.0.0.2")],
        )
        .await;
    assert_eq!(
        forwarded.status(),
        200,
        "{}",
        forwarded.text().await.unwrap()
    );
    assert!(edge.archived("conv_forwarded"));
    let rfc7239 = proxy
        .deliver_with(
            &transcription("conv_rfc7239"),
            &[("forwarded", "for=\"127.0.0.2:4711\"")],
        )
        .await;
    assert_eq!(rfc7239.status(), 200);

    // A stranger wrote ElevenLabs' address itself; the proxy appended the stranger's.
    let spoofed = proxy
        .deliver_with(
            &transcription("conv_through_proxy"),
            &[("x-forwarded-for", "127.0.0.2, 127.0.0.9")],
        )
        .await;
    assert_eq!(spoofed.status(), 403);
    // The proxy itself is not a webhook sender.
    let direct = proxy.deliver(&transcription("conv_from_proxy")).await;
    assert_eq!(direct.status(), 403);
    assert!(!edge.archived("conv_through_proxy") && !edge.archived("conv_from_proxy"));
}

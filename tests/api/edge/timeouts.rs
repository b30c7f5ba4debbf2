//! Deadlines at the edge: request headers must come in time, a body must keep flowing, and
//! connections are capped; a slow but steady upload still gets through.

use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;
use tokio::net::tcp::OwnedReadHalf;
use tokio::task::JoinHandle;

use super::*;

const ATTACKER: [u8; 4] = [127, 0, 0, 6];
const ELEVENLABS: [u8; 4] = [127, 0, 0, 2];

/// A connection that sends a request line, then one header line every 200 ms, for ever.
async fn slow_headers(edge: &Edge) -> (OwnedReadHalf, JoinHandle<()>) {
    let stream = connect_from(ATTACKER, edge.socket_address()).await;
    let (reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        let _ = writer
            .write_all(b"POST /webhook/client-data HTTP/1.1\r\n")
            .await;
        for line in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let header = format!("x-line-{line}: a\r\n");
            if writer.write_all(header.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    (reader, trickle)
}

#[tokio::test]
async fn headers_sent_a_line_at_a_time_are_cut_off_while_rings_are_answered() {
    let edge = Edge::start(&[("HEADER_READ_TIMEOUT_MS", "1000")]);
    let mut attackers = Vec::new();
    for _ in 0..5 {
        attackers.push(slow_headers(&edge).await);
    }
    // And one that connects and says nothing at all.
    let mut silent = connect_from(ATTACKER, edge.socket_address()).await;

    let elevenlabs = edge.client_from(ELEVENLABS);
    let ring = elevenlabs.ring(DEV_CLIENT_DATA_KEY).await;
    assert_eq!(ring.status(), 200);
    let genuine = elevenlabs
        .deliver(&transcription("conv_during_slowloris"))
        .await;
    assert_eq!(genuine.status(), 200);

    for (reader, trickle) in &mut attackers {
        closed_by_server(reader).await;
        trickle.abort();
    }
    closed_by_server(&mut silent).await;
    assert!(edge.archived("conv_during_slowloris"));
}

#[tokio::test]
async fn at_the_connection_limit_an_idle_stranger_makes_room_for_a_genuine_sender() {
    // Headers may take a minute here: only the limit can free a connection.
    let edge = Edge::start(&[
        ("MAX_CONNECTIONS", "8"),
        ("HEADER_READ_TIMEOUT_MS", "60000"),
    ]);
    let mut attackers = Vec::new();
    for _ in 0..8 {
        attackers.push(slow_headers(&edge).await);
    }
    let elevenlabs = edge.client_from(ELEVENLABS);
    for conversation in ["conv_at_limit_1", "conv_at_limit_2"] {
        // A fresh client: a new connection each time.
        let response = edge
            .client_from(ELEVENLABS)
            .deliver(&transcription(conversation))
            .await;
        assert_eq!(response.status(), 200);
        assert!(edge.archived(conversation));
    }
    assert_eq!(elevenlabs.ring(DEV_CLIENT_DATA_KEY).await.status(), 200);
    // The longest-idle strangers were closed to make room.
    let (first, _) = &mut attackers[0];
    closed_by_server(first).await;
    assert!(edge
        .logs()
        .contains("connection limit reached (MAX_CONNECTIONS)"));
    for (_, trickle) in attackers {
        trickle.abort();
    }
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_leaves_nothing_staged() {
    let edge = Edge::start(&[("BODY_STALL_TIMEOUT_MS", "1000")]);
    let mut stalled = connect_from(ATTACKER, edge.socket_address()).await;
    send(
        &mut stalled,
        forged_head("transfer-encoding: chunked").as_bytes(),
    )
    .await;
    let chunk = format!("2800\r\n{}\r\n", "x".repeat(0x2800));
    send(&mut stalled, chunk.as_bytes()).await;
    until("the stalled body is staged", || {
        files_in(&edge.staging()) == 1
    })
    .await;

    let genuine = edge
        .client_from(ELEVENLABS)
        .deliver(&transcription("conv_during_stall"))
        .await;
    assert_eq!(genuine.status(), 200);
    assert!(edge.archived("conv_during_stall"));

    let answer = read_answer(&mut stalled).await;
    assert_eq!(answer.status, 408);
    assert_eq!(answer.body["error"], "request_timeout");
    until("the stalled body is removed", || {
        files_in(&edge.staging()) == 0
    })
    .await;

    // A small webhook whose body never comes is dropped the same way.
    let mut small = connect_from(ATTACKER, edge.socket_address()).await;
    let head = format!(
        "POST /webhook/client-data HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\n\
         x-api-key: {DEV_CLIENT_DATA_KEY}\r\ncontent-length: 200\r\n\r\n{{\"caller_id\""
    );
    send(&mut small, head.as_bytes()).await;
    let answer = read_answer(&mut small).await;
    assert_eq!(answer.status, 408);
    assert_eq!(answer.body["error"], "request_timeout");
}

#[tokio::test]
async fn a_slow_steady_upload_outlasting_every_deadline_is_stored_whole() {
    // Scaled down from 100 MB at 10 Mbit/s: 3 s of 20 KB pieces every 100 ms, six times both
    // deadlines, each gap far inside the stall deadline.
    let edge = Edge::start(&[
        ("HEADER_READ_TIMEOUT_MS", "500"),
        ("BODY_STALL_TIMEOUT_MS", "500"),
    ]);
    let audio: Vec<u8> = (0..450_000u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let body = json!({"type": "post_call_audio",
        "data": {"agent_id": "agent_1", "conversation_id": "conv_slow_audio",
                 "full_audio": base64::engine::general_purpose::STANDARD.encode(&audio)}})
    .to_string()
    .into_bytes();
    let pieces: Vec<Bytes> = body.chunks(20_000).map(Bytes::copy_from_slice).collect();
    assert!(pieces.len() >= 30);
    let trickle = futures_util::stream::iter(pieces).then(|piece| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, std::io::Error>(piece)
    });
    let started = Instant::now();
    let response = edge
        .client_from(ELEVENLABS)
        .deliver_streamed(&body, reqwest::Body::wrap_stream(trickle))
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "the upload was not slow"
    );
    let stored = std::fs::read(
        edge.payloads()
            .join("conv_slow_audio/conv_slow_audio_audio.mp3"),
    )
    .unwrap();
    assert!(
        stored == audio,
        "the stored audio differs from the one sent"
    );
}

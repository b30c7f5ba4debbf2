//! `MAX_UNVERIFIED_BYTES`: fake uploads cannot fill the disk, and a genuine transcription is
//! stored while they hold the whole budget.

use super::*;
use crate::helpers::bytes_in;

const ATTACKER: [u8; 4] = [127, 0, 0, 7];
const ELEVENLABS: [u8; 4] = [127, 0, 0, 2];
/// 1 MiB bodies, 2 MiB in flight: 512 KiB of it kept for bodies up to 32 KiB.
const LIMITS: &[(&str, &str)] = &[
    ("MAX_BODY_BYTES", "1048576"),
    ("MAX_UNVERIFIED_BYTES", "2097152"),
];

/// A forged upload that announces `length` bytes and sends `sent` of them, then waits.
async fn hold(edge: &Edge, length: usize, sent: usize) -> TcpStream {
    let mut stream = connect_from(ATTACKER, edge.socket_address()).await;
    send(
        &mut stream,
        forged_head(&format!("content-length: {length}")).as_bytes(),
    )
    .await;
    send(&mut stream, &vec![b' '; sent]).await;
    stream
}

/// Two forged uploads of 750,000 bytes, each having sent `sent`, staged: 1.5 MB held.
async fn two_holding_the_budget(edge: &Edge, sent: usize) -> (TcpStream, TcpStream) {
    let first = hold(edge, 750_000, sent).await;
    let second = hold(edge, 750_000, sent).await;
    until("both fake uploads are staged", || {
        files_in(&edge.staging()) == 2
    })
    .await;
    (first, second)
}

#[tokio::test]
async fn fake_uploads_holding_the_budget_get_no_more_disk_and_a_transcription_still_gets_in() {
    let edge = Edge::start(LIMITS);
    let (first, second) = two_holding_the_budget(&edge, 300_000).await;

    // A third large one does not fit: refused at once, before its body is read.
    let mut third = hold(&edge, 750_000, 0).await;
    let answer = read_answer(&mut third).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after").as_deref(), Some("30"));
    assert_eq!(answer.body["error"], "unavailable");
    assert_eq!(
        files_in(&edge.staging()),
        2,
        "the refused upload used no disk"
    );

    // A medium body cannot take the room kept for small ones either.
    let medium = edge
        .client_from(ELEVENLABS)
        .deliver(&vec![b' '; 100_000])
        .await;
    assert_eq!(medium.status(), 503);

    // The genuine transcription (12 KB, signed) fits in the room kept for small bodies.
    let genuine = edge
        .client_from(ELEVENLABS)
        .deliver(&transcription("conv_during_flood"))
        .await;
    assert_eq!(genuine.status(), 200, "{}", genuine.text().await.unwrap());
    assert!(edge.archived("conv_during_flood"));
    assert!(bytes_in(&edge.staging()) <= 2_097_152);

    // Once the fakes are refused for their signature, their budget is free again.
    for mut fake in [first, second] {
        send(&mut fake, &vec![b' '; 450_000]).await;
        assert_eq!(read_answer(&mut fake).await.status, 401);
    }
    until("the fake bodies are removed", || {
        files_in(&edge.staging()) == 0
    })
    .await;
    let mut again = hold(&edge, 750_000, 750_000).await;
    assert_eq!(read_answer(&mut again).await.status, 401);
    assert!(edge
        .logs()
        .contains("MAX_UNVERIFIED_BYTES are being received"));
}

#[tokio::test]
async fn a_chunked_fake_upload_past_the_budget_is_refused_and_a_chunked_transcription_gets_in() {
    let edge = Edge::start(LIMITS);
    let _holding = two_holding_the_budget(&edge, 0).await;

    // 72 KB are left for large bodies: 100 KB sent without a length does not fit.
    let mut chunked = connect_from(ATTACKER, edge.socket_address()).await;
    send(
        &mut chunked,
        forged_head("transfer-encoding: chunked").as_bytes(),
    )
    .await;
    let chunk = format!("{:x}\r\n{}\r\n", 100_000, " ".repeat(100_000));
    send(&mut chunked, chunk.as_bytes()).await;
    let answer = read_answer(&mut chunked).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after").as_deref(), Some("30"));
    until("the refused body is removed", || {
        files_in(&edge.staging()) == 2
    })
    .await;

    let body = transcription("conv_chunked_during_flood");
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(4_096).map(|piece| Ok(piece.to_vec())).collect();
    let genuine = edge
        .client_from(ELEVENLABS)
        .deliver_streamed(
            &body,
            reqwest::Body::wrap_stream(futures_util::stream::iter(pieces)),
        )
        .await;
    assert_eq!(genuine.status(), 200, "{}", genuine.text().await.unwrap());
    assert!(edge.archived("conv_chunked_during_flood"));
}

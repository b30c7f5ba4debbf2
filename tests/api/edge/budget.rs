//! `MAX_UNVERIFIED_BYTES`: fake uploads cannot fill the disk, and a genuine transcription is
//! stored while they hold the whole budget.

use super::*;

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

#[tokio::test]
async fn fake_uploads_holding_the_budget_get_no_more_disk_and_a_transcription_still_gets_in() {
    let edge = Edge::start(LIMITS);
    let first = hold(&edge, 750_000, 300_000).await;
    let second = hold(&edge, 750_000, 300_000).await;
    until("both fake uploads are staged", || {
        files_in(&edge.staging()) == 2
    })
    .await;

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
async fn chunked_fake_uploads_never_stage_more_than_the_budget() {
    let edge = Edge::start(LIMITS);
    let mut uploads = Vec::new();
    for _ in 0..6 {
        let mut stream = connect_from(ATTACKER, edge.socket_address()).await;
        send(
            &mut stream,
            forged_head("transfer-encoding: chunked").as_bytes(),
        )
        .await;
        uploads.push(stream);
    }
    // 900 KB each in 16 KB chunks, all at once: 5.4 MB offered against a 2 MiB budget.
    let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
    let mut most_staged = 0;
    for _ in 0..55 {
        for upload in &mut uploads {
            let _ = upload.write_all(chunk.as_bytes()).await;
        }
        most_staged = most_staged.max(bytes_in(&edge.staging()));
    }
    let genuine = edge
        .client_from(ELEVENLABS)
        .deliver(&transcription("conv_during_chunked_flood"))
        .await;
    assert_eq!(genuine.status(), 200);
    assert!(edge.archived("conv_during_chunked_flood"));
    assert!(most_staged <= 2_097_152, "{most_staged} bytes staged");
    drop(uploads);
    until("the fake bodies are removed", || {
        files_in(&edge.staging()) == 0
    })
    .await;
}

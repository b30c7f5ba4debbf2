//! One suite of behaviour every `BlobStore` must show, run against each implementation: the
//! local-disk store in a temporary folder, the bucket store against a real S3-protocol server
//! (moto, with its conditional writes), and the in-memory test double.

use std::any::Any;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use caller_memory::core::ports::{BlobKey, BlobStore, BlobStoreError, ByteStream, PutCondition};
use caller_memory::outbound::disk_blob_store::DiskBlobStore;
use caller_memory::test_doubles::InMemoryBlobStore;
use futures_util::{stream, StreamExt};

use crate::support::s3_server::{fresh_prefix, s3_server};

/// A store under test, and whatever must live as long as it (a temporary folder).
pub struct Subject {
    store: Arc<dyn BlobStore>,
    _keep_alive: Box<dyn Any + Send>,
}

async fn disk() -> Subject {
    let folder = tempfile::tempdir().expect("a temporary folder");
    Subject {
        store: Arc::new(DiskBlobStore::new(folder.path().join("payloads"))),
        _keep_alive: Box::new(folder),
    }
}

async fn bucket() -> Subject {
    Subject {
        store: s3_server().fresh_store(),
        _keep_alive: Box::new(()),
    }
}

async fn in_memory() -> Subject {
    Subject {
        store: Arc::new(InMemoryBlobStore::new()),
        _keep_alive: Box::new(()),
    }
}

fn key(raw: &str) -> BlobKey {
    BlobKey::parse(raw).expect("valid key")
}

fn chunks(parts: Vec<io::Result<Bytes>>) -> ByteStream {
    stream::iter(parts).boxed()
}

/// `total` bytes of a recognisable pattern, in pieces of 64 KiB, as a request body arrives.
fn pattern(total: usize) -> Vec<u8> {
    (0..total)
        .map(|n| (n as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect()
}

fn in_pieces(bytes: &[u8]) -> Vec<io::Result<Bytes>> {
    bytes
        .chunks(64 * 1024)
        .map(|piece| Ok(Bytes::copy_from_slice(piece)))
        .collect()
}

/// Larger than one part of a multipart upload (5 MiB), so that a bucket uploads it in parts.
const LARGER_THAN_A_PART: usize = 12 * 1024 * 1024 + 123;

async fn a_stored_object_reads_back_whole_with_its_version(subject: Subject) {
    let store = subject.store;
    let audio = key("conv_1/conv_1_audio.mp3");
    let version = store
        .put(&audio, Bytes::from_static(b"ID3"), PutCondition::Overwrite)
        .await
        .unwrap();
    let blob = store.get(&audio).await.unwrap().expect("stored");
    assert_eq!(blob.bytes, Bytes::from_static(b"ID3"));
    assert_eq!(blob.version, version);
    assert_eq!(store.get(&key("conv_2/x")).await.unwrap(), None);
}

async fn a_streamed_object_is_stored_whole(subject: Subject) {
    let store = subject.store;
    let parts = chunks(vec![
        Ok(Bytes::from_static(b"first,")),
        Ok(Bytes::from_static(b"second")),
    ]);
    let version = store.put_stream(&key("c/c.json"), parts).await.unwrap();
    let blob = store.get(&key("c/c.json")).await.unwrap().unwrap();
    assert_eq!(blob.bytes, Bytes::from_static(b"first,second"));
    assert_eq!(blob.version, version);
    assert_eq!(store.list("").await.unwrap(), [key("c/c.json")]);
}

async fn a_large_streamed_object_is_stored_whole(subject: Subject) {
    let store = subject.store;
    let audio = pattern(LARGER_THAN_A_PART);
    let target = key("c/c_audio.mp3");
    let version = store
        .put_stream(&target, chunks(in_pieces(&audio)))
        .await
        .unwrap();
    let blob = store.get(&target).await.unwrap().unwrap();
    assert!(
        blob.bytes == audio,
        "the stored object differs from the stream"
    );
    assert_eq!(blob.version, version);
    assert_eq!(store.list("").await.unwrap(), [target]);
}

async fn a_failing_source_leaves_no_object(subject: Subject) {
    let store = subject.store;
    let broken = chunks(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(io::Error::new(io::ErrorKind::InvalidData, "bad base64")),
    ]);
    let result = store.put_stream(&key("c/c_audio.mp3"), broken).await;
    assert!(matches!(result, Err(BlobStoreError::Source(_))));
    assert_eq!(store.get(&key("c/c_audio.mp3")).await.unwrap(), None);
    assert!(store.list("").await.unwrap().is_empty());
}

async fn a_source_failing_after_parts_were_sent_leaves_no_object(subject: Subject) {
    let store = subject.store;
    let mut parts = in_pieces(&pattern(LARGER_THAN_A_PART));
    parts.push(Err(io::Error::other("the sender hung up")));
    let result = store.put_stream(&key("c/c_audio.mp3"), chunks(parts)).await;
    assert!(matches!(result, Err(BlobStoreError::Source(_))));
    assert_eq!(store.get(&key("c/c_audio.mp3")).await.unwrap(), None);
    assert!(store.list("").await.unwrap().is_empty());
}

async fn a_failed_stream_keeps_the_previous_object(subject: Subject) {
    let store = subject.store;
    let key = key("c/c.json");
    store
        .put_stream(&key, chunks(vec![Ok(Bytes::from_static(b"old"))]))
        .await
        .unwrap();
    let broken = chunks(vec![
        Ok(Bytes::from_static(b"new")),
        Err(io::Error::other("gone")),
    ]);
    assert!(store.put_stream(&key, broken).await.is_err());
    let blob = store.get(&key).await.unwrap().unwrap();
    assert_eq!(blob.bytes, Bytes::from_static(b"old"));
}

async fn if_absent_refuses_to_replace_an_object(subject: Subject) {
    let store = subject.store;
    let card = key(".state/profiles/14155550123.json");
    let first = Bytes::from_static(b"{}");
    store
        .put(&card, first.clone(), PutCondition::IfAbsent)
        .await
        .unwrap();
    let second = store
        .put(&card, Bytes::from_static(b"[]"), PutCondition::IfAbsent)
        .await;
    assert!(matches!(second, Err(BlobStoreError::ConditionFailed)));
    assert_eq!(store.get(&card).await.unwrap().unwrap().bytes, first);
}

async fn if_version_refuses_a_stale_version(subject: Subject) {
    let store = subject.store;
    let card = key("card.json");
    let v1 = store
        .put(&card, Bytes::from_static(b"1"), PutCondition::Overwrite)
        .await
        .unwrap();
    let v2 = store
        .put(
            &card,
            Bytes::from_static(b"2"),
            PutCondition::IfVersion(v1.clone()),
        )
        .await
        .unwrap();
    let stale = store
        .put(&card, Bytes::from_static(b"3"), PutCondition::IfVersion(v1))
        .await;
    assert!(matches!(stale, Err(BlobStoreError::ConditionFailed)));
    let stored = store.get(&card).await.unwrap().unwrap();
    assert_eq!(
        (stored.bytes, stored.version),
        (Bytes::from_static(b"2"), v2.clone())
    );
    let missing = store
        .put(&key("none"), Bytes::new(), PutCondition::IfVersion(v2))
        .await;
    assert!(matches!(missing, Err(BlobStoreError::ConditionFailed)));
}

/// Runs 16 conditional puts of different content at once; returns how many succeeded, and
/// checks that every other one was told the condition failed.
async fn successes_of_concurrent_puts(
    store: &Arc<dyn BlobStore>,
    key: &BlobKey,
    condition: PutCondition,
) -> usize {
    let attempts: Vec<_> = (0..16)
        .map(|attempt| {
            let (store, key, condition) = (store.clone(), key.clone(), condition.clone());
            tokio::spawn(async move {
                let bytes = Bytes::from(format!("update {attempt}"));
                store.put(&key, bytes, condition).await
            })
        })
        .collect();
    let mut successes = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => successes += 1,
            Err(BlobStoreError::ConditionFailed) => {}
            Err(other) => panic!("a racing put failed otherwise: {other}"),
        }
    }
    successes
}

async fn concurrent_conditional_updates_from_one_version_let_exactly_one_win(subject: Subject) {
    let store = subject.store;
    let card = key("card.json");
    let base = store
        .put(&card, Bytes::from_static(b"0"), PutCondition::Overwrite)
        .await
        .unwrap();
    let winners = successes_of_concurrent_puts(&store, &card, PutCondition::IfVersion(base)).await;
    assert_eq!(winners, 1);
}

async fn concurrent_creations_let_exactly_one_win(subject: Subject) {
    let winners =
        successes_of_concurrent_puts(&subject.store, &key("k"), PutCondition::IfAbsent).await;
    assert_eq!(winners, 1);
}

async fn listing_returns_sorted_keys_by_prefix(subject: Subject) {
    let store = subject.store;
    for raw in [
        "b/b_audio.mp3",
        "a/a_transcription.json",
        "a/a_audio.mp3",
        "ab/x",
        ".state/pending/a.json",
    ] {
        store
            .put(&key(raw), Bytes::new(), PutCondition::Overwrite)
            .await
            .unwrap();
    }
    let all: Vec<String> = store
        .list("")
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        all,
        [
            ".state/pending/a.json",
            "a/a_audio.mp3",
            "a/a_transcription.json",
            "ab/x",
            "b/b_audio.mp3"
        ]
    );
    assert_eq!(
        store.list("a/").await.unwrap(),
        [key("a/a_audio.mp3"), key("a/a_transcription.json")]
    );
    assert_eq!(
        store.list("a/a_t").await.unwrap(),
        [key("a/a_transcription.json")]
    );
    assert_eq!(store.list("a").await.unwrap().len(), 3);
    assert_eq!(
        store.list(".state/pending/").await.unwrap(),
        [key(".state/pending/a.json")]
    );
    assert!(store.list("../").await.unwrap().is_empty());
    assert!(store.list("missing/").await.unwrap().is_empty());
}

async fn deleting_removes_the_object_and_a_missing_object_is_fine(subject: Subject) {
    let store = subject.store;
    let gone = key("c/c.json");
    store
        .put(&gone, Bytes::from_static(b"x"), PutCondition::Overwrite)
        .await
        .unwrap();
    store.delete(&gone).await.unwrap();
    assert_eq!(store.get(&gone).await.unwrap(), None);
    store.delete(&gone).await.unwrap();
    assert!(store.list("").await.unwrap().is_empty());
}

async fn the_check_passes_and_leaves_no_object(subject: Subject) {
    let store = subject.store;
    store.check().await.unwrap();
    assert!(store.list("").await.unwrap().is_empty());
}

macro_rules! conformance_suite {
    ($subject:ident) => {
        mod $subject {
            conformance_suite!(@checks $subject:
                a_stored_object_reads_back_whole_with_its_version,
                a_streamed_object_is_stored_whole,
                a_large_streamed_object_is_stored_whole,
                a_failing_source_leaves_no_object,
                a_source_failing_after_parts_were_sent_leaves_no_object,
                a_failed_stream_keeps_the_previous_object,
                if_absent_refuses_to_replace_an_object,
                if_version_refuses_a_stale_version,
                concurrent_conditional_updates_from_one_version_let_exactly_one_win,
                concurrent_creations_let_exactly_one_win,
                listing_returns_sorted_keys_by_prefix,
                deleting_removes_the_object_and_a_missing_object_is_fine,
                the_check_passes_and_leaves_no_object,
            );
        }
    };
    (@checks $subject:ident: $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                super::$check(super::$subject().await).await;
            }
        )+
    };
}

conformance_suite!(disk);
conformance_suite!(bucket);
conformance_suite!(in_memory);

/// In a bucket, parts already sent by a stream that then fails are aborted, not left to a
/// lifecycle rule; the listing of unfinished uploads shows the upload while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_to_a_bucket_leaves_no_parts_behind() {
    let server = s3_server();
    let prefix = fresh_prefix();
    let store = server.store_at(&prefix);
    let (sender, receiver) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|piece| (piece, receiver))
    });
    let upload = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .put_stream(&key("c/c_audio.mp3"), stream.boxed())
                .await
        }
    });
    for piece in in_pieces(&pattern(LARGER_THAN_A_PART)) {
        sender.send(piece).await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.unfinished_uploads(&prefix).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    sender
        .send(Err(io::Error::other("the sender hung up")))
        .await
        .unwrap();

    let result = upload.await.unwrap();
    assert!(matches!(result, Err(BlobStoreError::Source(_))));
    assert_eq!(server.unfinished_uploads(&prefix).await, 0);
    assert!(store.list("").await.unwrap().is_empty());
}

use std::sync::Arc;

use futures_util::stream;

use super::*;
use crate::core::ports::ErrorChain;

fn key(raw: &str) -> BlobKey {
    BlobKey::parse(raw).expect("valid key")
}

fn store() -> (tempfile::TempDir, Arc<DiskBlobStore>) {
    let root = tempfile::tempdir().expect("temporary folder");
    let store = Arc::new(DiskBlobStore::new(root.path().join("payloads")));
    (root, store)
}

fn chunks(parts: Vec<io::Result<&'static [u8]>>) -> ByteStream {
    stream::iter(parts.into_iter().map(|part| part.map(Bytes::from_static))).boxed()
}

/// Every file under `root`, relative, so that leftovers of any kind are visible.
fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                pending.push(entry.path());
            } else {
                let relative = entry.path().strip_prefix(root).unwrap().to_owned();
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

/// Runs 16 conditional puts of different content at once; returns how many succeeded.
async fn successes_of_concurrent_puts(
    store: &Arc<DiskBlobStore>,
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
        successes += usize::from(attempt.await.unwrap().is_ok());
    }
    successes
}

#[tokio::test]
async fn a_stored_object_reads_back_whole_with_its_version() {
    let (_root, store) = store();
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

#[tokio::test]
async fn a_streamed_object_is_stored_whole_under_its_key_only() {
    let (root, store) = store();
    let parts = chunks(vec![Ok(b"first,"), Ok(b"second")]);
    let version = store.put_stream(&key("c/c.json"), parts).await.unwrap();
    let blob = store.get(&key("c/c.json")).await.unwrap().unwrap();
    assert_eq!(blob.bytes, Bytes::from_static(b"first,second"));
    assert_eq!(blob.version, version);
    assert_eq!(files_under(root.path()), ["payloads/c/c.json"]);
}

#[tokio::test]
async fn a_failing_source_leaves_neither_the_object_nor_a_temporary_file() {
    let (root, store) = store();
    let broken = chunks(vec![
        Ok(b"partial"),
        Err(io::Error::new(io::ErrorKind::InvalidData, "bad base64")),
    ]);
    let result = store.put_stream(&key("c/c_audio.mp3"), broken).await;
    assert!(matches!(result, Err(BlobStoreError::Source(_))));
    assert_eq!(store.get(&key("c/c_audio.mp3")).await.unwrap(), None);
    assert!(files_under(root.path()).is_empty());
}

#[tokio::test]
async fn a_failed_stream_keeps_the_previous_object() {
    let (_root, store) = store();
    let key = key("c/c.json");
    store
        .put_stream(&key, chunks(vec![Ok(b"old")]))
        .await
        .unwrap();
    let broken = chunks(vec![Ok(b"new"), Err(io::Error::other("gone"))]);
    assert!(store.put_stream(&key, broken).await.is_err());
    let blob = store.get(&key).await.unwrap().unwrap();
    assert_eq!(blob.bytes, Bytes::from_static(b"old"));
}

#[tokio::test]
async fn if_absent_refuses_to_replace_an_object() {
    let (_root, store) = store();
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

#[tokio::test]
async fn if_version_refuses_a_stale_version() {
    let (_root, store) = store();
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
    assert_eq!(store.get(&card).await.unwrap().unwrap().version, v2);
    let missing = store
        .put(&key("none"), Bytes::new(), PutCondition::IfVersion(v2))
        .await;
    assert!(matches!(missing, Err(BlobStoreError::ConditionFailed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conditional_updates_from_one_version_let_exactly_one_win() {
    let (_root, store) = store();
    let card = key("card.json");
    let base = store
        .put(&card, Bytes::from_static(b"0"), PutCondition::Overwrite)
        .await
        .unwrap();
    let winners = successes_of_concurrent_puts(&store, &card, PutCondition::IfVersion(base)).await;
    assert_eq!(winners, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creations_let_exactly_one_win() {
    let (_root, store) = store();
    let winners = successes_of_concurrent_puts(&store, &key("k"), PutCondition::IfAbsent).await;
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn listing_returns_sorted_keys_by_prefix_and_skips_temporary_files() {
    let (root, store) = store();
    for raw in [
        "b/b_audio.mp3",
        "a/a_transcription.json",
        "a/a_audio.mp3",
        "ab/x",
    ] {
        store
            .put(&key(raw), Bytes::new(), PutCondition::Overwrite)
            .await
            .unwrap();
    }
    std::fs::write(root.path().join("payloads/a/a_audio.mp3~1234.tmp"), b"").unwrap();
    std::fs::create_dir_all(root.path().join("payloads/.staging")).unwrap();
    std::fs::write(root.path().join("payloads/.staging/post-call~1"), b"").unwrap();

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
    assert!(store.list("../").await.unwrap().is_empty());
    assert!(store.list("missing/").await.unwrap().is_empty());
}

#[tokio::test]
async fn deleting_removes_the_object_and_a_missing_object_is_fine() {
    let (_root, store) = store();
    let gone = key("c/c.json");
    store
        .put(&gone, Bytes::from_static(b"x"), PutCondition::Overwrite)
        .await
        .unwrap();
    store.delete(&gone).await.unwrap();
    assert_eq!(store.get(&gone).await.unwrap(), None);
    store.delete(&gone).await.unwrap();
}

#[tokio::test]
async fn an_unusable_root_is_reported_as_a_storage_failure() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("not-a-folder");
    std::fs::write(&file, b"").unwrap();
    let store = DiskBlobStore::new(file.join("payloads"));
    assert!(matches!(
        store.check().await,
        Err(BlobStoreError::Storage(_))
    ));
    let put = store
        .put(&key("k"), Bytes::new(), PutCondition::Overwrite)
        .await;
    assert!(matches!(put, Err(BlobStoreError::Storage(_))));
    let streamed = store.put_stream(&key("k"), chunks(vec![Ok(b"x")])).await;
    assert!(matches!(streamed, Err(BlobStoreError::Storage(_))));
}

#[tokio::test]
async fn a_storage_failure_keeps_the_file_system_error_as_its_cause() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("not-a-folder");
    std::fs::write(&file, b"").unwrap();
    let store = DiskBlobStore::new(file.join("payloads"));
    let error = store
        .put(&key("k"), Bytes::new(), PutCondition::Overwrite)
        .await
        .unwrap_err();
    let mut causes =
        std::iter::successors(std::error::Error::source(&error), |cause| cause.source());
    let io_error = causes
        .find_map(|cause| cause.downcast_ref::<std::io::Error>())
        .expect("no I/O error among the causes");
    let logged = ErrorChain(&error).to_string();
    assert!(logged.contains(&io_error.to_string()), "{logged}");
    assert!(logged.contains("not-a-folder"), "{logged}");
}

#[tokio::test]
async fn a_usable_root_passes_the_check_and_keeps_no_probe() {
    let (root, store) = store();
    store.check().await.unwrap();
    assert!(files_under(root.path()).is_empty());
}

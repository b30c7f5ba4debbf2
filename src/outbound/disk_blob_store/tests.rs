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

/// The rest of the listing rules are in the blob store conformance suite (tests/api).
#[tokio::test]
async fn listing_skips_temporary_and_staging_files() {
    let (root, store) = store();
    for raw in ["a/a_audio.mp3", "b/b_audio.mp3"] {
        store
            .put(&key(raw), Bytes::new(), PutCondition::Overwrite)
            .await
            .unwrap();
    }
    std::fs::write(root.path().join("payloads/a/a_audio.mp3~1234.tmp"), b"").unwrap();
    std::fs::create_dir_all(root.path().join("payloads/.staging")).unwrap();
    std::fs::write(root.path().join("payloads/.staging/post-call~1"), b"").unwrap();

    assert_eq!(
        store.list("").await.unwrap(),
        [key("a/a_audio.mp3"), key("b/b_audio.mp3")]
    );
    assert_eq!(store.list("a/").await.unwrap(), [key("a/a_audio.mp3")]);
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

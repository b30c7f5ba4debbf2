//! The bucket blob store: objects in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Ceph,
//! Garage), through the `object_store` crate, so that several instances can share one archive.
//!
//! Every S3 write is atomic by nature: an object appears whole or not at all. Conditional puts
//! are the bucket's own HTTP preconditions (`If-None-Match: *` to create, `If-Match: <ETag>` to
//! update), so two instances racing on a profile card or an ingestion record cannot both win.
//! A version is the object's ETag. Streams go up as a multipart upload with a bounded number of
//! parts in flight, and any failure aborts the upload, so nothing half-written ever becomes an
//! object.

use std::error::Error as StdError;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion, WriteMultipart};

use crate::core::ports::{
    Blob, BlobKey, BlobStore, BlobStoreError, BlobVersion, ByteStream, PutCondition,
};

/// The size of each part of a multipart upload; S3 refuses smaller parts (except the last one).
/// A streamed object no larger than this goes up in one request instead.
const PART_BYTES: usize = 5 * 1024 * 1024;

/// Parts uploaded at once by a streamed put: with the part being filled, at most three parts
/// (15 MiB) of one stream are in memory.
const PARTS_IN_FLIGHT: usize = 2;

/// Where the bucket is, as `BLOB_STORE_URL=s3://bucket/prefix` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketLocation {
    pub bucket: String,
    /// `/`-separated folders every key is stored under; empty for the bucket's root.
    pub prefix: String,
}

/// A [`BlobStore`] in an object store bucket.
#[derive(Debug)]
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    /// Named in errors, such as `s3://bucket/prefix`.
    name: String,
}

impl ObjectBlobStore {
    /// Keys go under `store`'s root; `name` says in errors where that is.
    pub fn new(store: Arc<dyn ObjectStore>, name: impl Into<String>) -> Self {
        Self {
            store,
            name: name.into(),
        }
    }

    /// An S3 bucket: credentials, region and endpoint come from the `AWS_*` environment
    /// variables (as `AmazonS3Builder::from_env` reads them), each overridden by `options`
    /// (pairs such as `("aws_region", "eu-west-1")`, as the configuration gives them).
    ///
    /// # Errors
    /// When an option is unknown or the client cannot be built from them.
    pub fn s3<'a>(
        location: &BucketLocation,
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<Self> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&location.bucket);
        for (key, value) in options {
            let key: AmazonS3ConfigKey = key
                .parse()
                .map_err(|error| anyhow::anyhow!("unknown S3 option {key}: {error}"))?;
            builder = builder.with_config(key, value);
        }
        let bucket: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
        let name = if location.prefix.is_empty() {
            format!("s3://{}", location.bucket)
        } else {
            format!("s3://{}/{}", location.bucket, location.prefix)
        };
        let store: Arc<dyn ObjectStore> = if location.prefix.is_empty() {
            bucket
        } else {
            Arc::new(PrefixStore::new(bucket, location.prefix.as_str()))
        };
        Ok(Self::new(store, name))
    }

    fn storage_error(&self, action: &str, key: &str, error: object_store::Error) -> BlobStoreError {
        BlobStoreError::storage(
            anyhow::Error::new(error).context(format!("cannot {action} {key} in {}", self.name)),
        )
    }

    /// Sends `first` (the stream's beginning, a full part) and the rest of `stream` as a
    /// multipart upload, aborted on any failure.
    async fn upload_in_parts(
        &self,
        key: &BlobKey,
        first: Bytes,
        mut stream: ByteStream,
    ) -> Result<BlobVersion, BlobStoreError> {
        let path = path_of(key);
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|error| self.storage_error("start uploading", key.as_str(), error))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        writer.put(first);
        let failure = loop {
            if let Err(error) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                break self.storage_error("upload", key.as_str(), error);
            }
            match stream.next().await {
                Some(Ok(chunk)) => writer.put(chunk),
                Some(Err(error)) => break BlobStoreError::Source(error),
                None => match writer.wait_for_capacity(0).await {
                    Err(error) => break self.storage_error("upload", key.as_str(), error),
                    // `finish` aborts the upload itself when completing it fails.
                    Ok(()) => {
                        return writer
                            .finish()
                            .await
                            .map_err(|error| {
                                self.storage_error("complete the upload of", key.as_str(), error)
                            })
                            .and_then(|result| self.version_of(key, result.e_tag))
                    }
                },
            }
        };
        if let Err(error) = writer.abort().await {
            tracing::warn!(key = %key, error = %with_causes(&error), "an interrupted upload could not be aborted; the bucket's lifecycle rules must remove its parts");
        }
        Err(failure)
    }

    fn version_of(
        &self,
        key: &BlobKey,
        e_tag: Option<String>,
    ) -> Result<BlobVersion, BlobStoreError> {
        e_tag.map(BlobVersion).ok_or_else(|| {
            BlobStoreError::storage(format!(
                "{} gave no ETag for {key}: conditional updates cannot work without one",
                self.name
            ))
        })
    }
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn put(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        condition: PutCondition,
    ) -> Result<BlobVersion, BlobStoreError> {
        let mode = match condition {
            PutCondition::Overwrite => PutMode::Overwrite,
            PutCondition::IfAbsent => PutMode::Create,
            PutCondition::IfVersion(BlobVersion(e_tag)) => PutMode::Update(UpdateVersion {
                e_tag: Some(e_tag),
                version: None,
            }),
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path_of(key), PutPayload::from(bytes), options)
            .await
        {
            Ok(result) => self.version_of(key, result.e_tag),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(BlobStoreError::ConditionFailed),
            Err(error) => Err(self.storage_error("write", key.as_str(), error)),
        }
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        mut stream: ByteStream,
    ) -> Result<BlobVersion, BlobStoreError> {
        // A small object goes up in one request; a larger one in parts, starting with this one.
        let mut first = BytesMut::new();
        while first.len() < PART_BYTES {
            match stream.next().await {
                Some(chunk) => first.extend_from_slice(&chunk.map_err(BlobStoreError::Source)?),
                None => return self.put(key, first.freeze(), PutCondition::Overwrite).await,
            }
        }
        self.upload_in_parts(key, first.freeze(), stream).await
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, BlobStoreError> {
        let read_error =
            |error: object_store::Error| self.storage_error("read", key.as_str(), error);
        let result = match self.store.get(&path_of(key)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(read_error(error)),
        };
        let e_tag = result.meta.e_tag.clone();
        let bytes = result.bytes().await.map_err(read_error)?;
        Ok(Some(Blob {
            bytes,
            version: self.version_of(key, e_tag)?,
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobKey>, BlobStoreError> {
        // The bucket lists by folder; the port lists by any prefix of the key.
        let folder = match prefix.rsplit_once('/') {
            None => None,
            Some((folder, _)) => match Path::parse(folder) {
                Ok(folder) => Some(folder),
                Err(_) => return Ok(Vec::new()),
            },
        };
        let mut keys: Vec<BlobKey> = self
            .store
            .list(folder.as_ref())
            .map_ok(|meta| meta.location.to_string())
            .try_filter(|location| std::future::ready(location.starts_with(prefix)))
            .try_filter_map(|location| std::future::ready(Ok(BlobKey::parse(&location).ok())))
            .try_collect()
            .await
            .map_err(|error| self.storage_error("list", prefix, error))?;
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        match self.store.delete(&path_of(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(self.storage_error("delete", key.as_str(), error)),
        }
    }

    /// Writes, reads back and removes one small object under a name no key can have, unique to
    /// this check, so that instances checking at once never see each other's probe.
    async fn check(&self) -> Result<(), BlobStoreError> {
        let probe = Path::from(format!(".check/probe~{}", uuid::Uuid::new_v4()));
        let check_error =
            |error: object_store::Error| self.storage_error("check", probe.as_ref(), error);
        let written = Bytes::from_static(b"probe");
        self.store
            .put(&probe, PutPayload::from(written.clone()))
            .await
            .map_err(check_error)?;
        let read_back = match self.store.get(&probe).await {
            Ok(result) => result.bytes().await.map_err(check_error),
            Err(error) => Err(check_error(error)),
        };
        self.store.delete(&probe).await.map_err(check_error)?;
        if read_back? != written {
            return Err(BlobStoreError::storage(format!(
                "{} does not read back what was written",
                self.name
            )));
        }
        Ok(())
    }
}

/// A key's place in the bucket; every [`BlobKey`] is a valid object path.
fn path_of(key: &BlobKey) -> Path {
    Path::from(key.as_str())
}

/// The error and every cause under it, on one line, so that the log says why (the bucket's
/// answer, the connection refused) and not only what failed.
fn with_causes(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

//! Where durable objects live: a local folder (the default) or an S3-compatible bucket that
//! several instances share (`BLOB_STORE_URL`, with the standard `AWS_*` variables).

use std::path::PathBuf;

use crate::config::Secret;

/// The `AWS_*` variables the service reads itself (so that a `.env` file can hold them too),
/// lower case; with a bucket they override what the S3 client reads from the environment, which
/// also covers the rest (web identity, container credentials, instance metadata).
pub const AWS_KEYS: &[&str] = &[
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_region",
    "aws_default_region",
    "aws_endpoint_url",
    "aws_allow_http",
];

/// The validated `BLOB_STORE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobStoreSettings {
    /// One file per object under this folder: `PAYLOAD_STORAGE_PATH` when `BLOB_STORE_URL` is
    /// unset, or the folder of a `file://` URL. One instance only.
    Disk(PathBuf),
    /// An S3-compatible bucket, shared by any number of instances.
    Bucket(BucketSettings),
}

/// `s3://bucket/prefix` and the `AWS_*` values given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSettings {
    pub bucket: String,
    /// Folders every key is stored under, without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// The `AWS_*` variables that were set (lower-case name, value), secrets redacted in logs.
    pub aws: Vec<(&'static str, Secret)>,
}

impl BlobStoreSettings {
    /// The backend's name in metrics and reports: `disk` or `s3`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            BlobStoreSettings::Disk(_) => "disk",
            BlobStoreSettings::Bucket(_) => "s3",
        }
    }
}

impl std::fmt::Display for BlobStoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobStoreSettings::Disk(folder) => write!(f, "{}", folder.display()),
            BlobStoreSettings::Bucket(bucket) if bucket.prefix.is_empty() => {
                write!(f, "s3://{}", bucket.bucket)
            }
            BlobStoreSettings::Bucket(bucket) => {
                write!(f, "s3://{}/{}", bucket.bucket, bucket.prefix)
            }
        }
    }
}

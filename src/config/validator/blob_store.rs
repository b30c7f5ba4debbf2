//! `BLOB_STORE_URL` and, with a bucket, the `AWS_*` variables.

use std::path::Path;

use url::Url;

use super::{probe_writable, Validator};
use crate::config::blob_store::{BlobStoreSettings, BucketSettings, AWS_KEYS};
use crate::config::Secret;
use crate::core::ports::BlobKey;

const EXPECTED: &str = "s3://<bucket>/<prefix> or file:///<folder>";

impl Validator {
    /// The local folder when `BLOB_STORE_URL` is unset, else the place it names.
    pub(in crate::config) fn blob_store(
        &mut self,
        payload_storage_path: &Path,
    ) -> BlobStoreSettings {
        let disk = || BlobStoreSettings::Disk(payload_storage_path.to_path_buf());
        let Some(value) = self.optional("blob_store_url") else {
            return disk();
        };
        let url = match Url::parse(&value) {
            Ok(url) if matches!(url.scheme(), "s3" | "file") => url,
            _ => {
                self.problems
                    .push(format!("BLOB_STORE_URL must be {EXPECTED}, not {value:?}"));
                return disk();
            }
        };
        if url.scheme() == "file" {
            return self
                .blob_folder(&url)
                .map_or_else(disk, BlobStoreSettings::Disk);
        }
        match self.bucket(&url) {
            Some(bucket) => BlobStoreSettings::Bucket(bucket),
            None => disk(),
        }
    }

    fn blob_folder(&mut self, url: &Url) -> Option<std::path::PathBuf> {
        let Ok(folder) = url.to_file_path() else {
            self.problems.push(format!(
                "BLOB_STORE_URL must name an absolute local folder, such as \
                 file:///srv/caller-memory/payloads, not {:?}",
                url.as_str()
            ));
            return None;
        };
        if let Err(error) = probe_writable(&folder) {
            self.problems.push(format!(
                "BLOB_STORE_URL ({}) is not a writable directory: {error}",
                folder.display()
            ));
        }
        Some(folder)
    }

    fn bucket(&mut self, url: &Url) -> Option<BucketSettings> {
        let aws = self.aws_variables();
        let bucket = url.host_str().unwrap_or_default().to_owned();
        if bucket.is_empty() {
            self.problems.push(format!(
                "BLOB_STORE_URL names no bucket: write {EXPECTED}, not {:?}",
                url.as_str()
            ));
            return None;
        }
        if !valid_bucket_name(&bucket) {
            self.problems.push(format!(
                "BLOB_STORE_URL's bucket {bucket:?} is not a bucket name (3 to 63 lowercase \
                 letters, digits, dots and hyphens, starting and ending with a letter or digit)"
            ));
        }
        if !url.username().is_empty()
            || url.password().is_some()
            || url.port().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            self.problems.push(
                "BLOB_STORE_URL takes no credentials, port, query or fragment: give the \
                 credentials and the endpoint in the AWS_* variables"
                    .to_owned(),
            );
        }
        let prefix = url.path().trim_matches('/').to_owned();
        if !prefix.is_empty() && BlobKey::parse(&prefix).is_err() {
            self.problems.push(format!(
                "BLOB_STORE_URL's prefix {prefix:?} may only hold folders of letters, digits, \
                 '.', '_' and '-' separated by '/'"
            ));
        }
        Some(BucketSettings {
            bucket,
            prefix,
            aws,
        })
    }

    /// The `AWS_*` variables that are set, checked where a mistake is certain to fail later.
    fn aws_variables(&mut self) -> Vec<(&'static str, Secret)> {
        let given: Vec<(&'static str, Secret)> = AWS_KEYS
            .iter()
            .filter_map(|key| self.optional(key).map(|value| (*key, Secret::new(value))))
            .collect();
        let is_given = |key: &str| given.iter().any(|(name, _)| *name == key);
        for (present, absent) in [
            ("aws_access_key_id", "aws_secret_access_key"),
            ("aws_secret_access_key", "aws_access_key_id"),
        ] {
            if is_given(present) && !is_given(absent) {
                self.problems.push(format!(
                    "{} is missing: {} is set, and one needs the other",
                    Self::name(absent),
                    Self::name(present)
                ));
            }
        }
        let allow_http = if is_given("aws_allow_http") {
            self.choice("aws_allow_http", &[("true", true), ("false", false)])
                .unwrap_or(false)
        } else {
            false
        };
        if let Some(endpoint) = self.http_url("aws_endpoint_url") {
            if endpoint.scheme() == "http" && !allow_http {
                self.problems.push(format!(
                    "AWS_ENDPOINT_URL ({endpoint}) is plain http: set AWS_ALLOW_HTTP=true to \
                     allow it (for a server on a private network only)"
                ));
            }
        }
        given
    }
}

/// The S3 rules for bucket names, which every S3-compatible server accepts.
fn valid_bucket_name(name: &str) -> bool {
    let edge_ok =
        |byte: Option<&u8>| byte.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge_ok(name.as_bytes().first())
        && edge_ok(name.as_bytes().last())
}

//! A real S3-protocol server for the tests: moto's S3 service, installed once per machine and
//! started once per test process by `scripts/s3-test-server.sh`, with one bucket. Each test
//! takes its own prefix in that bucket, so tests never see each other's objects.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use caller_memory::core::ports::BlobStore;
use caller_memory::outbound::object_blob_store::{BucketLocation, ObjectBlobStore};

/// The bucket every test shares.
pub const BUCKET: &str = "caller-memory-tests";

/// The server of this test process; it stops when the process ends (its standard input closes).
pub struct S3Server {
    pub endpoint: String,
    _process: Mutex<(Child, ChildStdin)>,
}

/// The server, started on first use.
///
/// # Panics
/// When it cannot be installed or started (python3 with venv and pip, and PyPI, are needed).
pub fn s3_server() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(start)
}

fn start() -> S3Server {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(root.join("scripts/s3-test-server.sh"))
        .arg(BUCKET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("scripts/s3-test-server.sh cannot be started");
    let stdin = child.stdin.take().expect("the server's input");
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().expect("the server's output"))
        .read_line(&mut first_line)
        .expect("the server's first line");
    let endpoint = first_line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the S3 test server did not start: {first_line:?}"))
        .to_owned();
    S3Server {
        endpoint,
        _process: Mutex::new((child, stdin)),
    }
}

impl S3Server {
    /// The `AWS_*` variables that reach this server, as the service reads them.
    pub fn aws_variables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }

    /// How many multipart uploads under `prefix` are started and neither completed nor aborted.
    pub async fn unfinished_uploads(&self, prefix: &str) -> usize {
        let listing = reqwest::Client::new()
            .get(format!(
                "{}/{BUCKET}?uploads&prefix={prefix}/",
                self.endpoint
            ))
            // The server routes by the signature's scope and checks nothing else.
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .expect("the S3 test server answers")
            .error_for_status()
            .expect("the uploads are listed")
            .text()
            .await
            .expect("a listing");
        listing.matches("<UploadId>").count()
    }

    /// A bucket blob store on a prefix no other test uses.
    pub fn fresh_store(&self) -> Arc<dyn BlobStore> {
        self.store_at(&fresh_prefix())
    }

    /// A bucket blob store on `prefix` of the test bucket, as `BLOB_STORE_URL=s3://` + [`BUCKET`]
    /// + `/` + `prefix` gives the service.
    pub fn store_at(&self, prefix: &str) -> Arc<dyn BlobStore> {
        let location = BucketLocation {
            bucket: BUCKET.to_owned(),
            prefix: prefix.to_owned(),
        };
        let options: Vec<(String, String)> = self
            .aws_variables()
            .into_iter()
            .map(|(key, value)| (key.to_ascii_lowercase(), value))
            .collect();
        let store = ObjectBlobStore::s3(
            &location,
            options
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str())),
        )
        .expect("a client of the S3 test server");
        Arc::new(store)
    }
}

/// A prefix of the test bucket that no other test uses.
pub fn fresh_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

//! The edge of the real binary on loopback, attacked as a stranger would, with a genuine
//! ElevenLabs delivery succeeding during each attack. Distinct loopback addresses (127.0.0.x)
//! play distinct peers.

mod budget;
mod sources;
mod throttling;
mod timeouts;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use caller_memory::inbound::http::signature::sign;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub use crate::calls::eventually as until;
use crate::calls::SAMPLE;
use crate::helpers::{own_staging_folder, STAGING_LOCK};
use crate::service_process::ServiceProcess;

const DEV_POST_CALL_KEY: &str = "dev-only-post-call-key";
const DEV_CLIENT_DATA_KEY: &str = "dev-only-client-data-key";
/// How long a test waits for a state it needs before failing.
const PATIENCE: Duration = Duration::from_secs(20);

/// The real binary with its data in a temporary folder.
pub struct Edge {
    pub service: ServiceProcess,
    data: tempfile::TempDir,
}

impl Edge {
    pub fn start(settings: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let service = ServiceProcess::start_dev(data.path(), settings);
        Self { service, data }
    }

    pub fn payloads(&self) -> PathBuf {
        self.data.path().join(".dev-data/payloads")
    }

    pub fn staging(&self) -> PathBuf {
        own_staging_folder(&self.payloads())
    }

    pub fn socket_address(&self) -> SocketAddr {
        self.service
            .address
            .trim_start_matches("http://")
            .parse()
            .unwrap()
    }

    /// A client whose connections come from `source` (a 127.0.0.x address).
    pub fn client_from(&self, source: [u8; 4]) -> Peer {
        Peer {
            client: reqwest::Client::builder()
                .local_address(IpAddr::from(source))
                .build()
                .unwrap(),
            base: self.service.address.clone(),
        }
    }

    /// Whether a transcription of `conversation` is archived.
    pub fn archived(&self, conversation: &str) -> bool {
        self.payloads()
            .join(conversation)
            .join(format!("{conversation}_transcription.json"))
            .exists()
    }

    pub fn logs(&self) -> String {
        self.service.logs()
    }
}

/// A peer with its own source address.
pub struct Peer {
    pub client: reqwest::Client,
    base: String,
}

impl Peer {
    /// A post-call delivery signed now with the dev key, as ElevenLabs would send it.
    pub async fn deliver(&self, body: &[u8]) -> reqwest::Response {
        self.deliver_with(body, &[]).await
    }

    pub async fn deliver_with(&self, body: &[u8], headers: &[(&str, &str)]) -> reqwest::Response {
        let signature = sign(DEV_POST_CALL_KEY, chrono::Utc::now().timestamp(), body);
        self.post("/webhook/post-call", body.to_vec(), headers)
            .header("elevenlabs-signature", signature)
            .send()
            .await
            .expect("post-call sent")
    }

    /// A post-call delivery of `body` signed now, its bytes sent as `pieces` arrive (chunked).
    pub async fn deliver_streamed(&self, body: &[u8], pieces: reqwest::Body) -> reqwest::Response {
        let signature = sign(DEV_POST_CALL_KEY, chrono::Utc::now().timestamp(), body);
        self.post(
            "/webhook/post-call",
            Vec::new(),
            &[("elevenlabs-signature", &signature)],
        )
        .body(pieces)
        .send()
        .await
        .expect("post-call sent")
    }

    /// A post-call delivery with a fresh timestamp and a made-up digest.
    pub async fn forge(&self, body: &[u8]) -> reqwest::Response {
        self.post("/webhook/post-call", body.to_vec(), &[])
            .header("elevenlabs-signature", forged_signature())
            .send()
            .await
            .expect("post-call sent")
    }

    /// A ring, with the dev client-data key or another.
    pub async fn ring(&self, key: &str) -> reqwest::Response {
        let body = br#"{"caller_id": "+14155550123", "agent_id": "agent_1", "called_number": "+14155550100", "call_sid": "CA1"}"#;
        self.post("/webhook/client-data", body.to_vec(), &[])
            .header("x-api-key", key)
            .send()
            .await
            .expect("client-data sent")
    }

    pub fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    }
}

/// A header ElevenLabs would never send: a fresh timestamp, a digest nobody computed.
pub fn forged_signature() -> String {
    format!(
        "t={},v0={}",
        chrono::Utc::now().timestamp(),
        "ab".repeat(32)
    )
}

/// The sample transcription, as a delivery of `conversation`.
pub fn transcription(conversation: &str) -> Vec<u8> {
    let mut event: Value = serde_json::from_slice(SAMPLE).unwrap();
    event["data"]["conversation_id"] = Value::from(conversation);
    event.to_string().into_bytes()
}

/// A raw connection from `source`, for requests no HTTP client would send.
pub async fn connect_from(source: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(IpAddr::from(source), 0))
        .unwrap();
    socket.connect(server).await.expect("connected")
}

/// An HTTP/1.1 answer read off a raw connection.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub head: String,
    pub body: Value,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// Reads one answer with a Content-Length body.
pub async fn read_answer(stream: &mut TcpStream) -> RawAnswer {
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = find(&received, b"\r\n\r\n") {
            break end;
        }
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("an answer in time")
            .expect("the answer is readable");
        assert!(read > 0, "the connection closed without an answer");
        received.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let mut answer = RawAnswer {
        status: head[9..12].parse().unwrap(),
        head,
        body: Value::Null,
    };
    let length: usize = answer.header("content-length").unwrap().parse().unwrap();
    while received.len() < head_end + 4 + length {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the connection closed mid-answer");
        received.extend_from_slice(&buffer[..read]);
    }
    answer.body = serde_json::from_slice(&received[head_end + 4..head_end + 4 + length]).unwrap();
    answer
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Waits until the server closes `stream` (end of stream or reset), discarding what it sends.
pub async fn closed_by_server(stream: &mut (impl tokio::io::AsyncRead + Unpin)) {
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + PATIENCE;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for {PATIENCE:?}"),
        }
    }
}

/// The head of a post-call request with a made-up signature, for a body sent separately.
pub fn forged_head(framing: &str) -> String {
    format!(
        "POST /webhook/post-call HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\n\
         elevenlabs-signature: {}\r\n{framing}\r\n\r\n",
        forged_signature()
    )
}

/// Sends the whole of `bytes`.
pub async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("sent");
}

/// Files in a folder (0 when it does not exist).
/// The files in `folder`, besides a staging folder's lock.
pub fn files_in(folder: &Path) -> usize {
    std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_name() != STAGING_LOCK)
                .count()
        })
        .unwrap_or(0)
}

//! Three instances of the real binary on loopback sharing one bucket (the S3 test server) and one
//! Postgres database, as behind a round-robin load balancer: every delivery reaches two different
//! instances, one instance is killed (SIGKILL) half-way and started again, and every call is
//! still learnt exactly once and greeted by every instance.

use std::time::{Duration, Instant};

use caller_memory::inbound::http::signature::sign;
use chrono::Utc;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};

use crate::calls::{addressed_sample, counted_since, Webhooks};
use crate::helpers::{CLIENT_DATA_KEY, POST_CALL_KEY, SEARCH_DATA_KEY};
use crate::service_process::ServiceProcess;
use crate::support::postgres::TestDatabase;
use crate::support::s3_server::{fresh_prefix, s3_server, BUCKET};

const INSTANCES: usize = 3;
const CALLERS: usize = 50;
const CALLS: usize = 200;
/// Deliveries sent at once, across the instances.
const IN_FLIGHT: usize = 8;
/// Short, so that the killed instance's claims expire soon.
const LEASE_MS: &str = "2000";
/// The longest the cluster may take to learn every call once the deliveries are done.
const LEARNING_DEADLINE: Duration = Duration::from_secs(180);

/// A caller of the test, told apart by words no other caller uses.
struct Caller {
    number: String,
    name: String,
    /// The word this caller says in every call, and no one else says.
    colour: String,
}

impl Caller {
    fn new(index: usize) -> Self {
        let letters = spelled(index);
        Self {
            number: format!("+1415555{index:04}"),
            name: format!("Caller{letters}"),
            colour: format!("hue{letters}"),
        }
    }
}

/// `index` spelled with one letter per digit (`12` is `bc`), so that it stays one word for a
/// full-text index.
fn spelled(index: usize) -> String {
    format!("{index:02}")
        .bytes()
        .map(|digit| char::from(b'a' + (digit - b'0')))
        .collect()
}

/// Call `call` of the test: caller `call % CALLERS`, saying their colour and the call's number.
fn transcription(call: usize) -> Value {
    let caller = Caller::new(call % CALLERS);
    let mut event = addressed_sample(&caller.number, &format!("conv_cluster_{call:03}"));
    let data = &mut event["data"];
    data["analysis"]["data_collection_results"]["first_name"]["value"] = json!(caller.name);
    data["analysis"]["transcript_summary"] =
        json!(format!("{} called about order {call}.", caller.name));
    let sentences = [
        format!("Hi, this is {}.", caller.name),
        format!(
            "My favourite colour is {} and I call about order {call}.",
            caller.colour
        ),
        format!("Friday suits me for order {call}."),
    ];
    let user_turns = data["transcript"]
        .as_array_mut()
        .expect("a transcript")
        .iter_mut()
        .filter(|turn| turn["role"] == "user");
    for (turn, sentence) in user_turns.zip(sentences) {
        turn["message"] = json!(sentence);
    }
    event
}

/// The three instances, and how to start one again. They run on one machine and share one local
/// data folder, which then holds only each instance's staging folder.
struct Cluster {
    settings: Vec<(&'static str, String)>,
    folder: tempfile::TempDir,
    instances: Vec<Option<ServiceProcess>>,
}

impl Cluster {
    fn start(settings: Vec<(&'static str, String)>) -> Self {
        let mut cluster = Self {
            settings,
            folder: tempfile::tempdir().unwrap(),
            instances: (0..INSTANCES).map(|_| None).collect(),
        };
        for index in 0..INSTANCES {
            cluster.restart(index);
        }
        cluster
    }

    fn restart(&mut self, index: usize) {
        let settings: Vec<(&str, &str)> = self
            .settings
            .iter()
            .map(|(key, value)| (*key, value.as_str()))
            .collect();
        self.instances[index] = Some(ServiceProcess::start_dev(self.folder.path(), &settings));
    }

    fn kill(&mut self, index: usize) {
        if let Some(instance) = self.instances[index].take() {
            instance.kill();
        }
    }

    /// The staging folders in the shared data folder (the dev profile's `.dev-data/payloads`).
    fn staging_folders(&self) -> usize {
        let root = self.folder.path().join(".dev-data/payloads/.staging");
        std::fs::read_dir(root).map_or(0, |entries| entries.count())
    }

    fn addresses(&self) -> Vec<String> {
        self.instances
            .iter()
            .map(|instance| instance.as_ref().expect("running").address.clone())
            .collect()
    }
}

/// Sends a transcription signed now to `addresses[first]`, and to the next instance while one
/// does not answer 200, as ElevenLabs retries a failed delivery.
async fn deliver(client: &reqwest::Client, addresses: &[String], first: usize, body: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for attempt in 0.. {
        let address = &addresses[(first + attempt) % addresses.len()];
        let signature = sign(POST_CALL_KEY, chrono::Utc::now().timestamp(), body);
        let sent = client
            .post(format!("{address}/webhook/post-call"))
            .header("content-type", "application/json")
            .header("elevenlabs-signature", signature)
            .body(body.to_vec())
            .send()
            .await;
        if sent.is_ok_and(|response| response.status() == 200) {
            return;
        }
        assert!(Instant::now() < deadline, "no instance took a delivery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Delivers calls `calls` twice each, to two different instances in turn.
async fn deliver_twice(addresses: &[String], calls: std::ops::Range<usize>) {
    let client = reqwest::Client::new();
    stream::iter(calls.flat_map(|call| [(call, 0), (call, 1)]))
        .for_each_concurrent(IN_FLIGHT, |(call, repeat)| {
            let client = &client;
            async move {
                let body = transcription(call).to_string().into_bytes();
                deliver(client, addresses, (call + repeat) % addresses.len(), &body).await;
            }
        })
        .await;
}

/// Waits until no instance sees a pending call; requires that none failed.
async fn wait_until_learnt(addresses: &[String]) {
    let deadline = Instant::now() + LEARNING_DEADLINE;
    let since = Utc::now();
    loop {
        let mut pending = 0;
        let mut counted_since_delivered = true;
        for address in addresses {
            let readiness = Webhooks::at(address).readiness().await;
            assert_eq!(readiness["failed_ingestions"], 0, "{readiness}");
            pending += readiness["pending_ingestions"].as_u64().unwrap_or(u64::MAX);
            counted_since_delivered &= counted_since(&readiness, since);
        }
        if pending == 0 && counted_since_delivered {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} calls still pending after {LEARNING_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_sharing_a_bucket_and_postgres_learn_every_call_once_through_a_kill() {
    let database = TestDatabase::create().await;
    let mut settings: Vec<(&'static str, String)> = vec![
        (
            "BLOB_STORE_URL",
            format!("s3://{BUCKET}/{}", fresh_prefix()),
        ),
        ("MEMORY_BACKEND", "postgres".to_owned()),
        ("DATABASE_URL", database.url().to_owned()),
        ("ELEVENLABS_POST_CALL_KEY", POST_CALL_KEY.to_owned()),
        ("ELEVENLABS_CLIENT_DATA_KEY", CLIENT_DATA_KEY.to_owned()),
        ("ELEVENLABS_SEARCH_DATA_KEY", SEARCH_DATA_KEY.to_owned()),
        ("INGESTION_LEASE_MS", LEASE_MS.to_owned()),
        ("PENDING_SCAN_MS", "500".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    settings.extend(s3_server().aws_variables());
    let mut cluster = Cluster::start(settings);

    deliver_twice(&cluster.addresses(), 0..CALLS / 2).await;
    // Killed while it is still learning from what it received, then started again.
    cluster.kill(1);
    cluster.restart(1);
    // The restarted instance removed the killed one's staging folder, and only that one.
    assert_eq!(cluster.staging_folders(), INSTANCES);
    deliver_twice(&cluster.addresses(), CALLS / 2..CALLS).await;
    let addresses = cluster.addresses();
    wait_until_learnt(&addresses).await;

    let calls_per_caller = CALLS / CALLERS;
    for index in 0..CALLERS {
        let caller = Caller::new(index);
        for address in &addresses {
            let greeting = Webhooks::at(address).greet(&caller.number).await;
            let variables = &greeting["dynamic_variables"];
            assert_eq!(variables["user_name"], caller.name.as_str(), "{greeting}");
            assert_eq!(
                variables["previous_call_count"], calls_per_caller,
                "{greeting}"
            );
        }
        let found = Webhooks::at(&addresses[index % INSTANCES])
            .search(&caller.number, "What is my favourite colour?", 10)
            .await;
        let contents: Vec<&str> = found["memories"]
            .as_array()
            .expect("memories")
            .iter()
            .map(|memory| memory["content"].as_str().unwrap())
            .collect();
        assert!(
            contents.iter().any(|text| text.contains(&caller.colour)),
            "{} did not find their own words: {contents:?}",
            caller.name
        );
        for text in &contents {
            let someone_else = (0..CALLERS)
                .filter(|other| *other != index)
                .map(Caller::new)
                .find(|other| text.contains(&other.colour) || text.contains(&other.name));
            assert!(
                someone_else.is_none(),
                "{} found another caller's words: {text}",
                caller.name
            );
        }
    }

    let store = database.connect().await;
    let duplicates = store
        .query(
            "SELECT conversation_id, content FROM memories \
             GROUP BY caller, conversation_id, content HAVING count(*) > 1",
            &[],
        )
        .await
        .unwrap();
    assert!(
        duplicates.is_empty(),
        "{} duplicate memories",
        duplicates.len()
    );
    let conversations = store
        .query(
            "SELECT caller, count(DISTINCT conversation_id) FROM memories GROUP BY caller",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(conversations.len(), CALLERS);
    for row in conversations {
        assert_eq!(row.get::<_, i64>(1), calls_per_caller as i64);
    }
    // Every call is the same shape, so each leaves as many memories as any other.
    let per_call = store
        .query(
            "SELECT DISTINCT count(*) FROM memories GROUP BY caller, conversation_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        per_call.len(),
        1,
        "calls left different numbers of memories"
    );
}

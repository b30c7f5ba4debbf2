//! One configuration of the service, wired as `serve` wires it, learning the evaluation set
//! through the post-call webhook and answering its questions through search-data.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::scoring::{Scores, RESULTS_PER_QUESTION};
use super::set::Caller;
use crate::helpers::{Backend, TestApp};

/// The variable that points the hybrid configuration at a sentence-embedding model folder; it is
/// also the service's own setting, passed through unchanged.
pub const MODEL_FOLDER_VARIABLE: &str = "EMBEDDING_MODEL_DIR";

/// The service's variables that point the hybrid configurations at an embeddings API instead of
/// a model folder, passed through unchanged; the first decides.
pub const API_VARIABLES: [&str; 3] = ["EMBEDDING_URL", "EMBEDDING_MODEL", "EMBEDDING_INPUT_TYPES"];

/// When set, every question whose answer is not first is printed with what came first.
pub const SHOW_MISSES_VARIABLE: &str = "RECALL_EVAL_SHOW_MISSES";

/// When set, only the configurations whose name contains one of its comma-separated words run
/// (for example `postgres`).
pub const ONLY_VARIABLE: &str = "RECALL_EVAL_ONLY";

/// The longest a run waits for its calls to be learnt.
pub const INGESTION_LIMIT: Duration = Duration::from_secs(900);

/// A memory backend and search set-up under evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Configuration {
    /// The SQLite store, full-text search only.
    EmbeddedLexical,
    /// The SQLite store with sentence embeddings; needs a model folder.
    EmbeddedHybrid,
    /// OpenMemory, played by the local fake that follows the recorded server behaviour; its
    /// candidates ranked by shared words.
    OpenMemoryLexical,
    /// OpenMemory's candidates re-ranked with sentence embeddings, with the same model as
    /// `EmbeddedHybrid`.
    OpenMemoryHybrid,
    /// The Postgres store in a fresh database, full-text search only.
    PostgresLexical,
    /// The Postgres store with sentence embeddings, with the same model as `EmbeddedHybrid`.
    PostgresHybrid,
}

impl Configuration {
    pub const ALL: [Configuration; 6] = [
        Configuration::EmbeddedLexical,
        Configuration::EmbeddedHybrid,
        Configuration::OpenMemoryLexical,
        Configuration::OpenMemoryHybrid,
        Configuration::PostgresLexical,
        Configuration::PostgresHybrid,
    ];

    /// The configurations to run: all, or those `RECALL_EVAL_ONLY` names.
    pub fn selected() -> Vec<Configuration> {
        let only = std::env::var(ONLY_VARIABLE).unwrap_or_default();
        let words: Vec<&str> = only
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect();
        Self::ALL
            .into_iter()
            .filter(|configuration| {
                words.is_empty() || words.iter().any(|word| configuration.name().contains(word))
            })
            .collect()
    }

    /// The name in tables and in `baseline.json`.
    pub fn name(self) -> &'static str {
        match self {
            Configuration::EmbeddedLexical => "embedded lexical",
            Configuration::EmbeddedHybrid => "embedded hybrid",
            Configuration::OpenMemoryLexical => "openmemory lexical",
            Configuration::OpenMemoryHybrid => "openmemory hybrid",
            Configuration::PostgresLexical => "postgres lexical",
            Configuration::PostgresHybrid => "postgres hybrid",
        }
    }

    /// The backend and the settings to start the service with, or why this configuration
    /// cannot run here.
    pub async fn prepare(self) -> Result<(Backend, Vec<(String, String)>), String> {
        match self {
            Configuration::EmbeddedLexical => Ok((Backend::Embedded, Vec::new())),
            Configuration::EmbeddedHybrid => Ok((Backend::Embedded, hybrid_settings())),
            Configuration::OpenMemoryLexical => Ok((Backend::openmemory().await, Vec::new())),
            Configuration::OpenMemoryHybrid => Ok((Backend::openmemory().await, hybrid_settings())),
            Configuration::PostgresLexical => Ok((Backend::postgres().await, Vec::new())),
            Configuration::PostgresHybrid => Ok((Backend::postgres().await, hybrid_settings())),
        }
    }
}

/// The settings of a hybrid configuration: the embeddings API the service's own variables name
/// (`EMBEDDING_URL` with `EMBEDDING_MODEL` and `EMBEDDING_INPUT_TYPES`), passed through unchanged;
/// otherwise the model folder `EMBEDDING_MODEL_DIR` names, or the test model (all-MiniLM-L6-v2,
/// fetched once per machine).
fn hybrid_settings() -> Vec<(String, String)> {
    let variable = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let mut settings = match variable(API_VARIABLES[0]) {
        Some(_) => API_VARIABLES
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), variable(name)?)))
            .collect(),
        None => {
            let folder = variable(MODEL_FOLDER_VARIABLE).unwrap_or_else(|| {
                caller_memory::test_doubles::test_model_folder()
                    .display()
                    .to_string()
            });
            vec![(MODEL_FOLDER_VARIABLE.to_owned(), folder)]
        }
    };
    // The question's embedding, and each request to an API, get ample time: on a busy machine
    // (CI, a debug build) the defaults would turn quality figures into lexical-fallback figures.
    settings.push(("EMBEDDING_QUERY_BUDGET_MS".to_owned(), "5000".to_owned()));
    settings.push(("EMBEDDING_TIMEOUT_MS".to_owned(), "30000".to_owned()));
    settings
}

/// A running service of one configuration.
pub struct Service {
    pub app: TestApp,
    pub backend: Backend,
}

impl Service {
    /// Starts `configuration`, or says why it cannot run here.
    pub async fn start(configuration: Configuration) -> Result<Self, String> {
        let (backend, settings) = configuration.prepare().await?;
        let settings: Vec<(&str, &str)> = settings
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        let app = TestApp::spawn_service(&backend, &settings).await;
        Ok(Service { app, backend })
    }

    /// Delivers every call, oldest first, as signed post-call webhooks and waits until the
    /// service has learnt them; returns how long that took.
    pub async fn learn(&self, transcriptions: &[Value]) -> Duration {
        let webhooks = self.app.webhooks();
        let started = Instant::now();
        for transcription in transcriptions {
            webhooks.deliver_call(transcription).await;
        }
        webhooks.wait_until_learnt_within(INGESTION_LIMIT).await;
        started.elapsed()
    }

    /// How many memories the store holds for `numbers`, read from the store itself.
    pub async fn memories_stored(&self, numbers: &[&str]) -> usize {
        match &self.backend {
            Backend::OpenMemory(fake) => numbers.iter().map(|n| fake.memories_of(n).len()).sum(),
            Backend::Postgres(database) => {
                let count: i64 = database
                    .connect()
                    .await
                    .query_one("SELECT count(*) FROM memories", &[])
                    .await
                    .expect("the memories are counted")
                    .get(0);
                usize::try_from(count).expect("a count")
            }
            Backend::Embedded => {
                let database = rusqlite::Connection::open(self.app.memory_database())
                    .expect("the embedded store's file opens");
                let count: i64 = database
                    .query_row("SELECT count(*) FROM memories", [], |row| row.get(0))
                    .expect("the memories are counted");
                usize::try_from(count).expect("a count")
            }
        }
    }

    /// Asks `query` for `number` through search-data; returns the memories and the round trip.
    pub async fn ask(&self, number: &str, query: &str) -> (Vec<Value>, Duration) {
        let started = Instant::now();
        let found = self
            .app
            .webhooks()
            .search(number, query, RESULTS_PER_QUESTION)
            .await;
        let elapsed = started.elapsed();
        assert_eq!(found["status"], "ok", "search-data for {query:?}: {found}");
        let memories = found["memories"]
            .as_array()
            .expect("a list of memories")
            .clone();
        (memories, elapsed)
    }
}

/// Every call of `callers`, oldest first across all of them.
pub fn chronological_transcriptions(callers: &[Caller]) -> Vec<Value> {
    let mut calls: Vec<(u32, Value)> = callers
        .iter()
        .flat_map(|caller| {
            caller
                .calls
                .iter()
                .map(move |call| (call.days_ago, call.transcription(caller)))
        })
        .collect();
    calls.sort_by_key(|(days_ago, _)| std::cmp::Reverse(*days_ago));
    calls
        .into_iter()
        .map(|(_, transcription)| transcription)
        .collect()
}

/// Runs the whole set through `configuration`, or says why it cannot run here.
pub async fn evaluate(configuration: Configuration, callers: &[Caller]) -> Result<Scores, String> {
    let service = Service::start(configuration).await?;
    let mut scores = Scores {
        ingestion_time: service.learn(&chronological_transcriptions(callers)).await,
        ..Scores::default()
    };
    let numbers: Vec<&str> = callers
        .iter()
        .map(|caller| caller.number.as_str())
        .collect();
    scores.memories_learnt = service.memories_stored(&numbers).await;
    let show_misses = std::env::var_os(SHOW_MISSES_VARIABLE).is_some();
    for caller in callers {
        for question in &caller.questions {
            let (memories, latency) = service.ask(&caller.number, &question.ask).await;
            scores.latencies.push(latency);
            if question.never_said {
                scores.never_said_empty.push(memories.is_empty());
            } else {
                let answers = caller.answers(question);
                let rank = super::scoring::rank_of_answer(&memories, &answers);
                if show_misses && rank != Some(1) {
                    eprintln!(
                        "{} {:?} -> {rank:?}: first {}",
                        caller.number,
                        question.ask,
                        memories.first().map_or(&Value::Null, |m| &m["content"])
                    );
                }
                scores.ranks.push(rank);
            }
        }
    }
    Ok(scores)
}

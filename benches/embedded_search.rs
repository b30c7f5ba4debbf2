//! Embedded store figures: search latency for one caller with 10,000 memories in a store of
//! 1,000,000, and add throughput.
//!
//! Run with `cargo bench --bench embedded_search`. The 1,000,000-memory store is built once with
//! the bulk loader and cached under the target folder (`bench-data/`); delete it to rebuild.
//! Besides criterion's means, p50/p99 from individually timed searches are printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use caller_memory::core::ports::MemoryStore;
use caller_memory::core::recall::RecallQuery;
use caller_memory::core::{
    CallerId, ConversationId, Decay, MemoryKind, NewMemory, SearchLimit, SearchQuery,
};
use caller_memory::outbound::embedded::EmbeddedMemoryStore;
use chrono::{DateTime, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TOTAL_MEMORIES: u64 = 1_000_000;
const TARGET_MEMORIES: u64 = 10_000;
const OTHER_CALLERS: u64 = 9_900;
const TARGET_CALLER: &str = "+14155550123";
const TIMED_SEARCHES: usize = 2_000;
const TIMED_ADDS: usize = 2_000;

const COMMON_WORDS: &[&str] = &[
    "the",
    "caller",
    "said",
    "wants",
    "order",
    "delivery",
    "appointment",
    "call",
    "back",
    "after",
    "before",
    "monday",
    "tuesday",
    "friday",
    "weekend",
    "morning",
    "evening",
    "email",
    "phone",
    "invoice",
    "payment",
    "refund",
    "address",
    "moving",
    "dog",
    "cat",
    "jazz",
    "music",
    "prefers",
    "allergic",
    "peanuts",
    "birthday",
    "daughter",
    "son",
    "wife",
    "husband",
    "boiler",
    "garden",
    "thermostat",
    "technician",
    "visit",
    "plan",
    "discount",
    "number",
    "account",
    "password",
    "late",
    "early",
    "twice",
    "again",
    "problem",
    "broken",
    "fixed",
    "happy",
    "unhappy",
    "price",
];

/// Words drawn with a skew, so a few are frequent and most are rare, as in real speech.
struct Vocabulary {
    words: Vec<String>,
}

impl Vocabulary {
    fn new(rng: &mut StdRng) -> Self {
        let syllables = [
            "ka", "lo", "mi", "re", "su", "ta", "ven", "dor", "pli", "gus", "an", "tek",
        ];
        let mut words: Vec<String> = COMMON_WORDS.iter().map(|word| word.to_string()).collect();
        while words.len() < 8_000 {
            let length = rng.gen_range(2..=4);
            let word: String = (0..length)
                .map(|_| syllables[rng.gen_range(0..syllables.len())])
                .collect();
            words.push(word);
        }
        Self { words }
    }

    fn word(&self, rng: &mut StdRng) -> &str {
        let skewed = rng.gen::<f64>().powi(3);
        &self.words[(skewed * self.words.len() as f64) as usize]
    }

    fn sentence(&self, rng: &mut StdRng, words: usize) -> String {
        (0..words)
            .map(|_| self.word(rng))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn memory(caller: &CallerId, n: u64, content: String) -> NewMemory {
    NewMemory {
        caller: caller.clone(),
        content,
        kind: MemoryKind::Utterance,
        agent_id: None,
        conversation_id: ConversationId::parse(&format!("conv_{}", n / 20)).unwrap(),
        key: format!("utterance-{n}"),
        tags: vec![],
        salience: 0.5,
        decay: Decay::Default,
        turn: None,
        occurred_at: start() + chrono::Duration::seconds(n as i64),
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

/// Other callers' memories interleaved with the target caller's, as calls arrive over time.
fn corpus() -> impl Iterator<Item = NewMemory> {
    let mut rng = StdRng::seed_from_u64(7);
    let vocabulary = Vocabulary::new(&mut rng);
    let target = CallerId::parse(TARGET_CALLER).unwrap();
    let every = TOTAL_MEMORIES / TARGET_MEMORIES;
    (0..TOTAL_MEMORIES).map(move |n| {
        let caller = if n % every == 0 {
            target.clone()
        } else {
            CallerId::parse(&format!("+1555{:07}", n % OTHER_CALLERS)).unwrap()
        };
        let length = rng.gen_range(6..=16);
        memory(&caller, n, vocabulary.sentence(&mut rng, length))
    })
}

fn cached_store_path() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    Path::new(&target).join("bench-data/embedded-1m-v2.sqlite")
}

fn build_store_once(path: &Path) {
    if path.exists() {
        return;
    }
    let building = path.with_extension("building");
    let _ = std::fs::remove_file(&building);
    let started = Instant::now();
    let stored = EmbeddedMemoryStore::bulk_load(&building, corpus()).expect("bulk load");
    std::fs::rename(&building, path).expect("move the built store into place");
    println!(
        "built {stored} memories in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn questions() -> Vec<RecallQuery> {
    let mut rng = StdRng::seed_from_u64(11);
    let vocabulary = Vocabulary::new(&mut StdRng::seed_from_u64(7));
    (0..200)
        .map(|_| {
            let length = rng.gen_range(2..=6);
            SearchQuery::parse(&format!(
                "what about {}",
                vocabulary.sentence(&mut rng, length)
            ))
            .unwrap()
            .into()
        })
        .collect()
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() as f64 * fraction) as usize).min(sorted.len() - 1)]
}

fn report(name: &str, mut timings: Vec<Duration>) {
    timings.sort();
    println!(
        "{name}: n={} p50={:.3} ms p99={:.3} ms max={:.3} ms",
        timings.len(),
        percentile(&timings, 0.50).as_secs_f64() * 1e3,
        percentile(&timings, 0.99).as_secs_f64() * 1e3,
        timings.last().unwrap().as_secs_f64() * 1e3,
    );
}

fn search_benchmark(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let path = cached_store_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    build_store_once(&path);
    let store = Arc::new(runtime.block_on(EmbeddedMemoryStore::open(&path)).unwrap());
    let caller = CallerId::parse(TARGET_CALLER).unwrap();
    let questions = questions();
    let limit = SearchLimit::DEFAULT;

    let timings: Vec<Duration> = runtime.block_on(async {
        let mut timings = Vec::with_capacity(TIMED_SEARCHES);
        for question in questions.iter().cycle().take(TIMED_SEARCHES) {
            let started = Instant::now();
            let hits = store.search(&caller, question, limit).await.unwrap();
            timings.push(started.elapsed());
            assert!(!hits.is_empty());
        }
        timings
    });
    report("search, caller with 10,000 of 1,000,000 memories", timings);

    let mut next = questions.iter().cycle();
    c.bench_function(
        "embedded search: caller with 10k of 1M memories",
        |bencher| {
            bencher.to_async(&runtime).iter(|| {
                let question = next.next().unwrap().clone();
                let store = Arc::clone(&store);
                let caller = caller.clone();
                async move { store.search(&caller, &question, limit).await.unwrap() }
            })
        },
    );
}

fn add_benchmark(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let store = runtime
        .block_on(EmbeddedMemoryStore::open(folder.path().join("adds.sqlite")))
        .unwrap();
    let caller = CallerId::parse(TARGET_CALLER).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let vocabulary = Vocabulary::new(&mut rng);
    let mut counter = 0u64;
    let mut fresh = move || {
        counter += 1;
        let length = rng.gen_range(6..=16);
        memory(&caller, counter, vocabulary.sentence(&mut rng, length))
    };

    let started = Instant::now();
    let timings: Vec<Duration> = runtime.block_on(async {
        let mut timings = Vec::with_capacity(TIMED_ADDS);
        for _ in 0..TIMED_ADDS {
            let memory = fresh();
            let began = Instant::now();
            store.add(&memory).await.unwrap();
            timings.push(began.elapsed());
        }
        timings
    });
    println!(
        "add throughput: {:.0} adds/s (sequential, one at a time)",
        TIMED_ADDS as f64 / started.elapsed().as_secs_f64()
    );
    report("add", timings);

    c.bench_function("embedded add", |bencher| {
        bencher.to_async(&runtime).iter(|| {
            let memory = fresh();
            let store = store.clone();
            async move { store.add(&memory).await.unwrap() }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(100).measurement_time(Duration::from_secs(10));
    targets = search_benchmark, add_benchmark
}
criterion_main!(benches);

//! Local sentence model figures on this machine: load time, one text at a time (what a search
//! waits for), and batches of 32 (what ingestion sends).
//!
//! Run with `cargo bench --bench embedder --features test-doubles` (release build; the model is
//! the test model, fetched once by `scripts/fetch-test-model.sh`).

use std::time::{Duration, Instant};

use caller_memory::core::ports::Embedder;
use caller_memory::outbound::embedder::LocalEmbedder;
use caller_memory::test_doubles::test_model_folder;

const SINGLE_RUNS: usize = 300;
const BATCH_RUNS: usize = 20;
const BATCH: usize = 32;

/// Utterances of the length phone callers speak, and an exchange as ingestion stores it.
const TEXTS: &[&str] = &[
    "Yes, I'm allergic to penicillin.",
    "Agent asked: Do you have any allergies? Caller: Yes, penicillin, it gives me a rash.",
    "Please text me instead of calling, I'm at work during the day.",
    "The water heater in the basement has been leaking since Monday morning.",
    "what did the caller say about payment",
    "Can we move the cleaning to Thursday afternoon, around two fifteen?",
    "My policy number is 48213 and I want to add my daughter as a driver.",
    "drug reactions",
];

fn percentile(sorted: &[Duration], share: f64) -> Duration {
    sorted[((sorted.len() as f64 * share) as usize).min(sorted.len() - 1)]
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let folder = test_model_folder();
    let started = Instant::now();
    let embedder = LocalEmbedder::load(&folder).expect("the test model loads");
    println!(
        "model load: {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    runtime.block_on(async {
        let texts: Vec<String> = (0..SINGLE_RUNS)
            .map(|index| format!("{} ({index})", TEXTS[index % TEXTS.len()]))
            .collect();
        embedder.embed(&texts[..4]).await.unwrap();
        let mut single = Vec::with_capacity(SINGLE_RUNS);
        for text in &texts {
            let started = Instant::now();
            embedder.embed(std::slice::from_ref(text)).await.unwrap();
            single.push(started.elapsed());
        }
        single.sort();
        println!(
            "one text: p50 {:.2} ms, p99 {:.2} ms ({SINGLE_RUNS} texts)",
            percentile(&single, 0.5).as_secs_f64() * 1e3,
            percentile(&single, 0.99).as_secs_f64() * 1e3
        );

        let mut batches = Vec::with_capacity(BATCH_RUNS);
        for run in 0..BATCH_RUNS {
            let batch = &texts[run * 8..run * 8 + BATCH];
            let started = Instant::now();
            embedder.embed(batch).await.unwrap();
            batches.push(started.elapsed());
        }
        batches.sort();
        let median = percentile(&batches, 0.5);
        println!(
            "batch of {BATCH}: p50 {:.1} ms ({:.2} ms per text, {:.0} texts/s), p99 {:.1} ms",
            median.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3 / BATCH as f64,
            BATCH as f64 / median.as_secs_f64(),
            percentile(&batches, 0.99).as_secs_f64() * 1e3
        );
    });
}

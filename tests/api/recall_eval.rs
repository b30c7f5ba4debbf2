//! The recall evaluation: the labelled set in `eval/recall/` run through the real ingestion and
//! the real search of each configuration (see `eval/recall/README.md`).
//!
//! - `recall_eval_reduced` (CI) runs the reduced set and fails when a configuration's top-1
//!   accuracy drops more than 5 points below its committed figure in `eval/recall/baseline.json`.
//! - `recall_eval_full` (by hand) runs the full set and prints the Markdown table:
//!   `cargo test --release --test api recall_eval_full -- --ignored --nocapture`
//! - `recall_eval_latency` (by hand) pads one caller with many memories and measures search-data
//!   there: `RECALL_EVAL_PADDED_MEMORIES=500,10000 cargo test --release --test api
//!   recall_eval_latency -- --ignored --nocapture`

mod padding;
mod run;
mod scoring;
mod set;

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use run::{evaluate, Configuration};
use scoring::{skipped_row, Scores, MARKDOWN_HEADER};
use set::Subset;

/// How far below its committed figure a configuration's top-1 accuracy may fall, in points.
const ALLOWED_TOP1_DROP: f64 = 5.0;

fn baseline() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/recall/baseline.json");
    let text = std::fs::read_to_string(&path).expect("eval/recall/baseline.json");
    serde_json::from_str(&text).expect("the baseline is JSON")
}

/// Runs every configuration over `subset`; prints the table, the figures in the baseline's
/// format, and how long each run took. Returns the scores of the configurations that ran.
async fn evaluate_all(subset: Subset) -> Vec<(Configuration, Scores)> {
    let callers = set::load(subset);
    let calls: usize = callers.iter().map(|caller| caller.calls.len()).sum();
    let questions: usize = callers.iter().map(|caller| caller.questions.len()).sum();
    let never_said: usize = callers
        .iter()
        .flat_map(|caller| &caller.questions)
        .filter(|question| question.never_said)
        .count();
    println!(
        "\nRecall, {} set: {} callers, {calls} calls, {questions} questions ({never_said} never said)\n",
        subset.name(),
        callers.len()
    );
    let mut rows = vec![MARKDOWN_HEADER.to_owned()];
    let mut scored = Vec::new();
    let mut figures = serde_json::Map::new();
    for configuration in Configuration::selected() {
        let started = Instant::now();
        match evaluate(configuration, &callers).await {
            Ok(scores) => {
                rows.push(scores.markdown_row(configuration.name()));
                figures.insert(configuration.name().to_owned(), figures_of(&scores));
                eprintln!(
                    "{}: {:.1} s",
                    configuration.name(),
                    started.elapsed().as_secs_f64()
                );
                scored.push((configuration, scores));
            }
            Err(reason) => rows.push(skipped_row(MARKDOWN_HEADER, configuration.name(), &reason)),
        }
    }
    println!("{}\n", rows.join("\n"));
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({subset.name(): figures})).unwrap()
    );
    scored
}

/// A configuration's figures as `baseline.json` keeps them.
fn figures_of(scores: &Scores) -> Value {
    let round = |value: f64, places: i32| (value * 10f64.powi(places)).round() / 10f64.powi(places);
    json!({
        "top1": round(scores.top1(), 1),
        "recall_at_5": round(scores.recall_at_5(), 1),
        "mrr": round(scores.mrr(), 3),
        "never_said_empty": round(scores.never_said_empty(), 1),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recall_eval_reduced_stays_within_five_points_of_the_committed_top1() {
    let committed = &baseline()[Subset::Reduced.name()];
    for (configuration, scores) in evaluate_all(Subset::Reduced).await {
        let figure = committed[configuration.name()]["top1"].as_f64().unwrap_or_else(|| {
            panic!(
                "eval/recall/baseline.json has no reduced top1 for {}: commit the figure printed above",
                configuration.name()
            )
        });
        assert!(
            scores.top1() >= figure - ALLOWED_TOP1_DROP,
            "{}: top-1 {:.1} % is more than {ALLOWED_TOP1_DROP} points below the committed {figure} %",
            configuration.name(),
            scores.top1()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the full evaluation; run by hand in release mode with --nocapture"]
async fn recall_eval_full() {
    let started = Instant::now();
    evaluate_all(Subset::Full).await;
    eprintln!("full evaluation: {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "pads one caller with thousands of memories; run by hand in release mode with --nocapture"]
async fn recall_eval_latency() {
    padding::measure_padded_latency().await;
}

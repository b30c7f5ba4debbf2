//! Search latency for one caller with many memories: the caller's calls are made of the set's
//! own substantive exchanges (every labelled caller turn with the agent turn before it), each
//! caller turn joined with another trade's so that every memory is distinct and none is filler.

use std::time::Instant;

use serde_json::Value;

use super::run::{Configuration, Service};
use super::scoring::{milliseconds, skipped_row, Scores};
use super::set::{self, Call, Caller, Subset};

/// The variable that lists the memory counts to measure, comma-separated.
const COUNTS_VARIABLE: &str = "RECALL_EVAL_PADDED_MEMORIES";
const DEFAULT_COUNTS: &str = "500,10000";

/// Caller turns per padding call.
const TURNS_PER_CALL: usize = 50;

const PADDED_HEADER: &str = "| configuration | memories of the caller | search p50 | search p99 | ingestion (memories) |\n|---|---|---|---|---|";

/// The padded caller's number, outside the numbers the set assigns.
const PADDED_NUMBER: &str = "+15559990001";

pub async fn measure_padded_latency() {
    let counts: Vec<usize> = std::env::var(COUNTS_VARIABLE)
        .unwrap_or_else(|_| DEFAULT_COUNTS.to_owned())
        .split(',')
        .map(|count| {
            count
                .trim()
                .parse()
                .expect("memory counts are whole numbers")
        })
        .collect();
    let callers = set::load(Subset::Full);
    let exchanges = exchanges(&callers);
    let questions: Vec<&str> = callers
        .iter()
        .flat_map(|caller| &caller.questions)
        .map(|question| question.ask.as_str())
        .collect();
    let mut rows = vec![PADDED_HEADER.to_owned()];
    for configuration in Configuration::selected() {
        for &count in &counts {
            let started = Instant::now();
            let service = match Service::start(configuration).await {
                Ok(service) => service,
                Err(reason) => {
                    rows.push(skipped_row(PADDED_HEADER, configuration.name(), &reason));
                    break;
                }
            };
            let padded = padded_caller(&exchanges, count);
            let mut scores = Scores {
                ingestion_time: service.learn(&transcriptions(&padded)).await,
                memories_learnt: service.memories_stored(&[PADDED_NUMBER]).await,
                ..Scores::default()
            };
            for question in &questions {
                scores
                    .latencies
                    .push(service.ask(PADDED_NUMBER, question).await.1);
            }
            rows.push(format!(
                "| {} | {} | {:.2} ms | {:.2} ms | {:.0} /s |",
                configuration.name(),
                scores.memories_learnt,
                milliseconds(scores.latency_percentile(50.0)),
                milliseconds(scores.latency_percentile(99.0)),
                scores.memories_per_second(),
            ));
            eprintln!(
                "{} with {count}: {:.1} s",
                configuration.name(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!("\n{}\n", rows.join("\n"));
}

/// Every labelled caller turn of the set with the agent turn it answers.
fn exchanges(callers: &[Caller]) -> Vec<(String, String)> {
    let mut exchanges = Vec::new();
    for call in callers.iter().flat_map(|caller| &caller.calls) {
        for pair in call.transcript.windows(2) {
            if pair[0][0] == "agent" && pair[1].len() == 3 {
                exchanges.push((pair[0][1].clone(), pair[1][1].clone()));
            }
        }
    }
    exchanges
}

/// A caller with `count` distinct caller turns, in calls of [`TURNS_PER_CALL`], one day apart.
fn padded_caller(exchanges: &[(String, String)], count: usize) -> Caller {
    let turns: Vec<Vec<String>> = (0..count)
        .flat_map(|index| {
            let first = index % exchanges.len();
            // A stride coprime with most set sizes pairs each answer with many others.
            let mut second = (index / exchanges.len() * 7 + index * 13 + 1) % exchanges.len();
            if second == first {
                second = (second + 1) % exchanges.len();
            }
            let (question, answer) = &exchanges[first];
            let (_, addition) = &exchanges[second];
            [
                vec!["agent".to_owned(), question.clone()],
                vec!["user".to_owned(), format!("{answer} {addition}")],
            ]
        })
        .collect();
    let calls = turns
        .chunks(TURNS_PER_CALL * 2)
        .enumerate()
        .map(|(index, transcript)| Call {
            days_ago: u32::try_from(turns.len() / (TURNS_PER_CALL * 2) + 1 - index).unwrap_or(0),
            collected: Default::default(),
            summary: None,
            transcript: transcript.to_vec(),
            conversation: format!("conv_eval_padding_{}", index + 1),
        })
        .collect();
    Caller {
        reduced: false,
        language: "en".to_owned(),
        calls,
        questions: Vec::new(),
        number: PADDED_NUMBER.to_owned(),
        trade: "padding".to_owned(),
        agent: "Front desk".to_owned(),
    }
}

fn transcriptions(caller: &Caller) -> Vec<Value> {
    caller
        .calls
        .iter()
        .map(|call| call.transcription(caller))
        .collect()
}

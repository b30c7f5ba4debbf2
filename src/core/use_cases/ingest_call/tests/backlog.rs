use std::sync::Arc;

use futures_util::future::join_all;

use super::support::*;
use crate::core::ports::Clock;
use crate::core::use_cases::ingest_call::records::Folder;
use crate::core::use_cases::ingest_call::{IngestionCounts, DEFAULT_PENDING_SCAN};

const BACKLOG_FOLDERS: [Folder; 3] = [Folder::Pending, Folder::Failed, Folder::NotStored];

/// How many times each backlog folder was listed.
fn listings(app: &Harness) -> [usize; 3] {
    BACKLOG_FOLDERS.map(|folder| app.blobs.0.times_listed(&folder.prefix()))
}

fn plus(before: [usize; 3], more: usize) -> [usize; 3] {
    before.map(|times| times + more)
}

/// One learnt call with a memory the store declined, and one call pending.
async fn app_with_a_backlog() -> Harness {
    let declining = Arc::new(ScriptedStore {
        declines_key: Some("fact-last_name"),
        ..ScriptedStore::default()
    });
    let app = Harness::new(declining);
    let learnt = app.deliver(&serde_json::from_str(FIXTURE).unwrap()).await;
    app.ingest_now(&learnt).await;
    app.deliver(&transcription("conv_pending", Some(MARIA)))
        .await;
    app
}

async fn probe(app: &Harness) -> IngestionCounts {
    app.ingest.recent_counts().await.unwrap()
}

#[tokio::test]
async fn probes_at_once_and_in_a_row_count_the_backlog_once_per_pending_scan() {
    let app = app_with_a_backlog().await;
    let before = listings(&app);
    let counted_at = app.clock.now();

    let answers = join_all((0..10).map(|_| probe(&app))).await;
    for _ in 0..10 {
        assert_eq!(probe(&app).await, answers[0]);
    }

    let expected = IngestionCounts {
        pending: 1,
        failed: 0,
        not_stored: 1,
        counted_at: Some(counted_at),
    };
    assert!(
        answers.iter().all(|counts| *counts == expected),
        "{answers:?}"
    );
    assert_eq!(listings(&app), plus(before, 1));
}

#[tokio::test]
async fn the_backlog_is_counted_again_once_its_figures_are_a_pending_scan_old() {
    let app = app_with_a_backlog().await;
    let first = probe(&app).await;
    let before = listings(&app);
    app.deliver(&transcription("conv_later", Some(MARIA))).await;

    app.clock.advance(
        chrono::Duration::from_std(DEFAULT_PENDING_SCAN).unwrap()
            - chrono::Duration::milliseconds(1),
    );
    assert_eq!(probe(&app).await, first, "answered from the count");
    assert_eq!(listings(&app), before);

    app.clock.advance(chrono::Duration::milliseconds(1));
    let second = probe(&app).await;
    assert_eq!(second.pending, 2);
    assert_eq!(second.counted_at, Some(app.clock.now()));
    assert_eq!(listings(&app), plus(before, 1));
}

#[tokio::test]
async fn a_clock_set_back_counts_the_backlog_again() {
    let app = app_with_a_backlog().await;
    probe(&app).await;
    let before = listings(&app);

    app.clock.advance(chrono::Duration::seconds(-60));
    let counts = probe(&app).await;

    assert_eq!(counts.counted_at, Some(app.clock.now()));
    assert_eq!(listings(&app), plus(before, 1));
}

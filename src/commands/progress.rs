//! Progress of a long command: one line rewritten in place on a terminal, plain lines every few
//! seconds otherwise (logs, CI).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::core::use_cases::BackfillProgress;

/// How often a plain progress line is written when the output is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Writes backfill progress to standard error.
pub struct ProgressReport {
    interactive: bool,
    started: Instant,
    last_plain: Option<Instant>,
    last: Option<BackfillProgress>,
}

impl ProgressReport {
    pub fn on_stderr() -> Self {
        Self {
            interactive: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last_plain: None,
            last: None,
        }
    }

    pub fn update(&mut self, progress: BackfillProgress) {
        self.last = Some(progress);
        let line = describe(&progress, self.started.elapsed());
        let mut stderr = std::io::stderr().lock();
        if self.interactive {
            let _ = write!(stderr, "\r\x1b[2K{line}");
            let _ = stderr.flush();
        } else if self
            .last_plain
            .is_none_or(|last| last.elapsed() >= PLAIN_EVERY)
        {
            self.last_plain = Some(Instant::now());
            let _ = writeln!(stderr, "{line}");
        }
    }

    /// Ends the progress display with the final state.
    pub fn finish(&mut self) {
        let Some(last) = self.last else { return };
        let line = describe(&last, self.started.elapsed());
        let mut stderr = std::io::stderr().lock();
        if self.interactive {
            let _ = writeln!(stderr, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(stderr, "{line}");
        }
    }
}

/// `fetched 40/180 (22%), 3.1/s, ETA 45s; 2 already archived, 0 failed`.
pub fn describe(progress: &BackfillProgress, elapsed: Duration) -> String {
    let counts = &progress.counts;
    let handled = counts.archived + counts.failed;
    if !progress.listing_done {
        return format!(
            "listing: {} conversations listed, {} to fetch, {} already archived",
            counts.listed, progress.remaining, counts.already_archived
        );
    }
    let total = handled + progress.remaining as u64;
    let percent = (handled * 100).checked_div(total).unwrap_or(100);
    let rate = progress.fetched_this_run as f64 / elapsed.as_secs_f64().max(0.001);
    let eta = if progress.remaining == 0 {
        "done".to_owned()
    } else if progress.fetched_this_run == 0 {
        "ETA unknown".to_owned()
    } else {
        format!(
            "ETA {}",
            duration(Duration::from_secs_f64(progress.remaining as f64 / rate))
        )
    };
    format!(
        "fetched {handled}/{total} ({percent}%), {rate:.1}/s, {eta}; {} learnt, {} already archived, {} failed",
        counts.learnt, counts.already_archived, counts.failed
    )
}

fn duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..=59 => format!("{seconds}s"),
        60..=3599 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::use_cases::BackfillCounts;

    #[test]
    fn the_line_gives_count_rate_and_eta() {
        let progress = BackfillProgress {
            counts: BackfillCounts {
                listed: 200,
                archived: 40,
                learnt: 38,
                already_archived: 20,
                ..BackfillCounts::default()
            },
            listing_done: true,
            remaining: 140,
            fetched_this_run: 40,
        };
        assert_eq!(
            describe(&progress, Duration::from_secs(20)),
            "fetched 40/180 (22%), 2.0/s, ETA 1m10s; 38 learnt, 20 already archived, 0 failed"
        );
    }
}

//! `caller-memory backfill`: learns from the conversations that happened before the service was
//! installed (see [`crate::core::use_cases::backfill`]).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_util::sync::CancellationToken;

use super::progress::ProgressReport;
use crate::config::Settings;
use crate::core::ports::ConversationFilter;
use crate::core::use_cases::{Backfill, BackfillCounts, BackfillOutcome};
use crate::core::AgentId;
use crate::startup;

/// Reads `--agent` and `--since` (`YYYY-MM-DD`, midnight UTC, or an RFC 3339 time).
///
/// # Errors
/// A message naming the flag.
pub fn filter(agent: Option<&str>, since: Option<&str>) -> anyhow::Result<ConversationFilter> {
    let agent = agent
        .map(|raw| AgentId::parse(raw).map_err(|error| anyhow::anyhow!("--agent {raw:?}: {error}")))
        .transpose()?;
    let since = since.map(parse_since).transpose()?;
    Ok(ConversationFilter { agent, since })
}

fn parse_since(raw: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc());
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| anyhow::anyhow!("--since {raw:?}: expected a date such as 2026-01-31 or a time such as 2026-01-31T09:00:00Z"))
}

/// `backfill`: prints a summary; fails when interrupted or stopped by an error (run it again to
/// resume).
pub async fn run(settings: Settings, filter: ConversationFilter) -> anyhow::Result<()> {
    startup::init_tracing(settings.log_format);
    let api = super::api(&settings)?;
    // With shared state, the backfill claims each call as the servers do and may run beside them.
    let _lock = startup::lock_if_single_instance(&settings)?;
    let service = startup::build(&settings).await?;
    startup::require_compatible_memory_store(service.state.memory_store.as_ref()).await?;
    let backfill = Backfill::new(
        Arc::new(api),
        service.state.blob_store.clone(),
        service.ingest.clone(),
    );
    let stop = CancellationToken::new();
    let interrupt = tokio::spawn({
        let stop = stop.clone();
        async move {
            startup::shutdown_signal().await;
            stop.cancel();
        }
    });
    let mut progress = ProgressReport::on_stderr();
    let outcome = backfill
        .run(&filter, &stop, &mut |update| progress.update(update))
        .await;
    progress.finish();
    interrupt.abort();
    match outcome? {
        BackfillOutcome::Completed(counts) => {
            println!("backfill: {}", summary(&counts));
            Ok(())
        }
        BackfillOutcome::Interrupted(counts) => {
            println!("backfill: {}", summary(&counts));
            anyhow::bail!("the backfill was interrupted; run the same command again to resume")
        }
    }
}

fn summary(counts: &BackfillCounts) -> String {
    format!(
        "{} listed, {} archived ({} learnt, {} with nothing learnt), {} already archived, {} unfinished, {} could not be fetched",
        counts.listed,
        counts.archived,
        counts.learnt,
        counts.not_learnt,
        counts.already_archived,
        counts.unfinished,
        counts.failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_date_or_a_time_and_bad_input_names_the_flag() {
        let day = filter(None, Some("2026-01-31")).unwrap().since.unwrap();
        assert_eq!(day.to_rfc3339(), "2026-01-31T00:00:00+00:00");
        let time = filter(None, Some("2026-01-31T09:30:00+01:00"))
            .unwrap()
            .since
            .unwrap();
        assert_eq!(time.to_rfc3339(), "2026-01-31T08:30:00+00:00");
        assert!(filter(None, Some("last week"))
            .unwrap_err()
            .to_string()
            .starts_with("--since"));
        assert!(filter(Some("../x"), None)
            .unwrap_err()
            .to_string()
            .starts_with("--agent"));
    }
}

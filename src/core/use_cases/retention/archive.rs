//! Expiring archived calls: recordings, transcriptions and initiation failures.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{cutoff, SweepError, SweepReport, SweepRetention};
use crate::core::ports::{BlobKey, BlobStoreError, PutCondition};
use crate::core::use_cases::ingest_call::caller::resolve_caller;
use crate::core::use_cases::ingest_call::records::{delete_outcome_markers, Folder};
use crate::core::use_cases::ArchivedPayload;
use crate::core::{ConversationId, STATE_PREFIX};

fn dates_prefix() -> String {
    format!("{STATE_PREFIX}retention/calls/")
}

/// What the store holds of one archived call.
#[derive(Debug, Default)]
struct ArchivedCall {
    files: Vec<ArchivedPayload>,
    /// The call's recorded start (the earliest, if two sweeps dated it at once).
    started: Option<DateTime<Utc>>,
    date_keys: Vec<BlobKey>,
    /// Its ingestion is pending: its transcription must stay until it has been learnt from.
    pending: bool,
}

/// Every archived call, its files and its date, from one listing of the whole store.
fn survey(keys: &[BlobKey]) -> BTreeMap<ConversationId, ArchivedCall> {
    let dates = dates_prefix();
    let mut calls: BTreeMap<ConversationId, ArchivedCall> = BTreeMap::new();
    for key in keys {
        if let Some((conversation, seconds)) = key
            .as_str()
            .strip_prefix(&dates)
            .and_then(|name| name.split_once('.'))
        {
            let (Ok(conversation), Some(started)) = (
                ConversationId::parse(conversation),
                seconds
                    .parse()
                    .ok()
                    .and_then(|seconds| DateTime::from_timestamp(seconds, 0)),
            ) else {
                continue;
            };
            let call = calls.entry(conversation).or_default();
            call.started = Some(call.started.map_or(started, |known| known.min(started)));
            call.date_keys.push(key.clone());
        } else if let Some(conversation) = Folder::Pending.conversation_of(key) {
            calls.entry(conversation).or_default().pending = true;
        } else if let Some((conversation, payload)) = archived_file(key) {
            calls.entry(conversation).or_default().files.push(payload);
        }
    }
    calls
}

/// The conversation and kind of an archived file (`{id}/{id}_{kind}`).
fn archived_file(key: &BlobKey) -> Option<(ConversationId, ArchivedPayload)> {
    let folder = key.as_str().split('/').next()?;
    let conversation = ConversationId::parse(folder).ok()?;
    let payload = ArchivedPayload::ALL
        .into_iter()
        .find(|payload| payload.key(&conversation) == *key)?;
    Some((conversation, payload))
}

impl SweepRetention {
    /// Dates the calls not dated yet, then deletes the files past their period, oldest calls
    /// first, within the batch.
    pub(super) async fn sweep_archive(
        &self,
        now: DateTime<Utc>,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        let mut calls = survey(&self.blobs.list("").await?);
        let mut budget = self.policy.batch;
        for (conversation, call) in calls
            .iter_mut()
            .filter(|(_, call)| call.started.is_none() && !call.files.is_empty())
        {
            if budget == 0 {
                report.unfinished = true;
                return Ok(());
            }
            budget -= 1;
            self.date(conversation, call, now).await?;
            report.conversations_dated += 1;
        }
        let mut due: Vec<(DateTime<Utc>, &ConversationId, &ArchivedCall)> = calls
            .iter()
            .filter_map(|(conversation, call)| {
                let started = call.started?;
                let stale_date = call.files.is_empty();
                (stale_date || !self.due_files(call, started, now).is_empty()).then_some((
                    started,
                    conversation,
                    call,
                ))
            })
            .collect();
        due.sort_by_key(|(started, ..)| *started);
        for (started, conversation, call) in due {
            if budget == 0 {
                report.unfinished = true;
                return Ok(());
            }
            budget -= 1;
            self.expire(
                conversation,
                call,
                self.due_files(call, started, now),
                report,
            )
            .await?;
        }
        Ok(())
    }

    /// The files of `call` past their period.
    fn due_files(
        &self,
        call: &ArchivedCall,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<ArchivedPayload> {
        let older_than = |days| cutoff(now, days).is_some_and(|cutoff| started < cutoff);
        call.files
            .iter()
            .copied()
            .filter(|payload| match payload {
                ArchivedPayload::Audio => older_than(self.policy.audio_days),
                ArchivedPayload::Transcription => {
                    !call.pending && older_than(self.policy.transcript_days)
                }
                ArchivedPayload::InitiationFailure => older_than(self.policy.transcript_days),
            })
            .collect()
    }

    /// Records when `call` started: from its transcription, else now (see the module docs).
    async fn date(
        &self,
        conversation: &ConversationId,
        call: &mut ArchivedCall,
        now: DateTime<Utc>,
    ) -> Result<(), BlobStoreError> {
        let mut started = None;
        if call.files.contains(&ArchivedPayload::Transcription) {
            let key = ArchivedPayload::Transcription.key(conversation);
            if let Some(blob) = self.blobs.get(&key).await? {
                started = (self.parse)(&blob.bytes)
                    .ok()
                    .and_then(|transcribed| transcribed.started_at);
            }
        }
        let started = started.unwrap_or(now);
        let key = BlobKey::parse(&format!(
            "{}{conversation}.{}",
            dates_prefix(),
            started.timestamp()
        ))
        .expect("a conversation id and a number always make a valid key");
        self.blobs
            .put(&key, Bytes::new(), PutCondition::Overwrite)
            .await?;
        call.started = Some(started);
        call.date_keys.push(key);
        Ok(())
    }

    /// Deletes `due` files of one call; its date goes with its last file.
    async fn expire(
        &self,
        conversation: &ConversationId,
        call: &ArchivedCall,
        due: Vec<ArchivedPayload>,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        for payload in &due {
            match payload {
                ArchivedPayload::Audio => report.audio_files += 1,
                ArchivedPayload::Transcription => {
                    self.forget_summary_of(conversation, report).await?;
                    delete_outcome_markers(&*self.blobs, conversation).await?;
                    report.transcripts += 1;
                }
                ArchivedPayload::InitiationFailure => report.failure_files += 1,
            }
            self.blobs.delete(&payload.key(conversation)).await?;
        }
        if call.files.iter().all(|file| due.contains(file)) {
            for key in &call.date_keys {
                self.blobs.delete(key).await?;
            }
        }
        Ok(())
    }

    /// The caller of an archived transcription loses its summary from their card.
    async fn forget_summary_of(
        &self,
        conversation: &ConversationId,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        let key = ArchivedPayload::Transcription.key(conversation);
        let Some(blob) = self.blobs.get(&key).await? else {
            return Ok(());
        };
        let Ok(call) = (self.parse)(&blob.bytes) else {
            return Ok(());
        };
        match resolve_caller(&call.caller) {
            Ok(caller) => self.forget_summary(&caller, conversation, report).await,
            Err(_) => Ok(()),
        }
    }
}

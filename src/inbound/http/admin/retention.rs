//! The retention sweep, on demand.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{admin, sweep_failure, AdminError, AdminKey};
use crate::core::use_cases::retention::{SweepReport, SweepRetention};
use crate::inbound::http::body_limit::small_bodies;
use crate::inbound::http::state::AppState;
use crate::inbound::http::ApiTags;

/// What a retention sweep removed, counted per kind.
#[derive(Debug, Object)]
pub struct SweepReportBody {
    /// `RETENTION_AUDIO_DAYS`, or null when recordings are kept for ever.
    pub audio_days: Option<u32>,
    /// `RETENTION_TRANSCRIPT_DAYS`, or null when transcriptions are kept for ever.
    pub transcript_days: Option<u32>,
    /// `RETENTION_MEMORY_DAYS`, or null when memories are kept for ever.
    pub memory_days: Option<u32>,
    /// Archived recordings deleted.
    pub audio_files: u64,
    /// Archived transcriptions deleted.
    pub transcripts: u64,
    /// Archived call-initiation failures deleted.
    pub failure_files: u64,
    /// Memories deleted.
    pub memories: u64,
    /// Call summaries removed from profile cards (the calls stay counted).
    pub summaries: u64,
    /// Calls whose start time was recorded for later sweeps.
    pub conversations_dated: u64,
    /// More was due than one sweep does (`RETENTION_SWEEP_BATCH`); the next sweep goes on.
    pub unfinished: bool,
}

impl SweepReportBody {
    pub fn new(retention: &SweepRetention, report: SweepReport) -> Self {
        let count = |value: usize| value as u64;
        let policy = retention.policy();
        Self {
            audio_days: policy.audio_days,
            transcript_days: policy.transcript_days,
            memory_days: policy.memory_days,
            audio_files: count(report.audio_files),
            transcripts: count(report.transcripts),
            failure_files: count(report.failure_files),
            memories: count(report.memories),
            summaries: count(report.summaries),
            conversations_dated: count(report.conversations_dated),
            unfinished: report.unfinished,
        }
    }
}

#[derive(ApiResponse)]
pub enum SweepSuccess {
    /// The sweep ran (all counts are 0 when nothing was due or retention is off).
    #[oai(status = 200)]
    Swept(Json<SweepReportBody>),
}

pub struct RetentionApi;

#[OpenApi(tag = "ApiTags::Administration")]
impl RetentionApi {
    /// Sweep expired data now
    ///
    /// Deletes the recordings, archived transcriptions and memories older than their retention
    /// period (`RETENTION_AUDIO_DAYS`, `RETENTION_TRANSCRIPT_DAYS`, `RETENTION_MEMORY_DAYS`),
    /// as the periodic sweep does, and answers what was removed. Profile cards keep their call
    /// counts; the summaries of deleted calls are removed from them. One sweep does at most
    /// `RETENTION_SWEEP_BATCH` conversations; `unfinished` says when more is due.
    #[oai(
        path = "/admin/retention/sweep",
        method = "post",
        transform = "small_bodies"
    )]
    async fn sweep(
        &self,
        state: Data<&Arc<AppState>>,
        AdminKey(access): AdminKey,
    ) -> Result<SweepSuccess, AdminError> {
        let admin = admin(&state, access)?;
        let retention = &admin.privacy.retention;
        let report = retention.sweep().await.map_err(sweep_failure)?;
        tracing::info!(
            ?report,
            "retention sweep requested through the administration API"
        );
        Ok(SweepSuccess::Swept(Json(SweepReportBody::new(
            retention, report,
        ))))
    }
}

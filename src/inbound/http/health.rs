//! Liveness and readiness probes.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::core::ports::{ErrorChain, IngestionCounts};
use crate::inbound::http::body_limit::small_bodies;
use crate::inbound::http::state::AppState;
use crate::inbound::http::ApiTags;

/// The state of the service or of one of its backends.
#[derive(Debug, Object)]
pub struct HealthStatus {
    /// `ok` or `unavailable`.
    pub status: String,
    /// One line per backend that is not ready, saying why.
    pub problems: Vec<String>,
    /// Things about a working backend worth knowing, for example that the memory store keeps long
    /// memories in parts (readiness only; absent when there are none).
    #[oai(default, skip_serializing_if_is_empty)]
    pub notices: Vec<String>,
    /// Archived calls not learnt from yet (readiness only).
    #[oai(skip_serializing_if_is_none)]
    pub pending_ingestions: Option<u64>,
    /// Archived calls that could not be learnt from; `caller-memory replay` tries them again
    /// (readiness only).
    #[oai(skip_serializing_if_is_none)]
    pub failed_ingestions: Option<u64>,
    /// Memories of learnt calls that the memory store declined to keep (OpenMemory merges
    /// similar text across callers); `caller-memory replay` tries them again (readiness only).
    #[oai(skip_serializing_if_is_none)]
    pub not_stored_memories: Option<u64>,
    /// When the three ingestion figures above were counted (RFC 3339). An instance counts them at
    /// most once per `PENDING_SCAN_MS` (5 s by default), so they may be that old; the first
    /// probe after that counts them again (readiness only).
    #[oai(skip_serializing_if_is_none)]
    pub ingestions_counted_at: Option<String>,
}

#[derive(ApiResponse)]
pub enum LiveResponse {
    /// The process is up and answering.
    #[oai(status = 200)]
    Ok(Json<HealthStatus>),
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Every backend is reachable and working.
    #[oai(status = 200)]
    Ready(Json<HealthStatus>),
    /// At least one backend is not ready; `problems` says which and why.
    #[oai(status = 503)]
    NotReady(Json<HealthStatus>),
}

pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Operations")]
impl HealthApi {
    /// Liveness
    ///
    /// Answers 200 as long as the process serves requests; checks no backend.
    #[oai(
        path = "/health",
        method = "get",
        operation_id = "health",
        transform = "small_bodies"
    )]
    async fn health(&self) -> LiveResponse {
        LiveResponse::Ok(Json(HealthStatus {
            status: "ok".into(),
            problems: Vec::new(),
            notices: Vec::new(),
            pending_ingestions: None,
            failed_ingestions: None,
            not_stored_memories: None,
            ingestions_counted_at: None,
        }))
    }

    /// Readiness
    ///
    /// Checks every backend (memory store, payload storage) and answers 503 with the reasons
    /// when one is not ready. Also tells how many archived calls are waiting to be learnt from
    /// and how many failed, as counted at most `PENDING_SCAN_MS` ago.
    #[oai(
        path = "/ready",
        method = "get",
        operation_id = "ready",
        transform = "small_bodies"
    )]
    async fn ready(&self, state: Data<&Arc<AppState>>) -> ReadyResponse {
        let readiness = Readiness::assess(&state).await;
        let body = HealthStatus {
            status: if readiness.problems.is_empty() {
                "ok"
            } else {
                "unavailable"
            }
            .into(),
            pending_ingestions: readiness.ingestion.map(|counts| counts.pending as u64),
            failed_ingestions: readiness.ingestion.map(|counts| counts.failed as u64),
            not_stored_memories: readiness.ingestion.map(|counts| counts.not_stored as u64),
            ingestions_counted_at: readiness
                .ingestion
                .and_then(|counts| counts.counted_at)
                .map(|at| at.to_rfc3339()),
            problems: readiness.problems,
            notices: readiness.notices,
        };
        if body.problems.is_empty() {
            ReadyResponse::Ready(Json(body))
        } else {
            ReadyResponse::NotReady(Json(body))
        }
    }
}

/// What `/ready` and `caller-memory check` report.
#[derive(Debug)]
pub struct Readiness {
    /// One line per backend that is not ready, saying why.
    pub problems: Vec<String>,
    /// Things about working backends worth knowing.
    pub notices: Vec<String>,
    /// The ingestion backlog, when it could be read.
    pub ingestion: Option<IngestionCounts>,
}

impl Readiness {
    /// Checks every backend and reads the ingestion backlog, all at once.
    pub async fn assess(state: &AppState) -> Self {
        let (memory, notices, storage, ingestion) = tokio::join!(
            state.memory_store.check(),
            state.memory_store.notices(),
            state.blob_store.check(),
            state.ingestion.counts()
        );
        let mut problems = Vec::new();
        match memory {
            Ok(()) => state.ingestion.memory_store_healthy(),
            Err(error) => problems.push(format!("memory store: {}", ErrorChain(&error))),
        }
        if let Err(error) = storage {
            problems.push(format!("payload storage: {}", ErrorChain(&error)));
        }
        let ingestion = match ingestion {
            Ok(counts) => Some(counts),
            Err(error) => {
                problems.push(format!("ingestion backlog: {}", ErrorChain(&error)));
                None
            }
        };
        Self {
            problems,
            notices: notices
                .into_iter()
                .map(|notice| format!("memory store: {notice}"))
                .collect(),
            ingestion,
        }
    }
}

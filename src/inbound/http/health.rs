//! Liveness and readiness probes.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::inbound::http::state::AppState;
use crate::inbound::http::ApiTags;

/// The state of the service or of one of its backends.
#[derive(Debug, Object)]
pub struct HealthStatus {
    /// `ok` or `unavailable`.
    pub status: String,
    /// One line per backend that is not ready, saying why.
    pub problems: Vec<String>,
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
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> LiveResponse {
        LiveResponse::Ok(Json(HealthStatus {
            status: "ok".into(),
            problems: Vec::new(),
        }))
    }

    /// Readiness
    ///
    /// Checks every backend (memory store, payload storage) and answers 503 with the reasons
    /// when one is not ready.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self, state: Data<&Arc<AppState>>) -> ReadyResponse {
        let problems = readiness_problems(&state).await;
        if problems.is_empty() {
            ReadyResponse::Ready(Json(HealthStatus {
                status: "ok".into(),
                problems,
            }))
        } else {
            ReadyResponse::NotReady(Json(HealthStatus {
                status: "unavailable".into(),
                problems,
            }))
        }
    }
}

/// Checks every backend and describes each one that is not ready.
pub async fn readiness_problems(state: &AppState) -> Vec<String> {
    let (memory, storage) = tokio::join!(state.memory_store.check(), state.blob_store.check());
    let mut problems = Vec::new();
    if let Err(error) = memory {
        problems.push(format!("memory store: {error}"));
    }
    if let Err(error) = storage {
        problems.push(format!("payload storage: {error}"));
    }
    problems
}

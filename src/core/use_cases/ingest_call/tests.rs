//! Ingestion end to end over in-memory fakes of the ports.

mod backlog;
mod concurrency;
mod delivery;
mod erasure;
mod failures;
mod migration;
mod real_calls;
pub(super) mod support;
mod telemetry;

//! The ports: what the core needs from the outside world. Adapters implement them.
//!
//! Every port is a `Send + Sync + 'static` trait used as `Arc<dyn Port>`, and documents which
//! errors it returns and when.

mod blob_store;
mod clock;
mod embedder;
mod ingestion_scheduler;
mod memory_store;
mod telemetry;

pub use blob_store::*;
pub use clock::*;
pub use embedder::*;
pub use ingestion_scheduler::*;
pub use memory_store::*;
pub use telemetry::*;

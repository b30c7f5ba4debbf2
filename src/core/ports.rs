//! The ports: what the core needs from the outside world. Adapters implement them.
//!
//! Every port is a `Send + Sync + 'static` trait used as `Arc<dyn Port>`, and documents which
//! errors it returns and when.

mod agent_settings;
mod blob_store;
mod caller_memo;
mod cause;
mod clock;
mod embedder;
mod ingestion_scheduler;
mod memory_store;
mod past_conversations;
mod telemetry;

pub use agent_settings::*;
pub use blob_store::*;
pub use caller_memo::*;
pub use cause::{BoxError, ErrorChain};
pub use clock::*;
pub use embedder::*;
pub use ingestion_scheduler::*;
pub use memory_store::*;
pub use past_conversations::*;
pub use telemetry::*;

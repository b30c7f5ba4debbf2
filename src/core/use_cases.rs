//! The use cases: greet a caller, search their memories, ingest a finished call.

mod archive_post_call;
pub mod ingest_call;

pub use archive_post_call::{ArchiveError, ArchivePostCall, ArchivedPayload};

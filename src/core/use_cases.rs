//! The use cases: greet a caller, search their memories, ingest a finished call.

mod archive_post_call;
pub mod backfill;
pub mod caller_privacy;
mod card_memo;
pub mod greet_caller;
pub mod ingest_call;
mod read_profile;
pub mod retention;
pub mod search_memories;
#[cfg(test)]
mod test_support;

pub use archive_post_call::{ArchiveError, ArchivePostCall, Archived, ArchivedPayload};
pub use backfill::{Backfill, BackfillCounts, BackfillError, BackfillOutcome, BackfillProgress};
pub use greet_caller::{
    FirstMessagePolicy, GreetCaller, Greeting, OverrideGate, OverrideVerdict, WithheldReason,
};
pub use read_profile::ReadProfileError;
pub use search_memories::{MemorySearch, MemorySearchStatus, SearchMemories};

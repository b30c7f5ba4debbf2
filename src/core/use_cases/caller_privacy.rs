//! A caller's data under the caller's control: the caller -> conversations index kept at
//! ingestion, erasure with a tombstone that outlives it, and export.
//!
//! Everything here lives in the blob store under `.state/privacy/`:
//! - `caller-hash-key`: the random key of the keyed hash that names callers below (created once,
//!   shared by every instance on the same store);
//! - `callers/{hash}.json`: the conversations of one caller, so that an erasure or an export
//!   never scans the whole archive;
//! - `erased/{hash}.json`: the tombstone of an erased caller (when, and which conversations);
//! - `erased-conversations/{id}.json`: one marker per erased conversation, read before a delivery
//!   is archived and before a call is learnt, so that a retried delivery or a replay never brings
//!   an erased call back.
//!
//! No record holds a phone number: callers are named by an HMAC-SHA256 of their E.164 number.

mod erase;
mod export;
mod hasher;
mod records;

pub use erase::{EraseCaller, EraseError, ErasureReceipt};
pub use export::{CallerExport, ExportCaller, ExportedCall, Recordings};
pub use hasher::{CallerHash, CallerHasher, HASH_KEY_BYTES};
pub use records::{is_erased, CallerIndex, MarkDoNotRemember};

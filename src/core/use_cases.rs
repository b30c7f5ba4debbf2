//! The use cases: greet a caller, search their memories, ingest a finished call.

pub mod ingest_call;

//! Integration tests: the real application on a free port, driven over HTTP, and the memory store
//! adapters against a fake OpenMemory server and a temporary SQLite file.

mod calls;
mod cli;
mod client_data;
mod crash;
mod embedded_store;
mod end_to_end;
mod erasure;
mod faults;
mod health;
mod helpers;
mod hostile_requests;
mod ingestion;
mod memory_store_conformance;
mod openapi;
mod openmemory_store;
mod post_call;
mod privacy;
mod privacy_commands;
mod profiles;
mod redaction;
mod search_data;
mod service_process;
mod support;

//! Integration tests: the real application on a free port, driven over HTTP, and the memory store
//! adapters against a fake OpenMemory server, a temporary SQLite file and a fresh Postgres
//! database.

mod blob_store_conformance;
mod bucket_service;
mod calls;
mod cli;
mod client_data;
mod cluster;
mod crash;
mod edge;
mod elevenlabs_commands;
mod embedded_store;
mod end_to_end;
mod erasure;
mod faults;
mod health;
mod helpers;
mod hostile_requests;
mod ingestion;
mod instances;
mod memory_store_conformance;
mod metrics;
mod model_download;
mod openapi;
mod openmemory_store;
mod post_call;
mod postgres_store;
mod privacy;
mod privacy_commands;
mod profiles;
mod recall_eval;
mod redaction;
mod safe_overrides;
mod search_data;
mod service_process;
mod support;

//! Integration tests: the real application on a free port, driven over HTTP, and the memory store
//! adapters against a fake OpenMemory server and a temporary SQLite file.

mod cli;
mod embedded_store;
mod health;
mod helpers;
mod hostile_requests;
mod memory_store_conformance;
mod openapi;
mod openmemory_store;
mod post_call;
mod privacy;
mod service_process;
mod support;

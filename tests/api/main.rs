//! The integration test binary: one module per area.

mod embedded_store;
mod memory_store_conformance;
mod openmemory_store;
mod support;

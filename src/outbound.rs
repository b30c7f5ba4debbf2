//! Outbound adapters: implementations of the core's ports.

pub mod embedded;
pub mod openmemory;
pub mod system_clock;

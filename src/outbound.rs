//! Outbound adapters: implementations of the core's ports.

pub mod system_clock;

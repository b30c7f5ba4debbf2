//! caller-memory: persistent memory of phone callers for ElevenLabs voice agents.
//!
//! The crate is shaped as ports and adapters:
//! - [`core`]: domain types, ports and use cases; no framework or I/O crate.
//! - [`inbound`]: the HTTP adapter ElevenLabs talks to.
//! - [`outbound`]: adapters for the ports (OpenMemory, embedded SQLite, local disk, system time).
//! - [`metrics`]: the Prometheus metrics of a running service.
//! - [`config`] and [`cli`]: configuration and the command line, used by the binary to wire
//!   everything together; [`commands`]: the commands that use the ElevenLabs API.

pub mod cli;
pub mod commands;
pub mod config;
pub mod core;
pub mod inbound;
pub mod metrics;
pub mod outbound;
pub mod startup;
#[cfg(any(test, feature = "test-doubles"))]
pub mod test_doubles;

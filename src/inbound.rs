//! Inbound adapters: how the outside world reaches the core.

pub mod http;

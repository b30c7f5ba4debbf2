//! Inbound adapters: how the outside world reaches the core.

pub mod elevenlabs;
pub mod http;

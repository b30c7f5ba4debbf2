//! Adapters of the [`crate::core::ports::Embedder`] port: a sentence model run in process from
//! its files ([`local`]), an OpenAI-compatible embeddings API ([`http`]), and the models the service can download ([`catalogue`]).

pub mod catalogue;
pub mod http;
pub mod local;

pub use http::HttpEmbedder;
pub use local::LocalEmbedder;

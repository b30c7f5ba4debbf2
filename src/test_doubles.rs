//! In-memory fakes of every port, for tests here and in downstream crates.
//!
//! Enabled by the `test-doubles` cargo feature, which also exports the mockall mocks
//! (`MockMemoryStore`, `MockBlobStore`, `MockClock`) next to each port.

mod blob_store;
mod clock;
mod embedder;
mod memory_store;
mod samples;
mod test_model;

pub use blob_store::InMemoryBlobStore;
pub use clock::ManualClock;
pub use embedder::ThesaurusEmbedder;
pub use memory_store::InMemoryMemoryStore;
pub use samples::utterance;
pub use test_model::{link_test_model_into, test_model_folder};

//! Outbound adapters: implementations of the core's ports.

pub mod cached_blob_store;
pub mod data_folder_lock;
pub mod disk_blob_store;
pub mod elevenlabs;
pub mod embedded;
pub mod embedder;
pub mod model_download;
pub mod object_blob_store;
pub mod openmemory;
pub mod postgres;
pub mod system_clock;
pub(crate) mod vector_bytes;

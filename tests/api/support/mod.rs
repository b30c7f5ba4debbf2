//! Helpers shared by the integration tests. Not every test module uses every helper.
#![allow(dead_code)]

pub mod fake_elevenlabs;
pub mod fake_openmemory;

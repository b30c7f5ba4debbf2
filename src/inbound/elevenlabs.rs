//! ElevenLabs wire formats that are read outside an HTTP request, such as archived webhook
//! bodies.

pub mod transcription;

pub use transcription::parse_transcription;

//! The few fields of a staged post-call event that decide where it goes (`type`,
//! `data.conversation_id`, and where `data.full_audio` lies), found without loading it.
//!
//! An audio event can exceed 100 MB, so the file is read twice through a small buffer: serde_json
//! checks that it is valid JSON (ignoring every value, which keeps nothing in memory), then a
//! scanner that relies on that validity walks the top-level object and the `data` object in
//! whatever order their keys come, and records the byte range of the `full_audio` string.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::ops::Range;
use std::path::Path;

use serde::de::IgnoredAny;

const READ_BUFFER: usize = 64 * 1024;
/// Longer `type` or `conversation_id` values are cut here; no valid one comes close.
const MAX_CAPTURED: usize = 256;

/// What the event says about itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The top-level `type`, when it is a string.
    pub kind: Option<String>,
    /// `data.conversation_id`, when it is a string.
    pub conversation_id: Option<String>,
    /// The bytes between the quotes of `data.full_audio`, when it is a string.
    pub full_audio: Option<Range<u64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the body is not a JSON object")]
    NotAnObject,
    #[error("the staged body could not be read: {0}")]
    Unreadable(#[from] io::Error),
}

/// Validates the file as JSON, then reads its envelope. Blocking: run it off the async workers.
pub fn read_envelope(path: &Path) -> Result<Envelope, EnvelopeError> {
    let reader = BufReader::with_capacity(READ_BUFFER, File::open(path)?);
    serde_json::from_reader::<_, IgnoredAny>(reader).map_err(|error| match error.is_io() {
        true => EnvelopeError::Unreadable(io::Error::other(error)),
        false => EnvelopeError::InvalidJson(error.to_string()),
    })?;
    let mut scanner = Scanner {
        reader: BufReader::with_capacity(READ_BUFFER, File::open(path)?),
        position: 0,
    };
    scanner.envelope()
}

/// Walks JSON already known to be valid, counting the bytes it consumes.
struct Scanner<R> {
    reader: R,
    position: u64,
}

impl<R: BufRead> Scanner<R> {
    fn envelope(&mut self) -> Result<Envelope, EnvelopeError> {
        let mut envelope = Envelope::default();
        if self.significant()? != b'{' {
            return Err(EnvelopeError::NotAnObject);
        }
        while let Some(key) = self.next_key()? {
            let first = self.significant()?;
            match (key.as_str(), first) {
                ("type", b'"') => envelope.kind = Some(self.captured_string()?),
                ("data", b'{') => self.data_object(&mut envelope)?,
                _ => self.skip_value(first)?,
            }
        }
        Ok(envelope)
    }

    fn data_object(&mut self, envelope: &mut Envelope) -> io::Result<()> {
        while let Some(key) = self.next_key()? {
            let first = self.significant()?;
            match (key.as_str(), first) {
                ("conversation_id", b'"') => {
                    envelope.conversation_id = Some(self.captured_string()?);
                }
                ("full_audio", b'"') => {
                    let start = self.position;
                    self.skip_string()?;
                    // The closing quote has been consumed; the content ends just before it.
                    envelope.full_audio = Some(start..self.position - 1);
                }
                _ => self.skip_value(first)?,
            }
        }
        Ok(())
    }

    /// After `{` or a member: the next key (its `:` consumed), or `None` at the closing `}`.
    fn next_key(&mut self) -> io::Result<Option<String>> {
        let mut next = self.significant()?;
        if next == b',' {
            next = self.significant()?;
        }
        if next != b'"' {
            return Ok(None);
        }
        let key = self.captured_string()?;
        self.significant()?; // the colon
        Ok(Some(key))
    }

    /// The next byte that is not JSON whitespace.
    fn significant(&mut self) -> io::Result<u8> {
        loop {
            let byte = self.byte()?;
            if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(byte);
            }
        }
    }

    fn byte(&mut self) -> io::Result<u8> {
        let byte = *self
            .reader
            .fill_buf()?
            .first()
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        self.consume(1);
        Ok(byte)
    }

    fn consume(&mut self, count: usize) {
        self.reader.consume(count);
        self.position += count as u64;
    }

    /// Reads the rest of a string whose opening quote is consumed, keeping its first bytes and
    /// decoding escapes.
    fn captured_string(&mut self) -> io::Result<String> {
        let mut raw = vec![b'"'];
        loop {
            match self.byte()? {
                b'"' => break,
                b'\\' => {
                    let escaped = self.byte()?;
                    raw.extend_from_slice(&[b'\\', escaped]);
                }
                byte => raw.push(byte),
            }
            if raw.len() > MAX_CAPTURED {
                self.skip_string()?;
                break;
            }
        }
        raw.push(b'"');
        Ok(serde_json::from_slice::<String>(&raw)
            .unwrap_or_else(|_| String::from_utf8_lossy(&raw[1..raw.len() - 1]).into_owned()))
    }

    /// Skips the rest of a string whose opening quote is consumed, a buffer at a time.
    fn skip_string(&mut self) -> io::Result<()> {
        let mut escaped = false;
        loop {
            let buffer = self.reader.fill_buf()?;
            if buffer.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let mut end = None;
            for (index, &byte) in buffer.iter().enumerate() {
                match (escaped, byte) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => {
                        end = Some(index + 1);
                        break;
                    }
                    (false, _) => {}
                }
            }
            let length = buffer.len();
            self.consume(end.unwrap_or(length));
            if end.is_some() {
                return Ok(());
            }
        }
    }

    /// Skips the rest of a value whose first byte is `first`.
    fn skip_value(&mut self, first: u8) -> io::Result<()> {
        match first {
            b'"' => self.skip_string(),
            b'{' | b'[' => self.skip_nested(),
            _ => self.skip_scalar(),
        }
    }

    fn skip_nested(&mut self) -> io::Result<()> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.byte()? {
                b'"' => self.skip_string()?,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth -= 1,
                _ => {}
            }
        }
        Ok(())
    }

    /// A number, `true`, `false` or `null`: everything up to the next delimiter, left unread.
    fn skip_scalar(&mut self) -> io::Result<()> {
        loop {
            let next = self.reader.fill_buf()?.first().copied();
            match next {
                None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') => return Ok(()),
                Some(_) => self.consume(1),
            }
        }
    }
}

#[cfg(test)]
mod tests;

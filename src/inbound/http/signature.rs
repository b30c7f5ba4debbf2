//! The `ElevenLabs-Signature` scheme: `t=<unix seconds>,v0=<lowercase hex HMAC-SHA256>` keyed
//! with the post-call secret over `"{t}."` followed by the raw body.
//!
//! Verification is incremental so that a body of any size can be checked while it streams to
//! disk: [`SignatureHeader::parse`] reads the header, [`BodyVerifier::start`] checks the
//! timestamp against the time it is given, [`BodyVerifier::update`] takes the body chunk by
//! chunk and [`BodyVerifier::verify`] compares in constant time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub type HmacSha256 = Hmac<Sha256>;

/// How far ahead of our clock a timestamp may be. ElevenLabs signs at delivery time, so a
/// timestamp from further ahead is a forgery or a badly wrong clock; the SDKs do not check this.
pub const MAX_CLOCK_AHEAD: Duration = Duration::from_secs(5 * 60);

/// The header value ElevenLabs would send for `body` at `timestamp`.
pub fn sign(key: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).expect("hmac accepts any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v0={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Why a delivery was refused. Only logs say which; the sender only learns that it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the ElevenLabs-Signature header is missing or empty")]
    Missing,
    #[error("the ElevenLabs-Signature header has no usable t= and v0= parts")]
    Malformed,
    #[error("the signature timestamp is older than the tolerance")]
    Expired,
    #[error("the signature timestamp is too far in the future")]
    FromTheFuture,
    #[error("no v0 signature matches the body")]
    Mismatch,
    #[error("no post-call key is configured")]
    NoKey,
}

/// A parsed `ElevenLabs-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// `t` exactly as sent: the signed bytes start with it.
    timestamp_text: String,
    timestamp: i64,
    /// Every `v0` that is 64 lowercase hex digits; others can never match and are dropped.
    candidates: Vec<[u8; 32]>,
}

impl SignatureHeader {
    /// Reads `t=<digits>` and one or more `v0=` parts, in any order, each optionally surrounded
    /// by whitespace (stricter parsers, like the SDKs', refuse the space after a comma). Parts
    /// with other names are ignored, for schemes added later.
    pub fn parse(header: Option<&str>) -> Result<Self, SignatureError> {
        let header = header.map(str::trim).unwrap_or_default();
        if header.is_empty() {
            return Err(SignatureError::Missing);
        }
        let mut timestamp_text = None;
        let mut saw_v0 = false;
        let mut candidates = Vec::new();
        for part in header.split(',').map(str::trim) {
            if let Some(value) = part.strip_prefix("t=") {
                if timestamp_text.replace(value).is_some() {
                    return Err(SignatureError::Malformed);
                }
            } else if let Some(value) = part.strip_prefix("v0=") {
                saw_v0 = true;
                candidates.extend(lowercase_hex_digest(value));
            }
        }
        let (Some(timestamp_text), true) = (timestamp_text, saw_v0) else {
            return Err(SignatureError::Malformed);
        };
        let timestamp = unix_seconds(timestamp_text).ok_or(SignatureError::Malformed)?;
        Ok(Self {
            timestamp_text: timestamp_text.to_owned(),
            timestamp,
            candidates,
        })
    }
}

fn unix_seconds(text: &str) -> Option<i64> {
    let digits_only =
        !text.is_empty() && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit());
    digits_only.then(|| text.parse().ok()).flatten()
}

fn lowercase_hex_digest(text: &str) -> Option<[u8; 32]> {
    // ElevenLabs sends lowercase hex; the SDKs compare text and so refuse uppercase. So do we.
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut digest = [0u8; 32];
    hex::decode_to_slice(text, &mut digest).ok()?;
    Some(digest)
}

/// The HMAC of a body that is still arriving.
pub struct BodyVerifier {
    mac: HmacSha256,
    candidates: Vec<[u8; 32]>,
}

impl BodyVerifier {
    /// Refuses a timestamp older than `tolerance` (exactly `tolerance` old is accepted) or more
    /// than [`MAX_CLOCK_AHEAD`] ahead of `now`, then starts the HMAC with `"{t}."`.
    pub fn start(
        key: &str,
        header: SignatureHeader,
        now: DateTime<Utc>,
        tolerance: Duration,
    ) -> Result<Self, SignatureError> {
        if key.is_empty() {
            return Err(SignatureError::NoKey);
        }
        let age = now.timestamp().saturating_sub(header.timestamp);
        if age > i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX) {
            return Err(SignatureError::Expired);
        }
        if -age > MAX_CLOCK_AHEAD.as_secs() as i64 {
            return Err(SignatureError::FromTheFuture);
        }
        let mut mac =
            HmacSha256::new_from_slice(key.as_bytes()).expect("hmac accepts any key length");
        mac.update(header.timestamp_text.as_bytes());
        mac.update(b".");
        Ok(Self {
            mac,
            candidates: header.candidates,
        })
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.mac.update(chunk);
    }

    /// Passes when any `v0` of the header is the HMAC of everything given to `update`.
    pub fn verify(self) -> Result<(), SignatureError> {
        let matches = |candidate: &[u8; 32]| self.mac.clone().verify_slice(candidate).is_ok();
        if self.candidates.iter().any(matches) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

/// The `ElevenLabs-Signature` header as an operation receives it: documented as required, but
/// its absence reaches the operation (as `None`), which refuses it with 401 `invalid_signature`
/// like any other bad signature rather than a parameter error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParam(pub Option<String>);

impl poem_openapi::types::Type for SignatureParam {
    const IS_REQUIRED: bool = true;

    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> std::borrow::Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        poem_openapi::registry::MetaSchemaRef::Inline(Box::new(
            poem_openapi::registry::MetaSchema::new("string"),
        ))
    }

    fn as_raw_value(&self) -> Option<&String> {
        self.0.as_ref()
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(self.0.iter())
    }
}

impl poem_openapi::types::ParseFromParameter for SignatureParam {
    fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
        Ok(Self(Some(value.to_owned())))
    }

    fn parse_from_parameters<I: IntoIterator<Item = A>, A: AsRef<str>>(
        iter: I,
    ) -> poem_openapi::types::ParseResult<Self> {
        Ok(Self(
            iter.into_iter()
                .next()
                .map(|value| value.as_ref().to_owned()),
        ))
    }
}

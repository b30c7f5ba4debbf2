//! The `ElevenLabs-Signature` scheme: `t=<unix seconds>,v0=<lowercase hex HMAC-SHA256>` keyed
//! with the post-call secret over `"{t}."` followed by the raw body.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub type HmacSha256 = Hmac<Sha256>;

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

//! The edge settings: source allowlist, trusted proxies and the limits that keep strangers cheap.

use std::time::Duration;

use ipnet::IpNet;

use super::Validator;
use crate::config::edge::{parse_networks, preset_names, EdgeSettings, Presets};

impl Validator {
    pub(in crate::config) fn edge(&mut self, max_body_bytes: u64) -> EdgeSettings {
        let max_unverified_bytes = self.max_unverified_bytes(max_body_bytes);
        EdgeSettings {
            allowed_sources: self.networks("allowed_source_ips", Presets::Allowed),
            trusted_proxies: self.networks("trusted_proxies", Presets::NotAllowed),
            max_unverified_bytes,
            header_read_timeout: self.positive_millis("header_read_timeout_ms"),
            body_stall_timeout: self.positive_millis("body_stall_timeout_ms"),
            max_connections: self.at_least_one("max_connections", "a number of connections")
                as usize,
            auth_failure_limit: self.at_least_one("auth_failure_limit", "a number of failures")
                as u32,
            auth_lockout: Duration::from_secs(
                self.at_least_one("auth_lockout_secs", "a number of seconds"),
            ),
        }
    }

    /// An optional list: absent or empty means none.
    fn networks(&mut self, key: &str, presets: Presets) -> Vec<IpNet> {
        let text = self.raw.get(key).cloned().unwrap_or_default();
        parse_networks(&text, presets).unwrap_or_else(|unknown| {
            let expected = match presets {
                Presets::Allowed => format!(
                    "IP addresses, CIDR networks or presets ({})",
                    preset_names().join(", ")
                ),
                Presets::NotAllowed => "IP addresses or CIDR networks".to_owned(),
            };
            self.problems.push(format!(
                "{} must list {expected}, separated by commas; not understood: {}",
                Self::name(key),
                unknown.join(", ")
            ));
            Vec::new()
        })
    }

    /// Twice `MAX_BODY_BYTES` unless set; never less than one body, or the largest legitimate
    /// delivery could never be received.
    fn max_unverified_bytes(&mut self, max_body_bytes: u64) -> u64 {
        let key = "max_unverified_bytes";
        let is_set = self
            .raw
            .get(key)
            .is_some_and(|value| !value.trim().is_empty());
        if !is_set {
            return max_body_bytes.saturating_mul(2);
        }
        let value = self
            .parsed::<u64>(key, "a number of bytes")
            .unwrap_or(u64::MAX);
        if value < max_body_bytes {
            self.problems.push(format!(
                "MAX_UNVERIFIED_BYTES ({value}) must be at least MAX_BODY_BYTES ({max_body_bytes}), \
                 or no delivery of the largest accepted size could be received"
            ));
        }
        value
    }

    pub(super) fn positive_millis(&mut self, key: &str) -> Duration {
        Duration::from_millis(self.at_least_one(key, "a number of milliseconds"))
    }

    fn at_least_one(&mut self, key: &str, expected: &str) -> u64 {
        let value = self.parsed::<u64>(key, expected);
        if value == Some(0) {
            self.problems.push(format!(
                "{} must be {expected} above 0, not 0",
                Self::name(key)
            ));
        }
        value.unwrap_or(1).max(1)
    }
}

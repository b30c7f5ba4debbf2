//! Settings of the service's edge: who may reach the webhooks and how much a stranger can make
//! the service hold before it is verified.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

/// The addresses ElevenLabs publishes as the sources of its webhooks, by region, usable as
/// named entries of `ALLOWED_SOURCE_IPS`. `elevenlabs` stands for all of them.
pub const ELEVENLABS_SOURCE_PRESETS: &[(&str, &[&str])] = &[
    ("elevenlabs-us", &["34.67.146.145", "34.59.11.47"]),
    ("elevenlabs-eu", &["35.204.38.71", "34.147.113.54"]),
    ("elevenlabs-asia", &["35.185.187.110", "35.247.157.189"]),
    (
        "elevenlabs-eu-residency",
        &["34.77.234.246", "34.140.184.144"],
    ),
    ("elevenlabs-in-residency", &["34.93.26.174", "34.93.252.69"]),
    (
        "elevenlabs-sg-residency",
        &["34.87.23.17", "34.126.179.103"],
    ),
];

/// The name of the preset that covers every published region.
const EVERY_ELEVENLABS_REGION: &str = "elevenlabs";

/// The validated edge settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeSettings {
    /// Peers allowed to call the webhooks; empty lets everyone through (`ALLOWED_SOURCE_IPS`).
    pub allowed_sources: Vec<IpNet>,
    /// Direct peers whose `X-Forwarded-For` or `Forwarded` header is believed (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpNet>,
    /// Post-call bytes received and not yet verified, across all requests.
    pub max_unverified_bytes: u64,
    /// How long a connection may take to send a request's headers, or stay idle between requests.
    pub header_read_timeout: Duration,
    /// How long a request body may go without a byte.
    pub body_stall_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Failed authentications after which a peer is refused for `auth_lockout`.
    pub auth_failure_limit: u32,
    /// How long failures are counted, and how long a peer past the limit is refused.
    pub auth_lockout: Duration,
}

/// Reads a comma-separated list of addresses and networks (`34.67.146.145`, `10.0.0.0/8`,
/// `2001:db8::/32`) and, when `presets` is set, ElevenLabs preset names. Returns every entry
/// that is not one of these as the error.
pub fn parse_networks(text: &str, presets: Presets) -> Result<Vec<IpNet>, Vec<String>> {
    let mut networks = Vec::new();
    let mut unknown = Vec::new();
    for entry in text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        match network_entry(entry, presets) {
            Some(found) => networks.extend(found),
            None => unknown.push(entry.to_owned()),
        }
    }
    if unknown.is_empty() {
        Ok(networks)
    } else {
        Err(unknown)
    }
}

/// Whether a list may name ElevenLabs presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presets {
    Allowed,
    NotAllowed,
}

fn network_entry(entry: &str, presets: Presets) -> Option<Vec<IpNet>> {
    if let Ok(network) = entry.parse::<IpNet>() {
        return Some(vec![network.trunc()]);
    }
    if let Ok(address) = entry.parse::<IpAddr>() {
        return Some(vec![IpNet::from(address)]);
    }
    if presets == Presets::NotAllowed {
        return None;
    }
    let name = entry.to_ascii_lowercase();
    let addresses: Vec<&str> = ELEVENLABS_SOURCE_PRESETS
        .iter()
        .filter(|(preset, _)| name == EVERY_ELEVENLABS_REGION || name == *preset)
        .flat_map(|(_, addresses)| addresses.iter().copied())
        .collect();
    (!addresses.is_empty()).then(|| {
        addresses
            .iter()
            .map(|address| IpNet::from(address.parse::<IpAddr>().expect("a valid preset address")))
            .collect()
    })
}

/// The preset names, for messages and documentation.
pub fn preset_names() -> Vec<&'static str> {
    std::iter::once(EVERY_ELEVENLABS_REGION)
        .chain(ELEVENLABS_SOURCE_PRESETS.iter().map(|(name, _)| *name))
        .collect()
}

#[cfg(test)]
mod tests {
    use figment::Jail;

    use super::*;
    use crate::config::{Profile, Settings};

    /// Validates `values` over the dev profile, in a temporary working directory.
    #[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error, large by design.
    fn settings(values: &[(&str, &str)]) -> Result<Settings, crate::config::ConfigError> {
        let mut result = None;
        Jail::expect_with(|jail| {
            let storage = jail.directory().join("payloads");
            let database = jail.directory().join("memory.sqlite3");
            let mut given = vec![
                ("PAYLOAD_STORAGE_PATH", storage.to_str().unwrap()),
                ("OPENMEMORY_DB_PATH", database.to_str().unwrap()),
            ];
            given.extend_from_slice(values);
            result = Some(Settings::from_values(Profile::Dev, given));
            Ok(())
        });
        result.expect("the jail ran")
    }

    #[test]
    fn by_default_everyone_is_let_in_within_limits_sized_for_the_largest_body() {
        let edge = settings(&[("MAX_BODY_BYTES", "1000")]).unwrap().edge;
        assert!(edge.allowed_sources.is_empty() && edge.trusted_proxies.is_empty());
        assert_eq!(edge.max_unverified_bytes, 2000);
        assert_eq!(edge.header_read_timeout, Duration::from_secs(10));
        assert_eq!(edge.body_stall_timeout, Duration::from_secs(30));
        assert_eq!(edge.max_connections, 512);
        assert_eq!(
            (edge.auth_failure_limit, edge.auth_lockout),
            (10, Duration::from_secs(300))
        );
    }

    #[test]
    fn every_unusable_edge_setting_is_named_at_once() {
        let error = settings(&[
            ("MAX_BODY_BYTES", "1000"),
            ("MAX_UNVERIFIED_BYTES", "999"),
            ("ALLOWED_SOURCE_IPS", "elevenlabs-us, 10.0.0.0/40"),
            ("TRUSTED_PROXIES", "elevenlabs"),
            ("HEADER_READ_TIMEOUT_MS", "0"),
            ("MAX_CONNECTIONS", "many"),
        ])
        .unwrap_err();
        let message = error.to_string();
        assert_eq!(error.problems.len(), 5, "{message}");
        for expected in [
            "MAX_UNVERIFIED_BYTES (999) must be at least MAX_BODY_BYTES (1000)",
            "ALLOWED_SOURCE_IPS must list IP addresses, CIDR networks or presets (elevenlabs, elevenlabs-us,",
            "not understood: 10.0.0.0/40",
            "TRUSTED_PROXIES must list IP addresses or CIDR networks, separated by commas; not understood: elevenlabs",
            "HEADER_READ_TIMEOUT_MS must be a number of milliseconds above 0, not 0",
            "MAX_CONNECTIONS must be a number of connections, not \"many\"",
        ] {
            assert!(message.contains(expected), "{expected} not in {message}");
        }
    }

    #[test]
    fn the_elevenlabs_preset_covers_every_published_region() {
        let all = parse_networks("elevenlabs", Presets::Allowed).unwrap();
        assert_eq!(all.len(), 12);
        let us = parse_networks("ElevenLabs-US", Presets::Allowed).unwrap();
        assert_eq!(
            us,
            [
                "34.67.146.145/32".parse::<IpNet>().unwrap(),
                "34.59.11.47/32".parse().unwrap()
            ]
        );
    }

    #[test]
    fn addresses_networks_and_presets_mix_and_unknown_entries_are_all_named() {
        let mixed = parse_networks(
            " 10.1.2.3, 192.168.7.9/16 ,elevenlabs-eu, ::1",
            Presets::Allowed,
        )
        .unwrap();
        assert_eq!(mixed.len(), 5);
        assert_eq!(mixed[1], "192.168.0.0/16".parse::<IpNet>().unwrap());
        let unknown = parse_networks("10.0.0.300, elevenlabs-mars, 10.0.0.0/33", Presets::Allowed)
            .unwrap_err();
        assert_eq!(unknown, ["10.0.0.300", "elevenlabs-mars", "10.0.0.0/33"]);
        assert_eq!(
            parse_networks("elevenlabs", Presets::NotAllowed).unwrap_err(),
            ["elevenlabs"]
        );
        assert_eq!(parse_networks(" ", Presets::Allowed).unwrap(), []);
    }
}

//! Who is calling: the direct peer, or, only when that peer is a trusted proxy, the client its
//! `X-Forwarded-For` or `Forwarded` header names. A header from any other peer is ignored, since
//! anyone can write one.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use poem::http::HeaderMap;

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const FORWARDED: &str = "forwarded";

/// The client behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// Its address is known.
    Known(IpAddr),
    /// A trusted proxy sent a forwarding header that cannot be read, or both kinds of header,
    /// so the client cannot be told; `proxy` is the direct peer.
    Unknown { proxy: IpAddr },
}

impl Client {
    /// The address that failed authentications are counted against.
    pub fn accountable(self) -> IpAddr {
        match self {
            Client::Known(address) | Client::Unknown { proxy: address } => address,
        }
    }
}

/// Which peers are trusted to say who the client is, and which clients are let in.
#[derive(Debug, Clone)]
pub struct SourcePolicy {
    allowed: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
}

impl SourcePolicy {
    /// An empty `allowed` lets every client in.
    pub fn new(allowed: Vec<IpNet>, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            allowed,
            trusted_proxies,
        }
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        let peer = peer.to_canonical();
        if !contains(&self.trusted_proxies, peer) {
            return Client::Known(peer);
        }
        let chain = match (has(headers, X_FORWARDED_FOR), has(headers, FORWARDED)) {
            (false, false) => return Client::Known(peer),
            (true, false) => forwarded_for_chain(headers),
            (false, true) => forwarded_chain(headers),
            (true, true) => None,
        };
        let Some(chain) = chain else {
            return Client::Unknown { proxy: peer };
        };
        // The nearest hop was written by our proxy; farther ones by whoever sent the request.
        // The first hop, from the right, that is not one of our proxies is the client.
        let mut client = peer;
        for hop in chain.into_iter().rev() {
            client = hop.to_canonical();
            if !contains(&self.trusted_proxies, client) {
                break;
            }
        }
        Client::Known(client)
    }

    /// Whether `client` may call the webhooks.
    pub fn allows(&self, client: Client) -> bool {
        if self.allowed.is_empty() {
            return true;
        }
        match client {
            Client::Known(address) => contains(&self.allowed, address),
            Client::Unknown { .. } => false,
        }
    }
}

fn contains(networks: &[IpNet], address: IpAddr) -> bool {
    networks.iter().any(|network| network.contains(&address))
}

fn has(headers: &HeaderMap, name: &str) -> bool {
    headers.contains_key(name)
}

/// Every value of every header line, comma-separated, in order; `None` when one is unreadable.
fn values<'a>(headers: &'a HeaderMap, name: &str) -> Option<Vec<&'a str>> {
    let mut values = Vec::new();
    for line in headers.get_all(name) {
        values.extend(line.to_str().ok()?.split(',').map(str::trim));
    }
    Some(values)
}

/// `X-Forwarded-For: client, proxy1, proxy2`.
fn forwarded_for_chain(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    values(headers, X_FORWARDED_FOR)?
        .into_iter()
        .map(address)
        .collect()
}

/// `Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::17]:4711"` (RFC 7239).
fn forwarded_chain(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    values(headers, FORWARDED)?
        .into_iter()
        .map(|element| {
            let node = element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then_some(value.trim())
            })?;
            address(node.trim_matches('"'))
        })
        .collect()
}

/// An address, possibly with a port (`192.0.2.1:80`, `[2001:db8::1]:80`) or in brackets.
fn address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| {
            text.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn networks(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|network| network.parse().unwrap())
            .collect()
    }

    fn headers(lines: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn behind_proxy() -> SourcePolicy {
        SourcePolicy::new(networks(&["34.67.146.145/32"]), networks(&["10.0.0.0/8"]))
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let policy = behind_proxy();
        let spoofed = headers(&[
            ("x-forwarded-for", "34.67.146.145"),
            ("forwarded", "for=34.67.146.145"),
        ]);
        let client = policy.client(ip("198.51.100.7"), &spoofed);
        assert_eq!(client, Client::Known(ip("198.51.100.7")));
        assert!(!policy.allows(client));
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let policy = behind_proxy();
        // The sender wrote the first entry itself; our proxy appended the real peer.
        let forwarded = headers(&[("x-forwarded-for", "34.67.146.145, 198.51.100.7")]);
        let client = policy.client(ip("10.0.0.2"), &forwarded);
        assert_eq!(client, Client::Known(ip("198.51.100.7")));
        assert!(!policy.allows(client));
        let genuine = headers(&[("x-forwarded-for", "34.67.146.145, 10.0.0.9")]);
        assert!(policy.allows(policy.client(ip("10.0.0.2"), &genuine)));
    }

    #[test]
    fn the_forwarded_header_is_read_with_ports_quotes_and_several_lines() {
        let policy = behind_proxy();
        let forwarded = headers(&[
            ("forwarded", "for=\"[2001:db8::17]:4711\";proto=https"),
            ("forwarded", "For=34.67.146.145:5000;by=10.0.0.1"),
        ]);
        assert_eq!(
            policy.client(ip("10.0.0.2"), &forwarded),
            Client::Known(ip("34.67.146.145"))
        );
    }

    #[test]
    fn an_unreadable_or_ambiguous_forwarding_header_leaves_the_client_unknown() {
        let policy = behind_proxy();
        for lines in [
            vec![("x-forwarded-for", "unknown")],
            vec![("forwarded", "for=_hidden")],
            vec![
                ("x-forwarded-for", "34.67.146.145"),
                ("forwarded", "for=34.67.146.145"),
            ],
        ] {
            let client = policy.client(ip("10.0.0.2"), &headers(&lines));
            assert_eq!(
                client,
                Client::Unknown {
                    proxy: ip("10.0.0.2")
                },
                "{lines:?}"
            );
            assert!(!policy.allows(client));
        }
    }

    #[test]
    fn without_an_allowlist_everyone_is_let_in_and_mapped_addresses_are_plain() {
        let open = SourcePolicy::new(Vec::new(), Vec::new());
        assert!(open.allows(Client::Unknown {
            proxy: ip("10.0.0.2")
        }));
        let policy = behind_proxy();
        let client = policy.client(ip("::ffff:34.67.146.145"), &HeaderMap::new());
        assert_eq!(client, Client::Known(ip("34.67.146.145")));
        assert!(policy.allows(client));
    }
}

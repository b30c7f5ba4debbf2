//! Failed-authentication throttling: a peer that keeps presenting wrong signatures or keys is
//! refused for a while, so that guessing is pointless and the logs are not flooded. The table is
//! bounded: past its size, peers whose window is over are forgotten first, then the peer not
//! refused that was seen longest ago, so that flooding the table does not free a refused peer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Peers remembered at most (about 50 bytes each).
pub const MAX_TRACKED_PEERS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    window_started: Instant,
    last_seen: Instant,
    refused_until: Option<Instant>,
}

/// A peer went past the limit and is refused from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub failures: u32,
    pub duration: Duration,
}

/// Failed authentications per peer (IPv6 peers by /64 network, which one host usually holds).
#[derive(Debug)]
pub struct AuthThrottle {
    limit: u32,
    lockout: Duration,
    capacity: usize,
    peers: Mutex<HashMap<IpAddr, Strikes>>,
}

impl AuthThrottle {
    /// `limit` failures within `lockout` get the peer refused for `lockout`.
    pub fn new(limit: u32, lockout: Duration) -> Self {
        Self::with_capacity(limit, lockout, MAX_TRACKED_PEERS)
    }

    fn with_capacity(limit: u32, lockout: Duration, capacity: usize) -> Self {
        Self {
            limit,
            lockout,
            capacity,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// How long the peer is still refused, if it is.
    pub fn refused_for(&self, peer: IpAddr, now: Instant) -> Option<Duration> {
        let peers = self.peers.lock().expect("throttle table lock");
        let until = peers.get(&key(peer))?.refused_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a failure; returns the lockout when this one reaches the limit.
    pub fn record_failure(&self, peer: IpAddr, now: Instant) -> Option<Lockout> {
        let mut peers = self.peers.lock().expect("throttle table lock");
        let peer = key(peer);
        if !peers.contains_key(&peer) && peers.len() >= self.capacity {
            self.make_room(&mut peers, now);
        }
        let strikes = peers.entry(peer).or_insert(Strikes {
            failures: 0,
            window_started: now,
            last_seen: now,
            refused_until: None,
        });
        if self.is_over(strikes, now) {
            *strikes = Strikes {
                failures: 0,
                window_started: now,
                last_seen: now,
                refused_until: None,
            };
        }
        strikes.failures += 1;
        strikes.last_seen = now;
        if strikes.failures == self.limit {
            strikes.refused_until = Some(now + self.lockout);
            return Some(Lockout {
                failures: strikes.failures,
                duration: self.lockout,
            });
        }
        None
    }

    /// Peers refused right now.
    pub fn refused_peers(&self, now: Instant) -> usize {
        let peers = self.peers.lock().expect("throttle table lock");
        peers
            .values()
            .filter(|strikes| strikes.refused_until.is_some_and(|until| until > now))
            .count()
    }

    /// Whether a peer's counting window and lockout are both over.
    fn is_over(&self, strikes: &Strikes, now: Instant) -> bool {
        let window_over = now.duration_since(strikes.window_started) >= self.lockout;
        let lockout_over = strikes.refused_until.is_none_or(|until| until <= now);
        window_over && lockout_over
    }

    fn make_room(&self, peers: &mut HashMap<IpAddr, Strikes>, now: Instant) {
        peers.retain(|_, strikes| !self.is_over(strikes, now));
        if peers.len() >= self.capacity {
            let oldest = peers
                .iter()
                .min_by_key(|(_, strikes)| {
                    let refused = strikes.refused_until.is_some_and(|until| until > now);
                    (refused, strikes.last_seen)
                })
                .map(|(peer, _)| *peer);
            if let Some(oldest) = oldest {
                peers.remove(&oldest);
            }
        }
    }
}

fn key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(address) => {
            let network = u128::from(address) & (u128::MAX << 64);
            IpAddr::from(std::net::Ipv6Addr::from(network))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn peer(last: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, last])
    }

    #[test]
    fn a_peer_is_refused_once_it_reaches_the_limit_and_let_in_after_the_lockout() {
        let throttle = AuthThrottle::new(3, MINUTE);
        let start = Instant::now();
        assert_eq!(throttle.record_failure(peer(1), start), None);
        assert_eq!(throttle.record_failure(peer(1), start), None);
        assert_eq!(throttle.refused_for(peer(1), start), None);
        let lockout = throttle.record_failure(peer(1), start + Duration::from_secs(10));
        assert_eq!(
            lockout,
            Some(Lockout {
                failures: 3,
                duration: MINUTE
            })
        );
        let later = start + Duration::from_secs(40);
        assert_eq!(
            throttle.refused_for(peer(1), later),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            throttle.refused_for(peer(2), later),
            None,
            "other peers are not affected"
        );
        assert_eq!(throttle.refused_peers(later), 1);
        let after = start + Duration::from_secs(71);
        assert_eq!(throttle.refused_for(peer(1), after), None);
        assert_eq!(
            throttle.record_failure(peer(1), after),
            None,
            "counting starts again"
        );
    }

    #[test]
    fn failures_spread_wider_than_the_window_are_never_refused() {
        let throttle = AuthThrottle::new(3, MINUTE);
        let start = Instant::now();
        for minute in 0..10 {
            let now = start + MINUTE * minute;
            assert_eq!(throttle.record_failure(peer(1), now), None);
            assert_eq!(throttle.record_failure(peer(1), now), None);
        }
    }

    #[test]
    fn one_ipv6_network_counts_as_one_peer() {
        let throttle = AuthThrottle::new(2, MINUTE);
        let now = Instant::now();
        throttle.record_failure("2001:db8:1:2::1".parse().unwrap(), now);
        throttle.record_failure("2001:db8:1:2::ffff".parse().unwrap(), now);
        assert!(throttle
            .refused_for("2001:db8:1:2:aaaa::9".parse().unwrap(), now)
            .is_some());
        assert!(throttle
            .refused_for("2001:db8:1:3::1".parse().unwrap(), now)
            .is_none());
    }

    #[test]
    fn the_table_never_grows_past_its_capacity_and_keeps_refused_peers() {
        let throttle = AuthThrottle::with_capacity(2, MINUTE, 100);
        let now = Instant::now();
        throttle.record_failure(peer(0), now);
        throttle.record_failure(peer(0), now);
        for index in 1..=250u32 {
            let address = IpAddr::from([198, 51, (index / 256) as u8, (index % 256) as u8]);
            throttle.record_failure(address, now + Duration::from_millis(u64::from(index)));
        }
        assert!(throttle.peers.lock().unwrap().len() <= 100);
        assert!(
            throttle.refused_for(peer(0), now).is_some(),
            "the refused peer, though seen first, is still refused"
        );
    }
}

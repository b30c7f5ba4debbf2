use super::*;

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn at_the_limit_the_longest_idle_connection_makes_room_and_busy_ones_are_kept() {
    let connections = Connections::new(2, Duration::from_secs(10), Arc::default());
    let first = connections.register(peer(1)).unwrap();
    let second = connections.register(peer(2)).unwrap();
    let _busy = connections.request_started(peer(1)).unwrap();

    let third = connections.register(peer(3)).unwrap();
    assert!(
        !first.close.is_cancelled(),
        "a connection with a request in flight stays"
    );
    assert!(second.close.is_cancelled(), "the idle one is closed");
    assert_eq!(connections.open(), 2);

    let _also_busy = connections.request_started(peer(3)).unwrap();
    assert!(
        connections.register(peer(4)).is_none(),
        "all busy: the new one is refused"
    );
    assert!(!third.close.is_cancelled());
    assert_eq!(connections.open(), 2);
    assert_eq!(
        connections
            .counters
            .connections_shed
            .load(Ordering::Relaxed),
        2
    );
}

#[test]
fn a_closed_connection_leaves_the_table_but_not_a_newer_one_at_its_address() {
    let connections = Connections::new(1, Duration::from_secs(10), Arc::default());
    let old = connections.register(peer(1)).unwrap();
    connections.unregister(peer(1), &old);
    assert_eq!(connections.open(), 0);
    let newer = connections.register(peer(1)).unwrap();
    connections.unregister(peer(1), &old);
    assert_eq!(connections.open(), 1, "the newer connection is still there");
    assert!(connections.request_started(peer(1)).is_some());
    drop(newer);
}

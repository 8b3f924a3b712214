//! Hostile traffic over the real socket: each test gives the spine a leaf
//! port and a second link where an attacker (or a relay, or a bridge
//! port) sends what issue 10 describes, and checks what the server does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Lab, RawClient, message};
use dhcproto::v4::{DhcpOption, Flags, MessageType};
use dhcproto::{Decodable, Decoder, Encodable};
use ztps_dhcp::{Server, ServerHandle};
use ztps_net::iftable::InterfaceTable;
use ztps_net::watch::Watch;
use ztps_testkit::{Netns, require_netns, unique_name, veth, wait_for};

const LEAF_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];

/// A second link from the spine to a namespace of its own.
fn second_link(lab: &Lab, spine_addr: &str) -> (Netns, String, String) {
    let ns = Netns::new("dat");
    let (spine_if, their_if) = (unique_name("at"), unique_name("ax"));
    veth(&lab.spine, &spine_if, Some(&ns), &their_if);
    lab.spine.ip(&["addr", "add", spine_addr, "dev", &spine_if]);
    lab.spine.ip(&["link", "set", &spine_if, "up"]);
    ns.ip(&["link", "set", &their_if, "up"]);
    (ns, spine_if, their_if)
}

/// Waits until the server has seen a datagram, by a counter.
fn wait_seen(handle: &ServerHandle, what: &str, count: impl Fn(&ServerHandle) -> u64) {
    wait_for(what, Duration::from_secs(10), || {
        (count(handle) > 0).then_some(())
    });
}

/// DISCOVER then REQUEST from the leaf; the ACKed address.
fn lease_for_leaf(lab: &Lab) -> Ipv4Addr {
    let leaf_if = lab.leaf_if.clone();
    lab.leaf.run(|| {
        let client = RawClient::new(&leaf_if);
        client.send(&message(MessageType::Discover, LEAF_MAC, 1));
        let offer = client.recv(Duration::from_secs(5)).expect("no OFFER");
        let mut req = message(MessageType::Request, LEAF_MAC, 2);
        req.opts_mut()
            .insert(DhcpOption::RequestedIpAddress(offer.yiaddr()));
        let server_id = match offer.opts().get(dhcproto::v4::OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => *ip,
            other => panic!("{other:?}"),
        };
        req.opts_mut()
            .insert(DhcpOption::ServerIdentifier(server_id));
        client.send(&req);
        let ack = client.recv(Duration::from_secs(5)).expect("no ACK");
        assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
        ack.yiaddr()
    })
}

#[test]
fn a_client_naming_a_relay_gets_nothing_and_a_real_relay_is_served() {
    require_netns!();
    let lab = Lab::new("10.1.0.0/31");
    let (relay, spine_rif, relay_if) = second_link(&lab, "192.0.2.1/24");
    relay.ip(&["addr", "add", "192.0.2.2/24", "dev", &relay_if]);
    relay.ip(&["addr", "add", "10.60.0.1/32", "dev", &relay_if]);
    lab.spine
        .ip(&["route", "add", "10.60.0.0/24", "via", "192.0.2.2"]);
    let server = lab.serve(lab.config(&format!(
        "relay_interfaces = [\"{spine_rif}\"]\n[[subnets]]\nsubnet = \"10.60.0.0/24\"\n\
         ranges = [{{ start = \"10.60.0.10\", end = \"10.60.0.20\" }}]\n"
    )));
    let relayed = |mac: [u8; 6]| {
        let mut m = message(MessageType::Discover, mac, 7);
        m.set_giaddr(Ipv4Addr::new(10, 60, 0, 1));
        m
    };

    // The attacker on a leaf port puts a giaddr in its DISCOVER.
    let leaf_if = lab.leaf_if.clone();
    lab.leaf
        .run(|| RawClient::new(&leaf_if).send(&relayed([2, 0, 0, 0, 6, 6])));
    wait_seen(&server.handle, "the spoofed relay DISCOVER", |h| {
        h.metrics().ignored_not_served
    });
    assert_eq!(server.handle.metrics().sent_offer, 0);

    // The relay itself, from its address and port 67, is served.
    let offer = relay.run(|| {
        let s =
            std::net::UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::new(10, 60, 0, 1), 67)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.send_to(
            &relayed([2, 0, 0, 0, 6, 7]).to_vec().unwrap(),
            (Ipv4Addr::new(192, 0, 2, 1), 67),
        )
        .unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = s.recv_from(&mut buf).expect("the relay got no OFFER");
        dhcproto::v4::Message::decode(&mut Decoder::new(&buf[..n])).unwrap()
    });
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 60, 0, 10));
    // Counted just after the send: wait for the count, then compare.
    wait_seen(&server.handle, "the OFFER counted", |h| {
        h.metrics().sent_offer
    });
    assert_eq!(server.handle.metrics().sent_offer, 1);
    server.stop();
}

#[test]
fn a_bridge_is_not_served_unless_configured_whatever_its_name() {
    require_netns!();
    let lab = Lab::new("10.1.0.0/31");
    // A bridge that is not called br0, with a client on one of its ports.
    let (client_ns, port, client_if) = second_link(&lab, "10.99.0.0/31");
    lab.spine.ip(&["addr", "flush", "dev", &port]);
    lab.spine.ip(&["link", "add", "lan7", "type", "bridge"]);
    lab.spine.ip(&["link", "set", &port, "master", "lan7"]);
    lab.spine.ip(&["addr", "add", "10.8.0.0/31", "dev", "lan7"]);
    lab.spine.ip(&["link", "set", "lan7", "up"]);
    let discover = |ns: &Netns| {
        ns.run(|| {
            let c = RawClient::new(&client_if);
            c.send(&message(MessageType::Discover, [2, 0, 0, 0, 8, 1], 3));
            c
        })
    };

    let server = lab.serve(lab.config(""));
    let _client = discover(&client_ns);
    wait_seen(&server.handle, "the DISCOVER on the bridge", |h| {
        h.metrics().ignored_not_served
    });
    assert_eq!(
        server.handle.metrics().sent_offer,
        0,
        "the bridge was served"
    );
    server.stop();

    let server = lab.serve(lab.config("serve_interfaces = [\"lan7\"]\n"));
    let offer = client_ns.run(|| {
        let c = RawClient::new(&client_if);
        c.send(&message(MessageType::Discover, [2, 0, 0, 0, 8, 1], 4));
        c.recv(Duration::from_secs(5))
    });
    assert_eq!(
        offer.expect("listed, so served").yiaddr(),
        Ipv4Addr::new(10, 8, 0, 1)
    );
    server.stop();
}

#[test]
fn a_decline_sent_on_another_port_does_not_park_the_leafs_address() {
    require_netns!();
    let lab = Lab::new("10.1.0.0/31");
    let (attacker, _, attacker_if) = second_link(&lab, "10.1.0.2/31");
    let server = lab.serve(lab.config(""));
    let leaf_ip = lease_for_leaf(&lab);
    assert_eq!(leaf_ip, Ipv4Addr::new(10, 1, 0, 1));

    // Same MAC as the leaf, the leaf's address, another port.
    attacker.run(|| {
        let c = RawClient::new(&attacker_if);
        let mut decline = message(MessageType::Decline, LEAF_MAC, 5);
        decline
            .opts_mut()
            .insert(DhcpOption::RequestedIpAddress(leaf_ip));
        c.send(&decline);
        let mut release = message(MessageType::Release, LEAF_MAC, 6);
        release.set_ciaddr(leaf_ip);
        c.send(&release);
    });
    wait_for("both seen", Duration::from_secs(10), || {
        let m = server.handle.metrics();
        (m.received_decline == 1 && m.received_release == 1).then_some(())
    });
    // The leaf's address is still its lease, and offered to it again.
    let leases = server.handle.leases();
    assert_eq!(leases.len(), 1);
    assert_eq!(
        (leases[0].ip, leases[0].state),
        (leaf_ip, ztps_dhcp::leases::LeaseState::Bound)
    );
    let leaf_if = lab.leaf_if.clone();
    let offer = lab.leaf.run(|| {
        let c = RawClient::new(&leaf_if);
        c.send(&message(MessageType::Discover, LEAF_MAC, 8));
        c.recv(Duration::from_secs(5))
    });
    assert_eq!(offer.expect("not on probation").yiaddr(), leaf_ip);
    server.stop();
}

#[test]
fn a_flood_of_large_datagrams_on_one_port_is_dropped_unparsed_and_others_are_served() {
    require_netns!();
    let lab = Lab::new("10.1.0.0/31");
    let (attacker, _, attacker_if) = second_link(&lab, "10.1.0.2/31");
    let server = lab.serve(lab.config("[rate_limit]\npackets_per_second = 10\n"));
    let mut big = message(MessageType::Discover, [2, 0, 0, 0, 9, 9], 9)
        .to_vec()
        .unwrap();
    big.pop();
    while big.len() < 9000 {
        big.extend_from_slice(&[200, 0]);
    }
    big.push(255);
    const FLOOD: u64 = 3000;
    attacker.run(|| {
        let c = RawClient::new(&attacker_if);
        for _ in 0..FLOOD {
            c.send_raw(&big);
        }
    });
    // Every datagram counted, or (on a loaded machine, where the kernel may
    // drop some of 27 MB sent at once) the count no longer moving.
    let mut last = (0, std::time::Instant::now());
    wait_for("the flood counted", Duration::from_secs(30), || {
        let m = server.handle.metrics();
        let counted = m.rate_limited + m.received_discover;
        if counted != last.0 {
            last = (counted, std::time::Instant::now());
        }
        (counted >= FLOOD || (counted > 0 && last.1.elapsed() > Duration::from_secs(1)))
            .then_some(())
    });
    let m = server.handle.metrics();
    assert!(m.rate_limited > 0, "{m:?}");
    assert_eq!(m.malformed, 0);
    // The leaf's port has its own budget.
    assert_eq!(lease_for_leaf(&lab), Ipv4Addr::new(10, 1, 0, 1));
    server.stop();
}

#[test]
fn a_client_clearing_the_broadcast_flag_gets_its_offer_by_unicast() {
    require_netns!();
    let lab = Lab::new("10.1.0.0/31");
    // The client can receive unicast: its interface has the address it will
    // be offered, and its socket is bound to that address, so it does not
    // see broadcasts at all.
    let mac = "02:00:00:00:11:01";
    lab.leaf
        .ip(&["link", "set", "dev", &lab.leaf_if, "address", mac]);
    lab.leaf
        .ip(&["addr", "add", "10.1.0.1/31", "dev", &lab.leaf_if]);
    let server = lab.serve(lab.config(""));
    let leaf_if = lab.leaf_if.clone();
    let offer = lab.leaf.run(|| {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.set_broadcast(true).unwrap();
        nix::sys::socket::setsockopt(
            &s,
            nix::sys::socket::sockopt::BindToDevice,
            &std::ffi::OsString::from(&leaf_if),
        )
        .unwrap();
        s.bind(&SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 1), 68).into())
            .unwrap();
        let s: std::net::UdpSocket = s.into();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut m = message(MessageType::Discover, [2, 0, 0, 0, 0x11, 1], 11);
        m.set_flags(Flags::default());
        s.send_to(&m.to_vec().unwrap(), (Ipv4Addr::BROADCAST, 67))
            .unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = s.recv_from(&mut buf).expect("no unicast OFFER");
        dhcproto::v4::Message::decode(&mut Decoder::new(&buf[..n])).unwrap()
    });
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 1, 0, 1));
    assert!(!offer.flags().broadcast());
    let neigh = lab
        .spine
        .ip(&["neigh", "show", "10.1.0.1", "dev", &lab.spine_if]);
    assert!(neigh.contains(mac), "{neigh}");
    server.stop();
}

#[test]
fn requests_are_answered_while_the_callers_runtime_is_blocked() {
    require_netns!();
    let lab = Lab::new("10.1.0.0/31");
    let config = lab.config("");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let release = Arc::new(AtomicBool::new(false));
    let blocked = release.clone();
    let thread = lab.spine.spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let table = InterfaceTable::new();
            let _watch = Watch::start(table.clone()).await.unwrap();
            let (tx, _rx) = tokio::sync::mpsc::channel(4096);
            let server = Server::new(config, table, tx).unwrap();
            let handle = server.handle();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(server.run(async move {
                let _ = stopped.await;
            }));
            while !handle.is_serving() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            ready_tx.send(handle).unwrap();
            // The agent's runtime, stuck in something long and blocking:
            // nothing on it runs until the client has been answered.
            while !blocked.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = stop.send(());
            task.await.unwrap().unwrap();
        });
    });
    let handle = ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let ip = lease_for_leaf(&lab);
    wait_seen(&handle, "the ACK counted", |h| h.metrics().sent_ack);
    release.store(true, Ordering::Release);
    thread.join().unwrap();
    assert_eq!(ip, Ipv4Addr::new(10, 1, 0, 1));
    assert_eq!(handle.metrics().sent_ack, 1);
}

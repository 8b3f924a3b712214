//! The request handler driven directly: client packets are built and
//! replies decoded with dhcproto, an independent implementation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::malformed_corpus;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};
use ztps_dhcp::event::{Event, MacAddr};
use ztps_dhcp::handler::{Ingress, Reply, ReplyKind, State, handle};
use ztps_dhcp::journal::Record;
use ztps_dhcp::leases::LeaseState;
use ztps_dhcp::metrics::Metrics;
use ztps_dhcp::{ServerConfig, handler};
use ztps_net::iftable::{Interface, Ipv4Net};

const VC: &[u8] = b"Arista;DCS-7050SX3-48YC8;11.00;JPE12345678";
const NOW: u64 = 1_800_000_000_000;

fn config(extra: &str) -> ServerConfig {
    ServerConfig::from_toml(&format!(
        "bootstrap_url = \"http://10.9.9.9/bootstrap\"\nlease_file = \"/nonexistent\"\ndns_servers = [\"10.9.9.53\"]\n{extra}"
    ))
    .unwrap()
}

fn state(extra: &str) -> State {
    State::new(Arc::new(config(extra)), Arc::new(Metrics::default()))
}

fn iface(index: u32, name: &str, addr: [u8; 4], prefix_len: u8) -> Ingress {
    Ingress {
        interface: Interface {
            index,
            name: name.into(),
            up: true,
            mac: vec![2, 0, 0, 0, 0, 0xfe],
            ipv4: vec![Ipv4Net {
                addr: Ipv4Addr::from(addr),
                prefix_len,
            }],
            kind: String::new(),
        },
        source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
    }
}

fn client(mac_last: u8, kind: MessageType, vc: Option<&[u8]>) -> Message {
    let mut m = Message::new_with_id(
        0xabcd_0000 | u32::from(mac_last),
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &[0x02, 0x11, 0x22, 0x33, 0x44, mac_last],
    );
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    if let Some(vc) = vc {
        m.opts_mut()
            .insert(DhcpOption::ClassIdentifier(vc.to_vec()));
    }
    m
}

fn bytes(m: &Message) -> Vec<u8> {
    m.to_vec().unwrap()
}

fn decode(reply: &Reply) -> Message {
    Message::decode(&mut Decoder::new(&reply.packet)).unwrap()
}

fn opt(m: &Message, code: OptionCode) -> &DhcpOption {
    m.opts()
        .get(code)
        .unwrap_or_else(|| panic!("option {code:?} missing"))
}

#[test]
fn offers_the_other_address_of_a_slash_31_with_every_required_option() {
    let mut st = state("");
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    let reply = handle(
        &mut st,
        &ing,
        &bytes(&client(1, MessageType::Discover, Some(VC))),
        NOW,
    )
    .unwrap();
    assert_eq!(reply.kind, ReplyKind::Offer);
    assert!(reply.packet.len() >= 300, "padded: {}", reply.packet.len());
    assert_eq!((reply.ifindex, reply.from), (3, Ipv4Addr::new(10, 0, 0, 0)));
    assert_eq!(
        (reply.to, reply.neighbour),
        (
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 68),
            Some(MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 1]))
        ),
        "broadcast flag clear: unicast to the offered address, at the client's MAC"
    );
    assert!(reply.durable.is_none(), "offers need no fsync");
    let m = decode(&reply);
    assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(m.opts().msg_type(), Some(MessageType::Offer));
    assert_eq!(
        opt(&m, OptionCode::SubnetMask),
        &DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 254))
    );
    assert_eq!(
        opt(&m, OptionCode::Router),
        &DhcpOption::Router(vec![Ipv4Addr::new(10, 0, 0, 0)])
    );
    assert_eq!(
        opt(&m, OptionCode::ServerIdentifier),
        &DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 0))
    );
    assert_eq!(
        opt(&m, OptionCode::AddressLeaseTime),
        &DhcpOption::AddressLeaseTime(86_400)
    );
    assert_eq!(opt(&m, OptionCode::Renewal), &DhcpOption::Renewal(43_200));
    assert_eq!(
        opt(&m, OptionCode::Rebinding),
        &DhcpOption::Rebinding(75_600)
    );
    assert_eq!(
        opt(&m, OptionCode::DomainNameServer),
        &DhcpOption::DomainNameServer(vec![Ipv4Addr::new(10, 9, 9, 53)])
    );
    assert!(
        m.opts().get(OptionCode::NtpServers).is_none(),
        "not configured"
    );
    assert!(
        m.opts().get(OptionCode::BroadcastAddr).is_none(),
        "never a broadcast option on a /31"
    );
    assert_eq!(
        opt(&m, OptionCode::BootfileName),
        &DhcpOption::BootfileName(b"http://10.9.9.9/bootstrap".to_vec())
    );
    // dhcproto's decoder keeps the field's terminating NUL.
    let file = m.fname().unwrap();
    assert_eq!(
        file.split(|b| *b == 0).next().unwrap(),
        b"http://10.9.9.9/bootstrap"
    );
    let events = st.take_events();
    assert!(events.contains(&Event::Discover {
        interface: "et3".into(),
        mac: MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 1]),
        serial: Some("JPE12345678".into()),
        model: Some("DCS-7050SX3-48YC8".into()),
    }));
}

#[test]
fn slash_30_offers_the_other_usable_host() {
    let mut st = state("");
    for (ours, theirs) in [
        ([10, 0, 0, 5], [10, 0, 0, 6]),
        ([10, 0, 0, 6], [10, 0, 0, 5]),
    ] {
        let ing = iface(4, "et4", ours, 30);
        let reply = handle(
            &mut st,
            &ing,
            &bytes(&client(2, MessageType::Discover, Some(VC))),
            NOW,
        )
        .unwrap();
        let m = decode(&reply);
        assert_eq!(m.yiaddr(), Ipv4Addr::from(theirs));
        assert_eq!(
            opt(&m, OptionCode::SubnetMask),
            &DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 252))
        );
    }
}

#[test]
fn clients_outside_the_class_get_nothing_and_are_counted() {
    let metrics = Arc::new(Metrics::default());
    let mut st = State::new(Arc::new(config("")), metrics.clone());
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    assert!(
        handle(
            &mut st,
            &ing,
            &bytes(&client(1, MessageType::Discover, Some(b"MSFT 5.0"))),
            NOW
        )
        .is_none()
    );
    assert!(
        handle(
            &mut st,
            &ing,
            &bytes(&client(1, MessageType::Discover, None)),
            NOW
        )
        .is_none()
    );
    assert_eq!(metrics.snapshot().ignored_non_class, 2);
    assert_eq!(metrics.snapshot().received_discover, 2);
    assert!(st.take_events().is_empty());
}

#[test]
fn management_bridge_and_plain_subnets_are_not_served_automatically() {
    let mut st = state("");
    for (name, prefix) in [("ma1", 31), ("management1", 31), ("vmbr", 30), ("et9", 24)] {
        let mut ing = iface(9, name, [10, 0, 0, 1], prefix);
        if name == "vmbr" {
            ing.interface.kind = "bridge".into();
        }
        assert!(
            handle(
                &mut st,
                &ing,
                &bytes(&client(1, MessageType::Discover, Some(VC))),
                NOW
            )
            .is_none(),
            "{name}/{prefix}"
        );
    }
}

fn selecting_request(mac_last: u8, server: Ipv4Addr, ip: Ipv4Addr) -> Message {
    let mut m = client(mac_last, MessageType::Request, Some(VC));
    m.opts_mut().insert(DhcpOption::ServerIdentifier(server));
    m.opts_mut().insert(DhcpOption::RequestedIpAddress(ip));
    m
}

#[test]
fn request_is_acked_only_with_a_durable_record_and_wrong_ones_are_naked() {
    let mut st = state("");
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    let (server, leaf) = (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 1));
    handle(
        &mut st,
        &ing,
        &bytes(&client(1, MessageType::Discover, Some(VC))),
        NOW,
    )
    .unwrap();

    // Chose another server: silent, and our offer is withdrawn.
    let other = selecting_request(1, Ipv4Addr::new(10, 7, 7, 7), leaf);
    assert!(handle(&mut st, &ing, &bytes(&other), NOW).is_none());

    let ack = handle(
        &mut st,
        &ing,
        &bytes(&selecting_request(1, server, leaf)),
        NOW,
    )
    .unwrap();
    assert_eq!(ack.kind, ReplyKind::Ack);
    match ack.durable.as_ref().unwrap() {
        Record::Bind {
            ip,
            serial,
            expires,
            ..
        } => {
            assert_eq!(*ip, leaf);
            assert_eq!(serial.as_deref(), Some("JPE12345678"));
            assert_eq!(*expires, NOW / 1000 + 86_400);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(ack.on_sent, Some(Event::Ack { ip, .. }) if ip == leaf),
        "ACK event waits for the send"
    );
    assert_eq!(decode(&ack).yiaddr(), leaf);
    assert_eq!(st.leases().all().len(), 1);

    let nak = handle(
        &mut st,
        &ing,
        &bytes(&selecting_request(1, server, Ipv4Addr::new(10, 0, 0, 9))),
        NOW,
    )
    .unwrap();
    assert_eq!(nak.kind, ReplyKind::Nak);
    assert_eq!(nak.to.ip(), &Ipv4Addr::BROADCAST);
    let m = decode(&nak);
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(m.opts().get(OptionCode::BootfileName).is_none());
}

#[test]
fn every_request_renews_the_lease_durably() {
    let mut st = state("");
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    let (server, leaf) = (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 1));
    let request = bytes(&selecting_request(1, server, leaf));
    let first = handle(&mut st, &ing, &request, NOW).unwrap();
    assert!(first.durable.is_some());

    // A retransmission in the same second promises nothing new.
    let again = handle(&mut st, &ing, &request, NOW + 300).unwrap();
    assert_eq!(again.kind, ReplyKind::Ack);
    assert!(
        again.durable.is_none(),
        "the same expiry is already durable"
    );

    // Coming back 5 s later (a reboot, a ZTP retry): a full lease again,
    // from now, in a new record (RFC 2131 4.3.2; issue 9's 599 != 600).
    let renewed = handle(&mut st, &ing, &request, NOW + 5_000).unwrap();
    match renewed.durable.as_ref().unwrap() {
        Record::Bind { expires, .. } => assert_eq!(*expires, NOW / 1000 + 5 + 86_400),
        other => panic!("{other:?}"),
    }
    let m = decode(&renewed);
    assert_eq!(m.yiaddr(), leaf);
    assert_eq!(
        m.opts().get(OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(86_400))
    );
    assert_eq!(
        m.opts().get(OptionCode::Renewal),
        Some(&DhcpOption::Renewal(86_400 / 2))
    );
    assert!(matches!(renewed.on_sent, Some(Event::Ack { lease_secs, .. }) if lease_secs == 86_400));

    let later_ms = NOW + (86_400 / 8 + 1) * 1000;
    let renewed = handle(&mut st, &ing, &request, later_ms).unwrap();
    match renewed.durable.as_ref().unwrap() {
        Record::Bind { expires, .. } => assert_eq!(*expires, later_ms / 1000 + 86_400),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decode(&renewed).opts().get(OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(86_400))
    );

    // Another client hardware address for the same client id is a new record.
    let mut other_mac = selecting_request(1, server, leaf);
    other_mac.set_chaddr(&[2, 0, 0, 0, 9, 9]);
    let moved = handle(&mut st, &ing, &bytes(&other_mac), later_ms + 1_000);
    assert!(moved.is_some_and(|r| r.kind != ReplyKind::Ack || r.durable.is_some()));
}

#[test]
fn renewing_client_is_answered_by_unicast_to_ciaddr() {
    let mut st = state("");
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    let leaf = Ipv4Addr::new(10, 0, 0, 1);
    let mut renew = client(1, MessageType::Request, Some(VC));
    renew.set_ciaddr(leaf);
    let ack = handle(&mut st, &ing, &bytes(&renew), NOW).unwrap();
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(ack.to, SocketAddrV4::new(leaf, 68));
    assert_eq!(decode(&ack).ciaddr(), leaf);

    // INIT-REBOOT with an address of the wrong network: NAK, broadcast.
    let mut reboot = client(1, MessageType::Request, Some(VC));
    reboot
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(
            192, 168, 1, 7,
        )));
    let nak = handle(&mut st, &ing, &bytes(&reboot), NOW).unwrap();
    assert_eq!(
        (nak.kind, nak.to.ip()),
        (ReplyKind::Nak, &Ipv4Addr::BROADCAST)
    );

    // The broadcast flag is honoured even for a renewing client's OFFER.
    let mut discover = client(1, MessageType::Discover, Some(VC));
    discover.set_flags(Flags::default().set_broadcast());
    let offer = handle(&mut st, &ing, &bytes(&discover), NOW).unwrap();
    assert!(decode(&offer).flags().broadcast());
}

const RELAYED: &str = r#"
relay_interfaces = ["Ethernet5"]
[[subnets]]
subnet = "10.50.0.0/16"
ranges = [{ start = "10.50.0.10", end = "10.50.0.12" }]
[[subnets.reservations]]
address = "10.50.9.9"
serial = "RESERVED1"
"#;

const GIADDR: Ipv4Addr = Ipv4Addr::new(10, 50, 0, 1);

fn relayed(mac_last: u8, vc: &[u8]) -> Vec<u8> {
    let mut m = client(mac_last, MessageType::Discover, Some(vc));
    m.set_giaddr(GIADDR);
    bytes(&m)
}

/// The relay-facing interface, with a datagram from the relay itself.
fn relay_ingress() -> Ingress {
    let mut ing = iface(5, "et5", [192, 0, 2, 1], 24);
    ing.source = SocketAddrV4::new(GIADDR, 67);
    ing
}

#[test]
fn relayed_requests_use_the_giaddr_subnet_until_it_is_exhausted() {
    let mut st = state(RELAYED);
    // The relay reaches us on an interface that is not in the subnet.
    let ing = relay_ingress();
    let mut offered = Vec::new();
    for mac in 1..=3 {
        let reply = handle(&mut st, &ing, &relayed(mac, VC), NOW).unwrap();
        assert_eq!(
            reply.to,
            SocketAddrV4::new(Ipv4Addr::new(10, 50, 0, 1), 67),
            "unicast to the relay"
        );
        let m = decode(&reply);
        assert_eq!(m.giaddr(), Ipv4Addr::new(10, 50, 0, 1));
        assert_eq!(
            opt(&m, OptionCode::Router),
            &DhcpOption::Router(vec![Ipv4Addr::new(10, 50, 0, 1)])
        );
        assert_eq!(
            opt(&m, OptionCode::SubnetMask),
            &DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 0, 0))
        );
        offered.push(m.yiaddr());
    }
    offered.sort();
    assert_eq!(offered, [10, 11, 12].map(|d| Ipv4Addr::new(10, 50, 0, d)));
    // The same client asking again keeps its offer.
    let again = decode(&handle(&mut st, &ing, &relayed(2, VC), NOW).unwrap()).yiaddr();
    assert!(offered.contains(&again));
    st.take_events();
    assert!(handle(&mut st, &ing, &relayed(4, VC), NOW).is_none());
    assert!(
        st.take_events().iter().any(
            |e| matches!(e, Event::PoolExhausted { pool, .. } if pool == "subnet 10.50.0.0/16")
        )
    );
    // A reservation by serial is honoured even with the ranges full.
    let reply = handle(
        &mut st,
        &ing,
        &relayed(5, b"Arista;DCS-7280;01.00;RESERVED1"),
        NOW,
    )
    .unwrap();
    assert_eq!(decode(&reply).yiaddr(), Ipv4Addr::new(10, 50, 9, 9));
    // Offers lapse after their hold time, freeing the pool.
    assert!(handle(&mut st, &ing, &relayed(4, VC), NOW + 61_000).is_some());
    // The first address of the range is handed out, not skipped.
    assert!(offered.contains(&Ipv4Addr::new(10, 50, 0, 10)));
}

#[test]
fn decline_puts_the_address_on_probation() {
    let mut st = state("");
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    let (server, leaf) = (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 1));
    handle(
        &mut st,
        &ing,
        &bytes(&selecting_request(1, server, leaf)),
        NOW,
    )
    .unwrap();
    let mut decline = client(1, MessageType::Decline, Some(VC));
    decline
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(leaf));
    decline
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(server));
    assert!(handle(&mut st, &ing, &bytes(&decline), NOW).is_none());
    assert_eq!(st.take_records(), vec![Record::Release { ip: leaf }]);
    assert!(
        st.take_events()
            .iter()
            .any(|e| matches!(e, Event::Decline { ip, .. } if *ip == leaf))
    );
    assert!(
        handle(
            &mut st,
            &ing,
            &bytes(&client(1, MessageType::Discover, Some(VC))),
            NOW + 1000
        )
        .is_none()
    );
    assert!(
        handle(
            &mut st,
            &ing,
            &bytes(&client(1, MessageType::Discover, Some(VC))),
            NOW + 601_000
        )
        .is_some()
    );
}

#[test]
fn release_and_inform() {
    let mut st = state("");
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    let (server, leaf) = (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 1));
    handle(
        &mut st,
        &ing,
        &bytes(&selecting_request(1, server, leaf)),
        NOW,
    )
    .unwrap();
    let mut inform = client(1, MessageType::Inform, Some(VC));
    inform.set_ciaddr(leaf);
    let ack = handle(&mut st, &ing, &bytes(&inform), NOW).unwrap();
    let m = decode(&ack);
    assert_eq!(
        (ack.to, m.yiaddr()),
        (SocketAddrV4::new(leaf, 68), Ipv4Addr::UNSPECIFIED)
    );
    assert!(
        m.opts().get(OptionCode::AddressLeaseTime).is_none(),
        "INFORM carries no lease"
    );
    assert!(m.opts().get(OptionCode::BootfileName).is_some());
    assert!(ack.durable.is_none());

    let mut release = client(1, MessageType::Release, Some(VC));
    release.set_ciaddr(leaf);
    assert!(handle(&mut st, &ing, &bytes(&release), NOW).is_none());
    assert_eq!(st.take_records(), vec![Record::Release { ip: leaf }]);
    let states: Vec<LeaseState> = st.leases().all().iter().map(|l| l.state).collect();
    assert_eq!(states, [LeaseState::Released], "no longer bound");
}

#[test]
fn replies_fit_the_clients_maximum_message_size() {
    let servers: Vec<String> = (0..60).map(|i| format!("\"10.1.{i}.1\"")).collect();
    let extra = format!("ntp_servers = [{}]\n", servers.join(","));
    let mut st = State::new(
        Arc::new(
            ServerConfig::from_toml(&format!(
                "bootstrap_url = \"http://10.9.9.9/{}\"\nlease_file = \"/x\"\ndns_servers = [{}]\n{extra}",
                "b".repeat(200),
                servers.join(",")
            ))
            .unwrap(),
        ),
        Arc::new(Metrics::default()),
    );
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    let mut discover = client(1, MessageType::Discover, Some(VC));
    discover.opts_mut().insert(DhcpOption::MaxMessageSize(576));
    let reply = handle(&mut st, &ing, &bytes(&discover), NOW).unwrap();
    assert!(
        reply.packet.len() <= 576 - 28,
        "{} bytes",
        reply.packet.len()
    );
    let m = decode(&reply);
    assert!(m.opts().get(OptionCode::NtpServers).is_none(), "shed first");
    // Without option 57 a larger client gets everything when it says so.
    let mut big = client(2, MessageType::Discover, Some(VC));
    big.opts_mut().insert(DhcpOption::MaxMessageSize(1500));
    let m = decode(&handle(&mut st, &ing, &bytes(&big), NOW).unwrap());
    assert!(m.opts().get(OptionCode::NtpServers).is_some());
    assert!(m.opts().get(OptionCode::BootfileName).is_some());
}

#[test]
fn malformed_corpus_is_counted_and_a_valid_discover_still_answered() {
    let metrics = Arc::new(Metrics::default());
    let mut st = State::new(Arc::new(config("")), metrics.clone());
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    let corpus = malformed_corpus();
    let answered: Vec<bool> = corpus
        .iter()
        .map(|p| handle(&mut st, &ing, p, NOW).is_some())
        .collect();
    // Only the non-UTF-8 hostname one is well-formed enough to answer.
    assert_eq!(answered.iter().filter(|a| **a).count(), 1, "{answered:?}");
    assert!(*answered.last().unwrap());
    assert_eq!(metrics.snapshot().malformed, corpus.len() as u64 - 1);
    let malformed_events = st
        .take_events()
        .iter()
        .filter(|e| matches!(e, Event::Malformed { .. }))
        .count();
    // Counted one by one, reported once: a flood is not a flood of events.
    assert_eq!(malformed_events, 1);
    assert!(
        handle(
            &mut st,
            &ing,
            &bytes(&client(2, MessageType::Discover, Some(VC))),
            NOW
        )
        .is_some()
    );
}

#[test]
fn rate_limit_per_client() {
    let metrics = Arc::new(Metrics::default());
    let mut st = State::new(
        Arc::new(config("[rate_limit]\nper_client_per_minute = 3\n")),
        metrics.clone(),
    );
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    let p = bytes(&client(1, MessageType::Discover, Some(VC)));
    let answered = (0..10)
        .filter(|_| handler::handle(&mut st, &ing, &p, NOW).is_some())
        .count();
    assert_eq!(answered, 3);
    assert_eq!(metrics.snapshot().rate_limited, 7);
    assert!(
        handle(
            &mut st,
            &ing,
            &bytes(&client(2, MessageType::Discover, Some(VC))),
            NOW
        )
        .is_some()
    );
}

#[test]
fn a_flood_of_distinct_macs_keeps_memory_bounded() {
    let mut st = state(&format!("{RELAYED}[rate_limit]\npackets_per_second = 0\n"));
    let p2p = iface(3, "et3", [10, 0, 0, 0], 31);
    let relay = relay_ingress();
    for i in 0..20_000u32 {
        let b = i.to_be_bytes();
        let mut m = client(0, MessageType::Discover, Some(VC));
        m.set_chaddr(&[0x02, 0x99, b[0], b[1], b[2], b[3]]);
        handle(&mut st, &p2p, &bytes(&m), NOW);
        m.set_giaddr(GIADDR);
        handle(&mut st, &relay, &bytes(&m), NOW);
    }
    // One address on the link, three in the relayed range: no more entries.
    assert!(st.leases().len() <= 4, "{} entries", st.leases().len());
    let exhausted = st
        .take_events()
        .iter()
        .filter(|e| matches!(e, Event::PoolExhausted { .. }))
        .count();
    assert_eq!(
        exhausted, 1,
        "exhaustion is reported once per window, not once per DISCOVER"
    );
    assert!(st.metrics_snapshot().pool_exhausted > 19_000);
}

#[test]
fn the_client_identifier_is_echoed_in_every_reply() {
    let mut st = state("");
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    let id = vec![1, 0x02, 0x11, 0x22, 0x33, 0x44, 7];
    let mut discover = client(7, MessageType::Discover, Some(VC));
    discover
        .opts_mut()
        .insert(DhcpOption::ClientIdentifier(id.clone()));
    let offer = decode(&handle(&mut st, &ing, &bytes(&discover), NOW).unwrap());
    assert_eq!(
        offer.opts().get(OptionCode::ClientIdentifier),
        Some(&DhcpOption::ClientIdentifier(id.clone())),
        "RFC 6842"
    );
    let mut wrong = selecting_request(7, Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 9));
    wrong
        .opts_mut()
        .insert(DhcpOption::ClientIdentifier(id.clone()));
    let nak = decode(&handle(&mut st, &ing, &bytes(&wrong), NOW).unwrap());
    assert_eq!(nak.opts().msg_type(), Some(MessageType::Nak));
    assert_eq!(
        nak.opts().get(OptionCode::ClientIdentifier),
        Some(&DhcpOption::ClientIdentifier(id))
    );
}

#[test]
fn a_released_address_is_offered_back_to_the_client_that_released_it() {
    let mut st = state(SUBNET_ON_ET4);
    let ing = iface(4, "et4", [10, 60, 0, 1], 24);
    let first = decode(
        &handle(
            &mut st,
            &ing,
            &bytes(&client(1, MessageType::Discover, Some(VC))),
            NOW,
        )
        .unwrap(),
    )
    .yiaddr();
    let ack = handle(
        &mut st,
        &ing,
        &bytes(&selecting_request(1, Ipv4Addr::new(10, 60, 0, 1), first)),
        NOW,
    )
    .unwrap();
    assert_eq!(ack.kind, ReplyKind::Ack);
    let mut release = client(1, MessageType::Release, Some(VC));
    release.set_ciaddr(first);
    assert!(handle(&mut st, &ing, &bytes(&release), NOW).is_none());
    // Another client takes the next free address, not the released one ...
    let other = decode(
        &handle(
            &mut st,
            &ing,
            &bytes(&client(2, MessageType::Discover, Some(VC))),
            NOW,
        )
        .unwrap(),
    )
    .yiaddr();
    assert_ne!(other, first);
    // ... and the client that released it gets it back.
    let again = decode(
        &handle(
            &mut st,
            &ing,
            &bytes(&client(1, MessageType::Discover, Some(VC))),
            NOW + 1_000,
        )
        .unwrap(),
    )
    .yiaddr();
    assert_eq!(again, first);
}

const SUBNET_ON_ET4: &str = r#"
[[subnets]]
subnet = "10.60.0.0/24"
interface = "Ethernet4"
ranges = [{ start = "10.60.0.10", end = "10.60.0.20" }]
"#;

#[test]
fn the_first_address_of_a_range_is_handed_out_first() {
    let mut st = state(SUBNET_ON_ET4);
    // The subnet is tied to et4 by name; the interface's own address is
    // elsewhere.
    let ing = iface(4, "et4", [192, 0, 2, 1], 24);
    let offer = handle(
        &mut st,
        &ing,
        &bytes(&client(1, MessageType::Discover, Some(VC))),
        NOW,
    )
    .unwrap();
    assert_eq!(decode(&offer).yiaddr(), Ipv4Addr::new(10, 60, 0, 10));
    // The server identifies itself by its address on the interface.
    assert_eq!(offer.from, Ipv4Addr::new(192, 0, 2, 1));
}

#[test]
fn the_default_client_limit_never_stops_a_client_restarting_ztp_in_a_loop() {
    let metrics = Arc::new(Metrics::default());
    let mut st = State::new(Arc::new(config("")), metrics.clone());
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    let (server, leaf) = (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 1));
    // A DISCOVER and a REQUEST every 200 ms for ten minutes: far more than
    // any real client, which backs off for seconds between tries.
    let mut answered = 0;
    for i in 0..3000u64 {
        let t = NOW + i * 200;
        answered += usize::from(
            handle(
                &mut st,
                &ing,
                &bytes(&client(1, MessageType::Discover, Some(VC))),
                t,
            )
            .is_some(),
        );
        answered += usize::from(
            handle(
                &mut st,
                &ing,
                &bytes(&selecting_request(1, server, leaf)),
                t + 50,
            )
            .is_some(),
        );
    }
    assert_eq!(metrics.snapshot().rate_limited, 0);
    assert_eq!(answered, 6000);
}

#[test]
fn an_empty_vendor_class_prefix_answers_everyone() {
    let mut st = state("vendor_class_prefixes = [\"\"]\n");
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    for vc in [None, Some(&b"MSFT 5.0"[..]), Some(VC)] {
        assert!(
            handle(
                &mut st,
                &ing,
                &bytes(&client(1, MessageType::Discover, vc)),
                NOW
            )
            .is_some(),
            "{vc:?}"
        );
    }
}

#[test]
fn the_interface_budget_is_spent_before_parsing() {
    let metrics = Arc::new(Metrics::default());
    let mut st = State::new(
        Arc::new(config("[rate_limit]\npackets_per_second = 5\n")),
        metrics.clone(),
    );
    let ing = iface(3, "et3", [10, 0, 0, 0], 31);
    // 9 KB of empty options after a valid DISCOVER header.
    let mut big = bytes(&client(1, MessageType::Discover, Some(VC)));
    big.pop(); // END
    while big.len() < 9000 {
        big.extend_from_slice(&[200, 0]);
    }
    big.push(255);
    for _ in 0..100 {
        handle(&mut st, &ing, &big, NOW);
    }
    let m = metrics.snapshot();
    assert_eq!(m.rate_limited, 95, "dropped unparsed");
    assert_eq!(m.received_discover, 5, "only the budget was parsed");
    // Another interface has a budget of its own.
    let other = iface(4, "et4", [10, 0, 0, 2], 31);
    assert!(
        handle(
            &mut st,
            &other,
            &bytes(&client(2, MessageType::Discover, Some(VC))),
            NOW
        )
        .is_some()
    );
}

#[test]
fn decline_and_release_are_ignored_for_an_address_outside_the_ingress_pool() {
    let mut st = state("");
    let et3 = iface(3, "et3", [10, 0, 0, 0], 31);
    let et4 = iface(4, "et4", [10, 0, 0, 2], 31);
    let (server, leaf) = (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 1));
    assert!(
        handle(
            &mut st,
            &et3,
            &bytes(&selecting_request(1, server, leaf)),
            NOW
        )
        .is_some()
    );
    // The same client (spoofed MAC) on another port declines and releases
    // leaf 1's address: both ignored.
    let mut decline = client(1, MessageType::Decline, Some(VC));
    decline
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(leaf));
    assert!(handle(&mut st, &et4, &bytes(&decline), NOW).is_none());
    let mut release = client(1, MessageType::Release, Some(VC));
    release.set_ciaddr(leaf);
    assert!(handle(&mut st, &et4, &bytes(&release), NOW).is_none());
    assert!(st.take_records().is_empty());
    let lease = st.leases().all();
    assert_eq!((lease[0].ip, lease[0].state), (leaf, LeaseState::Bound));
}

#[test]
fn outstanding_offers_per_interface_are_capped() {
    let metrics = Arc::new(Metrics::default());
    let mut st = State::new(
        Arc::new(config(&format!(
            "max_offers_per_interface = 8\n[rate_limit]\npackets_per_second = 0\n{SUBNET_ON_ET4}"
        ))),
        metrics.clone(),
    );
    let ing = iface(4, "et4", [10, 60, 0, 1], 24);
    // 200 spoofed MACs: without the cap the 11 addresses are gone after 11.
    for i in 0..200u32 {
        let b = i.to_be_bytes();
        let mut m = client(0, MessageType::Discover, Some(VC));
        m.set_chaddr(&[0x02, 0x77, b[0], b[1], b[2], b[3]]);
        assert!(
            handle(&mut st, &ing, &bytes(&m), NOW).is_some(),
            "offer {i}"
        );
    }
    let offered = st
        .leases()
        .all()
        .iter()
        .filter(|l| l.state == LeaseState::Offered)
        .count();
    assert!(offered <= 8, "{offered} offers outstanding");
    assert!(metrics.snapshot().offers_evicted >= 192);
    assert_eq!(metrics.snapshot().pool_exhausted, 0);
    // A real client still gets an address, and its REQUEST is ACKed.
    let offer = decode(
        &handle(
            &mut st,
            &ing,
            &bytes(&client(9, MessageType::Discover, Some(VC))),
            NOW,
        )
        .unwrap(),
    );
    let ack = handle(
        &mut st,
        &ing,
        &bytes(&selecting_request(
            9,
            Ipv4Addr::new(10, 60, 0, 1),
            offer.yiaddr(),
        )),
        NOW,
    )
    .unwrap();
    assert_eq!(ack.kind, ReplyKind::Ack);
}

#[test]
fn relayed_requests_need_a_relay_facing_interface_port_67_and_the_giaddr_as_source() {
    let mut st = state(RELAYED);
    let good = relay_ingress();
    assert!(handle(&mut st, &good, &relayed(1, VC), NOW).is_some());
    // A client on a leaf port that names a relay.
    let mut leaf_port = iface(3, "et3", [10, 0, 0, 0], 31);
    leaf_port.source = SocketAddrV4::new(GIADDR, 67);
    assert!(handle(&mut st, &leaf_port, &relayed(2, VC), NOW).is_none());
    // On the relay-facing interface, but not from port 67 or not from giaddr.
    let mut wrong_port = relay_ingress();
    wrong_port.source = SocketAddrV4::new(GIADDR, 68);
    assert!(handle(&mut st, &wrong_port, &relayed(3, VC), NOW).is_none());
    let mut wrong_source = relay_ingress();
    wrong_source.source = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 77), 67);
    assert!(handle(&mut st, &wrong_source, &relayed(4, VC), NOW).is_none());
    // The exclude list applies to relays too.
    let mut excluded = state(&format!("{RELAYED}[auto_p2p]\nexclude = [\"et5\"]\n"));
    assert!(handle(&mut excluded, &good, &relayed(5, VC), NOW).is_none());
}

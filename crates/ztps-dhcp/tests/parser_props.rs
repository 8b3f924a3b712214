//! Property tests: the parser and the whole handler on arbitrary input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use dhcproto::Encodable;
use dhcproto::v4::MessageType;
use proptest::prelude::*;
use ztps_dhcp::ServerConfig;
use ztps_dhcp::handler::{Ingress, State, handle};
use ztps_dhcp::metrics::Metrics;
use ztps_dhcp::packet::parse_request;
use ztps_net::iftable::{Interface, Ipv4Net};

fn state() -> State {
    let config = ServerConfig::from_toml(
        "bootstrap_url = \"http://x/b\"\nlease_file = \"/nonexistent\"\n[[subnets]]\nsubnet = \"10.5.0.0/24\"\nranges = [{start = \"10.5.0.10\", end = \"10.5.0.20\"}]\n",
    )
    .unwrap();
    State::new(Arc::new(config), Arc::new(Metrics::default()))
}

fn ingress() -> Ingress {
    Ingress {
        interface: Interface {
            index: 2,
            name: "et1".into(),
            up: true,
            mac: vec![2; 6],
            ipv4: vec![Ipv4Net {
                addr: Ipv4Addr::new(10, 0, 0, 0),
                prefix_len: 31,
            }],
            kind: String::new(),
        },
        source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
    }
}

fn valid() -> Vec<u8> {
    common::message(MessageType::Discover, [2, 0, 0, 0, 0, 1], 9)
        .to_vec()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_and_bounds_chaddr(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        if let Ok(r) = parse_request(&bytes) {
            prop_assert!((1..=16).contains(&r.chaddr.len()));
        }
    }

    #[test]
    fn arbitrary_options_after_a_valid_header(options in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut p = valid()[..240].to_vec();
        p.extend_from_slice(&options);
        let mut st = state();
        if let Some(reply) = handle(&mut st, &ingress(), &p, 1_800_000_000_000) {
            prop_assert!(reply.packet.len() >= 300);
            prop_assert!(parse_request(&p).is_ok());
        }
    }

    #[test]
    fn mutated_requests_never_panic_the_handler(
        flips in proptest::collection::vec((0usize..400, any::<u8>()), 1..20),
        giaddr in any::<[u8; 4]>(),
        kind in 0u8..10,
    ) {
        let mut p = valid();
        p[24..28].copy_from_slice(&giaddr);
        let at = p.iter().position(|b| *b == 53).unwrap_or(240);
        if at + 2 < p.len() { p[at + 2] = kind; }
        for (i, b) in flips {
            if let Some(x) = p.get_mut(i) { *x = b; }
        }
        let mut st = state();
        for _ in 0..3 {
            let _ = handle(&mut st, &ingress(), &p, 1_800_000_000_000);
        }
    }
}

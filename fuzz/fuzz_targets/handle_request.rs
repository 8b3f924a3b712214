//! The whole request handler on arbitrary datagrams: validation, class
//! check, rate limit, pool selection, allocation, reply building. State is
//! kept across inputs so sequences (offer, request, decline ...) are reached.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run handle_request` in this directory.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use ztps_dhcp::ServerConfig;
use ztps_dhcp::handler::{Ingress, State, handle};
use ztps_dhcp::metrics::Metrics;
use ztps_net::iftable::{Interface, Ipv4Net};

const CONFIG: &str = r#"
bootstrap_url = "http://10.9.9.9/bootstrap"
lease_file = "/nonexistent"
dns_servers = ["10.9.9.53"]
relay_interfaces = ["et3"]
max_offers_per_interface = 2
[rate_limit]
per_client_per_minute = 0
packets_per_second = 0
[[subnets]]
subnet = "10.5.0.0/24"
ranges = [{ start = "10.5.0.10", end = "10.5.0.13" }]
[[subnets.reservations]]
address = "10.5.0.99"
serial = "SN1"
"#;

fn state() -> &'static Mutex<State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE.get_or_init(|| {
        let config = ServerConfig::from_toml(CONFIG).expect("fuzz config");
        Mutex::new(State::new(Arc::new(config), Arc::new(Metrics::default())))
    })
}

fn ingress(selector: u8) -> Ingress {
    let (name, addr, prefix_len) = match selector % 4 {
        0 => ("et1", [10, 0, 0, 0], 31),
        1 => ("et2", [10, 0, 0, 5], 30),
        2 => ("et3", [10, 5, 0, 1], 24),
        _ => ("ma1", [192, 0, 2, 1], 31),
    };
    Ingress {
        interface: Interface {
            index: u32::from(selector % 4) + 1,
            name: name.into(),
            up: true,
            mac: vec![2, 0, 0, 0, 0, selector],
            ipv4: vec![Ipv4Net {
                addr: Ipv4Addr::from(addr),
                prefix_len,
            }],
            kind: if selector & 0x80 != 0 {
                "bridge".into()
            } else {
                String::new()
            },
        },
        // Relayed requests on et3 come from a relay at 10.5.0.1, port 67.
        source: if selector % 4 == 2 {
            SocketAddrV4::new(Ipv4Addr::new(10, 5, 0, 1), 67)
        } else {
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else {
        return;
    };
    let mut state = state().lock().unwrap_or_else(|e| e.into_inner());
    let now_ms = 1_800_000_000_000 + u64::from(selector) * 7_000;
    if let Some(reply) = handle(&mut state, &ingress(selector), packet, now_ms) {
        assert!(reply.packet.len() >= 300);
        assert!(reply.packet.len() <= 1500);
        assert_eq!(reply.packet[0], 2, "a BOOTREPLY");
    }
    state.take_events();
    state.take_records();
});

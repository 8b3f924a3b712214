//! `show interfaces status` and the IP commands follow the real kernel
//! state of the simulator's network namespace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{SimProcess, runtime};
use ztps_eapi::models::LinkStatus;
use ztps_eapi::{EapiClient, RetryPolicy, Transport};
use ztps_testkit::{Netns, require_netns, veth, wait_for};

/// A veth pair with both ends in `ns` (this kernel may lack the dummy driver).
fn local_pair(ns: &Netns, a: &str, b: &str) {
    ns.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
    ns.ip(&["link", "set", b, "up"]);
}

fn status_of(c: &EapiClient, name: &str) -> Option<LinkStatus> {
    let s = runtime().block_on(c.interfaces_status(false)).unwrap();
    s.interface_statuses
        .get(name)
        .map(|i| i.link_status.clone())
}

#[test]
fn interface_status_follows_link_up_and_down() {
    require_netns!("ip");
    let spine = Netns::new("sps");
    let leaf = Netns::new("spl");
    veth(&spine, "et1", Some(&leaf), "et49_1");
    veth(&spine, "et2_1", Some(&leaf), "leafp2");
    local_pair(&spine, "ma1", "mgmtpeer");
    local_pair(&spine, "br0", "vnet0");
    spine.ip(&["link", "set", "et1", "alias", "to leaf1"]);
    for (ns, link) in [
        (&spine, "et1"),
        (&spine, "et2_1"),
        (&spine, "ma1"),
        (&leaf, "et49_1"),
    ] {
        ns.ip(&["link", "set", link, "up"]);
    }
    // The unix socket is a file: reachable from outside the namespace.
    let sim = SimProcess::start(Some(&spine), &[]);
    let c = EapiClient::builder(Transport::unix_socket(sim.socket()))
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();

    // The kernel publishes carrier changes (operstate) asynchronously.
    wait_for(
        "Ethernet1 and Management1 connected",
        Duration::from_secs(5),
        || {
            (status_of(&c, "Ethernet1") == Some(LinkStatus::Connected)
                && status_of(&c, "Management1") == Some(LinkStatus::Connected))
            .then_some(())
        },
    );
    let all = runtime().block_on(c.interfaces_status(false)).unwrap();
    let names: Vec<&str> = all.interface_statuses.keys().map(String::as_str).collect();
    // br0, vnet0, the peers and lo are not EOS interfaces.
    assert_eq!(names, ["Ethernet1", "Ethernet2/1", "Management1"]);
    let et1 = &all.interface_statuses["Ethernet1"];
    assert_eq!(et1.link_status, LinkStatus::Connected);
    assert_eq!(et1.description, "to leaf1");
    assert_eq!(et1.line_protocol_status, "up");
    // Its peer end is down: no carrier, so not connected.
    assert_eq!(
        all.interface_statuses["Ethernet2/1"].link_status,
        LinkStatus::NotConnect
    );
    assert_eq!(
        all.interface_statuses["Management1"].link_status,
        LinkStatus::Connected
    );

    let connected = runtime().block_on(c.interfaces_status(true)).unwrap();
    let names: Vec<&str> = connected
        .interface_statuses
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names, ["Ethernet1", "Management1"]);

    // The far end goes down: carrier lost.
    leaf.ip(&["link", "set", "et49_1", "down"]);
    wait_for("Ethernet1 notconnect", Duration::from_secs(5), || {
        (status_of(&c, "Ethernet1") == Some(LinkStatus::NotConnect)).then_some(())
    });
    // And up again.
    leaf.ip(&["link", "set", "et49_1", "up"]);
    wait_for("Ethernet1 connected", Duration::from_secs(5), || {
        (status_of(&c, "Ethernet1") == Some(LinkStatus::Connected)).then_some(())
    });
    // Our own end administratively down.
    spine.ip(&["link", "set", "et1", "down"]);
    assert_eq!(status_of(&c, "Ethernet1"), Some(LinkStatus::NotConnect));
    // A link that appears later shows up at once.
    local_pair(&spine, "po10", "popeer");
    spine.ip(&["link", "set", "po10", "up"]);
    wait_for("Port-Channel10 connected", Duration::from_secs(5), || {
        (status_of(&c, "Port-Channel10") == Some(LinkStatus::Connected)).then_some(())
    });
}

#[test]
fn ip_interfaces_come_from_kernel_addresses() {
    require_netns!("ip");
    let spine = Netns::new("spa");
    local_pair(&spine, "et3", "p3");
    local_pair(&spine, "et4", "p4");
    local_pair(&spine, "lo0", "p0");
    spine.ip(&["addr", "add", "10.0.0.0/31", "dev", "et3"]);
    spine.ip(&["addr", "add", "10.9.0.1/24", "dev", "et3"]);
    spine.ip(&["addr", "add", "192.0.2.1/32", "dev", "lo0"]);
    for l in ["et3", "et4", "lo0"] {
        spine.ip(&["link", "set", l, "up"]);
    }
    let sim = SimProcess::start(Some(&spine), &[]);
    let c = EapiClient::new(Transport::unix_socket(sim.socket())).unwrap();
    let rt = runtime();
    let list = rt.block_on(c.ipv4_interfaces()).unwrap();
    let names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
    // et4 has no address: a switch port, not a routed interface.
    assert_eq!(names, ["Ethernet3", "Loopback0"]);
    assert_eq!(list[0].kernel_name.as_deref(), Some("et3"));
    assert_eq!(
        list[0].addresses,
        vec![
            "10.0.0.0/31".parse().unwrap(),
            "10.9.0.1/24".parse().unwrap()
        ]
    );
    assert_eq!(list[1].addresses, vec!["192.0.2.1/32".parse().unwrap()]);

    // The brief form has EOS's other shape (`ipAddr`), primary only.
    let raw = rt
        .block_on(c.run_cmds(&["show ip interface brief".into()]))
        .unwrap();
    assert_eq!(
        raw[0]["interfaces"]["Ethernet3"]["interfaceAddress"]["ipAddr"]["address"],
        "10.0.0.0"
    );
    assert_eq!(
        raw[0]["interfaces"]["Ethernet3"]["interfaceAddress"]["ipAddr"]["maskLen"],
        31
    );

    // Routed ports say so in `show interfaces status`.
    let status = rt.block_on(c.interfaces_status(false)).unwrap();
    assert!(status.interface_statuses["Ethernet3"].is_routed());
    assert!(!status.interface_statuses["Ethernet4"].is_routed());

    // Addresses removed in the kernel are gone from the next reply.
    spine.ip(&["addr", "del", "10.9.0.1/24", "dev", "et3"]);
    let list = rt.block_on(c.ipv4_interfaces()).unwrap();
    assert_eq!(list[0].addresses, vec!["10.0.0.0/31".parse().unwrap()]);
}

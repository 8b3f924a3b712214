//! Real DHCP clients against the server, in namespaces made per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{ARISTA_VC, BOOTSTRAP_URL, Bound, Lab, dhclient, dhcpcd, udhcpc};
use ztps_dhcp::Event;
use ztps_testkit::require_netns;

type ClientFn = fn(&Lab, &str, Option<&str>, Duration) -> Option<Bound>;

fn check_client(
    client: ClientFn,
    spine_addr: &str,
    want_ip: &str,
    want_mask: &str,
    want_router: &str,
) {
    let lab = Lab::new(spine_addr);
    let server = lab.serve(lab.config(""));
    let bound = client(
        &lab,
        &lab.leaf_if.clone(),
        Some(ARISTA_VC),
        Duration::from_secs(20),
    )
    .expect("no lease");
    assert_eq!(bound.ip, want_ip);
    assert_eq!(bound.mask, want_mask);
    assert_eq!(bound.router, want_router);
    assert_eq!(bound.bootfile, BOOTSTRAP_URL);
    let leases = server.handle.leases();
    assert!(
        leases
            .iter()
            .any(|l| l.ip.to_string() == want_ip && l.serial.as_deref() == Some("JPE12345678"))
    );
    let m = server.handle.metrics();
    assert!(m.sent_ack >= 1 && m.journal_fsyncs >= 1, "{m:?}");
    // The ACK event follows the send; give its forwarding a moment.
    let mut events = Vec::new();
    ztps_testkit::wait_for("the ACK event", Duration::from_secs(2), || {
        events.extend(server.events.try_iter());
        events
            .iter()
            .any(|e| matches!(e, Event::Ack { ip, .. } if ip.to_string() == want_ip))
            .then_some(())
    });
    server.stop();
}

#[test]
fn dhclient_on_slash_31() {
    require_netns!("dhclient");
    check_client(
        dhclient,
        "10.0.0.0/31",
        "10.0.0.1",
        "255.255.255.254",
        "10.0.0.0",
    );
}

#[test]
fn dhclient_on_slash_30() {
    require_netns!("dhclient");
    check_client(
        dhclient,
        "10.0.0.5/30",
        "10.0.0.6",
        "255.255.255.252",
        "10.0.0.5",
    );
}

#[test]
fn udhcpc_on_slash_31() {
    require_netns!("busybox");
    check_client(
        udhcpc,
        "10.0.1.0/31",
        "10.0.1.1",
        "255.255.255.254",
        "10.0.1.0",
    );
}

#[test]
fn udhcpc_on_slash_30() {
    require_netns!("busybox");
    check_client(
        udhcpc,
        "10.0.1.6/30",
        "10.0.1.5",
        "255.255.255.252",
        "10.0.1.6",
    );
}

#[test]
fn dhcpcd_on_slash_31() {
    require_netns!("dhcpcd");
    check_client(
        dhcpcd,
        "10.0.2.0/31",
        "10.0.2.1",
        "255.255.255.254",
        "10.0.2.0",
    );
}

#[test]
fn dhcpcd_on_slash_30() {
    require_netns!("dhcpcd");
    check_client(
        dhcpcd,
        "10.0.2.5/30",
        "10.0.2.6",
        "255.255.255.252",
        "10.0.2.5",
    );
}

#[test]
fn a_client_without_the_arista_class_gets_nothing() {
    require_netns!("busybox");
    let lab = Lab::new("10.0.3.0/31");
    let server = lab.serve(lab.config(""));
    let bound = udhcpc(
        &lab,
        &lab.leaf_if.clone(),
        Some("MSFT 5.0"),
        Duration::from_secs(3),
    );
    assert!(bound.is_none(), "{bound:?}");
    let m = server.handle.metrics();
    assert!(m.ignored_non_class >= 2, "{m:?}");
    assert_eq!(m.sent_offer, 0);
    server.stop();
}

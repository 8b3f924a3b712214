//! IPv4 forwarding through the real /proc/sys of a namespace made per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ztps_net::sysctl::{self, Sysctl};
use ztps_testkit::{Netns, require_netns};

fn sysctl_n(ns: &Netns, key: &str) -> String {
    let out = ns.command("sysctl").args(["-n", key]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn forwarding_flips_from_0_to_1_once_and_only_in_the_namespace() {
    require_netns!("ip", "sysctl");
    let ns = Netns::new("fwd");
    let host_before = Sysctl::system().read("net.ipv4.ip_forward").unwrap();
    // A new namespace may inherit the host's value; start from 0.
    let out = ns
        .command("sysctl")
        .args(["-qw", "net.ipv4.ip_forward=0"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(sysctl_n(&ns, "net.ipv4.ip_forward"), "0");
    assert_eq!(sysctl_n(&ns, "net.ipv4.conf.all.forwarding"), "0");

    let (first, second) = ns.run(|| {
        (
            sysctl::ensure_ipv4_forwarding().unwrap(),
            sysctl::ensure_ipv4_forwarding().unwrap(),
        )
    });
    // The kernel keeps both keys in one variable: writing ip_forward already
    // set conf.all.forwarding, which was then read as 1 and not written.
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].key, "net.ipv4.ip_forward");
    assert_eq!((first[0].from.as_str(), first[0].to.as_str()), ("0", "1"));
    assert!(second.is_empty(), "{second:?}");
    assert_eq!(sysctl_n(&ns, "net.ipv4.ip_forward"), "1");
    assert_eq!(sysctl_n(&ns, "net.ipv4.conf.all.forwarding"), "1");
    assert_eq!(
        Sysctl::system().read("net.ipv4.ip_forward").unwrap(),
        host_before
    );
}

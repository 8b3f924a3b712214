//! `ensure_bridge`, `bridge_ports` and `add_port` against the real kernel, in
//! a namespace made per test, checked with `ip -j` and `bridge -j`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};

use rtnetlink::Handle;
use serde_json::Value;
use ztps_net::NetError;
use ztps_net::bridge::{BridgeChange, add_port, bridge_ports, ensure_bridge};
use ztps_testkit::{Netns, require_netns};

/// Runs `f` with a netlink handle inside `ns`, on a runtime of its own.
fn in_ns<T, F, Fut>(ns: &Netns, f: F) -> T
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = T>,
{
    ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (connection, handle) = ztps_net::bridge::connection().unwrap();
            tokio::spawn(connection);
            f(handle).await
        })
    })
}

fn json(ns: &Netns, args: &[&str]) -> Value {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    serde_json::from_str(&ns.ip(&all)).unwrap()
}

fn link(ns: &Netns, name: &str) -> Value {
    json(ns, &["-d", "link", "show", "dev", name])[0].clone()
}

fn ipv4_addrs(ns: &Netns, name: &str) -> Vec<String> {
    // `ip -4` prints `[{}]` or `[]` for a link without IPv4 addresses.
    let v = json(ns, &["-4", "addr", "show", "dev", name]);
    v[0]["addr_info"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

fn is_up(link: &Value) -> bool {
    link["flags"].as_array().unwrap().iter().any(|f| f == "UP")
}

/// `bridge -j link` inside the namespace: (port name, master name).
fn bridge_link_ports(ns: &Netns) -> Vec<(String, String)> {
    let out = ns.command("bridge").args(["-j", "link"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["ifname"].as_str().unwrap().to_string(),
                p["master"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

const ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

#[test]
fn creates_the_bridge_then_a_second_call_changes_nothing() {
    require_netns!("ip");
    let ns = Netns::new("brc");
    let first = in_ns(&ns, |h| async move {
        ensure_bridge(&h, "br0", ADDR, 24).await.unwrap()
    });
    assert_eq!(
        first.changes,
        vec![
            BridgeChange::Created,
            BridgeChange::AddressAdded {
                addr: ADDR,
                prefix: 24
            },
            BridgeChange::BroughtUp
        ]
    );
    assert!(first.other_addresses.is_empty(), "{first:?}");
    let l = link(&ns, "br0");
    assert_eq!(l["linkinfo"]["info_kind"], "bridge");
    assert!(is_up(&l), "{l}");
    assert_eq!(l["ifindex"], first.ifindex);
    assert_eq!(ipv4_addrs(&ns, "br0"), vec!["10.77.0.1/24"]);

    let second = in_ns(&ns, |h| async move {
        ensure_bridge(&h, "br0", ADDR, 24).await.unwrap()
    });
    assert!(second.unchanged(), "{second:?}");
    // Now up, the bridge may have an IPv6 link-local address: not reported.
    assert!(second.other_addresses.is_empty(), "{second:?}");
    assert_eq!(second.ifindex, first.ifindex);
    assert_eq!(ipv4_addrs(&ns, "br0"), vec!["10.77.0.1/24"]);
}

#[test]
fn an_existing_bridge_with_a_port_is_kept_and_completed() {
    require_netns!("ip", "bridge");
    let ns = Netns::new("brp");
    ns.ip(&["link", "add", "br0", "type", "bridge"]);
    ns.ip(&["link", "add", "vm0", "type", "veth", "peer", "name", "vm0p"]);
    ns.ip(&["link", "set", "vm0", "master", "br0"]);
    ns.ip(&["addr", "add", "192.0.2.9/28", "dev", "br0"]);
    ns.ip(&["link", "set", "vm0", "up"]);
    ns.ip(&["link", "set", "vm0p", "up"]);
    let index_before = link(&ns, "br0")["ifindex"].clone();

    let report = in_ns(&ns, |h| async move {
        ensure_bridge(&h, "br0", ADDR, 24).await.unwrap()
    });
    assert_eq!(
        report.changes,
        vec![
            BridgeChange::AddressAdded {
                addr: ADDR,
                prefix: 24
            },
            BridgeChange::BroughtUp
        ]
    );
    assert_eq!(
        report.other_addresses,
        vec![(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)), 28)]
    );
    assert_eq!(
        link(&ns, "br0")["ifindex"],
        index_before,
        "bridge was re-created"
    );
    let mut addrs = ipv4_addrs(&ns, "br0");
    addrs.sort();
    assert_eq!(addrs, vec!["10.77.0.1/24", "192.0.2.9/28"]);
    assert_eq!(
        bridge_link_ports(&ns),
        vec![("vm0".to_string(), "br0".to_string())]
    );

    let ports = in_ns(
        &ns,
        |h| async move { bridge_ports(&h, "br0").await.unwrap() },
    );
    assert_eq!(ports.len(), 1, "{ports:?}");
    let vm0 = link(&ns, "vm0");
    assert_eq!(ports[0].name, "vm0");
    assert_eq!(ports[0].ifindex, vm0["ifindex"].as_u64().unwrap() as u32);
    let mac = ports[0].mac.unwrap().map(|b| format!("{b:02x}")).join(":");
    assert_eq!(mac, vm0["address"].as_str().unwrap());
    assert_eq!(ports[0].oper_up, vm0["operstate"] == "UP", "{vm0}");
}

#[test]
fn a_dummy_link_holding_the_name_is_an_error_and_left_alone() {
    require_netns!("ip");
    let ns = Netns::new("brd");
    // Kernels without the dummy module (some containers) get a veth instead:
    // any link that is not a bridge must be refused the same way.
    let kind = match ns
        .command("ip")
        .args(["link", "add", "br0", "type", "dummy"])
        .output()
        .unwrap()
    {
        out if out.status.success() => "dummy",
        _ => {
            eprintln!("no dummy links in this kernel; using a veth named br0");
            ns.ip(&["link", "add", "br0", "type", "veth", "peer", "name", "br0p"]);
            "veth"
        }
    };
    let err = in_ns(&ns, |h| async move {
        ensure_bridge(&h, "br0", ADDR, 24).await.unwrap_err()
    });
    assert!(
        matches!(&err, NetError::NotABridge { kind: k, .. } if k == kind),
        "{err}"
    );
    assert!(err.to_string().contains("not a bridge"), "{err}");
    let l = link(&ns, "br0");
    assert_eq!(l["linkinfo"]["info_kind"], kind);
    assert!(!is_up(&l));
    assert!(ipv4_addrs(&ns, "br0").is_empty());
    let err = in_ns(&ns, |h| async move {
        bridge_ports(&h, "br0").await.unwrap_err()
    });
    assert!(matches!(err, NetError::NotABridge { .. }), "{err}");
}

#[test]
fn the_same_address_with_another_prefix_is_an_error_and_left_alone() {
    require_netns!("ip");
    let ns = Netns::new("brm");
    ns.ip(&["link", "add", "br0", "type", "bridge"]);
    ns.ip(&["addr", "add", "10.77.0.1/16", "dev", "br0"]);
    let err = in_ns(&ns, |h| async move {
        ensure_bridge(&h, "br0", ADDR, 24).await.unwrap_err()
    });
    assert!(
        matches!(
            err,
            NetError::AddressPrefixMismatch {
                have: 16,
                want: 24,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(ipv4_addrs(&ns, "br0"), vec!["10.77.0.1/16"]);
    assert!(!is_up(&link(&ns, "br0")));
}

#[test]
fn add_port_enslaves_once_and_refuses_a_port_of_another_bridge() {
    require_netns!("ip", "bridge");
    let ns = Netns::new("bra");
    ns.ip(&["link", "add", "p0", "type", "veth", "peer", "name", "p0x"]);
    ns.ip(&["link", "add", "other", "type", "bridge"]);
    ns.ip(&["link", "set", "p0x", "master", "other"]);
    let (first, second, foreign, missing) = in_ns(&ns, |h| async move {
        ensure_bridge(&h, "br0", ADDR, 24).await.unwrap();
        let first = add_port(&h, "br0", "p0").await.unwrap();
        let second = add_port(&h, "br0", "p0").await.unwrap();
        let foreign = add_port(&h, "br0", "p0x").await.unwrap_err();
        let missing = add_port(&h, "br0", "nope").await.unwrap_err();
        (first, second, foreign, missing)
    });
    assert!(first);
    assert!(!second);
    assert!(
        matches!(&foreign, NetError::PortOfOtherMaster { other, .. } if other == "other"),
        "{foreign}"
    );
    assert!(
        matches!(&missing, NetError::LinkNotFound { name } if name == "nope"),
        "{missing}"
    );
    let mut ports = bridge_link_ports(&ns);
    ports.sort();
    assert_eq!(
        ports,
        vec![
            ("p0".to_string(), "br0".to_string()),
            ("p0x".to_string(), "other".to_string())
        ]
    );
}

#[test]
fn ports_of_a_missing_bridge_is_link_not_found() {
    require_netns!("ip");
    let ns = Netns::new("brn");
    let err = in_ns(&ns, |h| async move {
        bridge_ports(&h, "br9").await.unwrap_err()
    });
    assert!(
        matches!(&err, NetError::LinkNotFound { name } if name == "br9"),
        "{err}"
    );
}

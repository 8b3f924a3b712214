//! The watcher against the kernel: its table must match what `ip -j` reports,
//! at start and after links and addresses change under it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ztps_net::iftable::{InterfaceTable, Ipv4Net};
use ztps_net::watch::{NetEvent, Watch};
use ztps_testkit::{Netns, require_netns};

/// name -> (up, mac, sorted IPv4 addresses) as `ip -j addr` tells it.
type View = BTreeMap<String, (bool, String, Vec<String>)>;

fn ip_view(ns: &Netns) -> View {
    let json: serde_json::Value = serde_json::from_str(&ns.ip(&["-j", "addr", "show"])).unwrap();
    let mut view = View::new();
    for link in json.as_array().unwrap() {
        let name = link["ifname"].as_str().unwrap().to_string();
        let flags: Vec<&str> = link["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let up = flags.contains(&"UP") && flags.contains(&"LOWER_UP");
        let mac = link["address"].as_str().unwrap_or("").to_string();
        let mut addrs: Vec<String> = link["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["family"] == "inet")
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
            .collect();
        addrs.sort();
        view.insert(name, (up, mac, addrs));
    }
    view
}

fn table_view(table: &InterfaceTable) -> View {
    table
        .snapshot()
        .into_iter()
        .map(|i| {
            let mac = i
                .mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            let mut addrs: Vec<String> = i.ipv4.iter().map(|n| n.to_string()).collect();
            addrs.sort();
            (i.name, (i.up, mac, addrs))
        })
        .collect()
}

fn wait_until_equal(ns: &Netns, table: &InterfaceTable, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let (want, got) = (ip_view(ns), table_view(table));
        if want == got {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: table {got:#?} != ip {want:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn table_follows_the_kernel() {
    require_netns!();
    let ns = Netns::new("nwat");
    ns.ip(&[
        "link", "add", "p2p0", "type", "veth", "peer", "name", "p2p1",
    ]);
    ns.ip(&["addr", "add", "10.1.0.0/31", "dev", "p2p0"]);
    ns.ip(&["addr", "add", "10.1.0.1/31", "dev", "p2p1"]);
    ns.ip(&["link", "set", "p2p0", "up"]);
    ns.ip(&["link", "set", "p2p1", "up"]);

    let table = InterfaceTable::new();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (event_tx, event_rx) = std::sync::mpsc::channel();
    let t = table.clone();
    let worker = ns.spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let watch = Watch::start(t).await.unwrap();
            let mut events = watch.subscribe();
            ready_tx.send(()).unwrap();
            tokio::pin!(stop_rx);
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    ev = events.recv() => { let _ = event_tx.send(ev.unwrap()); }
                }
            }
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    wait_until_equal(&ns, &table, "after the initial dump");
    let p2p0 = table.by_name("p2p0").unwrap();
    assert!(p2p0.up);
    assert_eq!(
        p2p0.ipv4,
        vec![Ipv4Net {
            addr: Ipv4Addr::new(10, 1, 0, 0),
            prefix_len: 31
        }]
    );

    // A link that appears later, with an address, then goes down and away.
    ns.ip(&[
        "link", "add", "late0", "type", "veth", "peer", "name", "late1",
    ]);
    ns.ip(&["addr", "add", "10.2.0.1/30", "dev", "late0"]);
    ns.ip(&["addr", "add", "192.0.2.9/24", "dev", "late0"]);
    ns.ip(&["link", "set", "late0", "up"]);
    ns.ip(&["link", "set", "late1", "up"]);
    wait_until_equal(&ns, &table, "after a new link");
    assert!(table.by_name("late0").unwrap().up);

    ns.ip(&["addr", "del", "192.0.2.9/24", "dev", "late0"]);
    ns.ip(&["link", "set", "late1", "down"]);
    wait_until_equal(&ns, &table, "after address removal and carrier loss");
    assert!(
        !table.by_name("late0").unwrap().up,
        "peer down means no carrier"
    );

    ns.ip(&["link", "del", "late0"]);
    wait_until_equal(&ns, &table, "after link deletion");
    assert!(table.by_name("late0").is_none());

    stop_tx.send(()).unwrap();
    worker.join().unwrap();
    let events: Vec<NetEvent> = event_rx.try_iter().collect();
    let late_index = events.iter().find_map(|e| match e {
        NetEvent::Link { index, name, .. } if name == "late0" => Some(*index),
        _ => None,
    });
    let late_index = late_index.expect("a Link event for late0");
    assert!(events.contains(&NetEvent::AddressAdded {
        index: late_index,
        net: Ipv4Net {
            addr: Ipv4Addr::new(10, 2, 0, 1),
            prefix_len: 30
        }
    }));
    assert!(events.contains(&NetEvent::AddressRemoved {
        index: late_index,
        net: Ipv4Net {
            addr: Ipv4Addr::new(192, 0, 2, 9),
            prefix_len: 24
        }
    }));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, NetEvent::LinkRemoved { name, .. } if name == "late0"))
    );
}

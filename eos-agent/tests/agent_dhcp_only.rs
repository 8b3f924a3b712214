//! `ztps-agent run` as a DHCP server alone (issue 3): a config with only
//! `[dhcp]` serves leaves and touches nothing else (no bridge, no eAPI, no VM).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use agent_common::Lab;

#[test]
fn a_dhcp_only_config_serves_leases_and_creates_no_bridge() {
    ztps_testkit::require_netns!("busybox", "curl");
    let lab = Lab::new(1);
    lab.link_up(1);
    let url = "http://192.0.2.10/bootstrap";
    let config = lab.path("dhcp-only.toml");
    std::fs::write(
        &config,
        format!(
            "[dhcp]\nbootstrap_url = \"{url}\"\nlease_file = \"{}\"\n",
            lab.path("leases").display()
        ),
    )
    .unwrap();
    // The status endpoint keeps its default, 127.0.0.1:8087 in the spine's
    // own namespace.
    let mut agent = lab.start_agent(&config);
    let status = lab.wait_status(&agent, "DHCP server up", Duration::from_secs(20), |s| {
        s["dhcp"]["running"] == true
    });
    assert_eq!(status["bridge"]["state"], "disabled", "{status}");
    assert_eq!(status["vm"]["managed"], false, "{status}");
    assert_ne!(status["eapi"]["enabled"], true, "{status}");

    let lease = lab.dhcp(1).expect("the leaf gets a lease");
    assert_eq!(lease["ip"], "10.1.1.1");
    assert_eq!(lease["router"], "10.1.1.0");
    assert_eq!(lease["subnet"], "255.255.255.254");
    assert_eq!(lease["bootfile"], url);

    assert!(agent.alive(), "agent exited:\n{}", agent.log());
    let links = lab.spine.ip(&["-o", "link", "show"]);
    assert!(
        !links.contains("br0"),
        "a dhcp-only agent created a bridge:\n{links}"
    );
    assert!(
        std::fs::metadata(lab.path("leases")).unwrap().len() > 0,
        "the lease is journalled"
    );
}

/// A config serving `10.50.0.0/24` on et1 (tied by name), no rate limit.
fn burst_config(lab: &Lab) -> std::path::PathBuf {
    lab.spine.ip(&["addr", "add", "10.50.0.1/24", "dev", "et1"]);
    lab.leaves[0].ip(&["addr", "add", "10.50.0.2/24", "dev", "et49"]);
    let config = lab.path("burst.toml");
    std::fs::write(
        &config,
        format!(
            "[dhcp]\nbootstrap_url = \"http://192.0.2.10/bootstrap\"\nlease_file = \"{}\"\n\
             [dhcp.rate_limit]\npackets_per_second = 0\n\
             [[dhcp.subnets]]\nsubnet = \"10.50.0.0/24\"\ninterface = \"Ethernet1\"\n\
             ranges = [{{ start = \"10.50.0.10\", end = \"10.50.0.250\" }}]\n\
             [status]\nenable = false\n",
            lab.path("leases").display()
        ),
    )
    .unwrap();
    config
}

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 50, 0, 1);

/// A client message, built by hand: BOOTREQUEST, broadcast flag, the
/// Arista class, then the options given.
fn request(kind: u8, mac: [u8; 6], xid: u32, extra: &[(u8, [u8; 4])]) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[10] = 0x80;
    p[28..34].copy_from_slice(&mac);
    p.extend_from_slice(&[99, 130, 83, 99, 53, 1, kind]);
    let vc = b"Arista;DCS-7050SX3-48YC8;11.00;BURST";
    p.extend_from_slice(&[60, vc.len() as u8]);
    p.extend_from_slice(vc);
    for (code, value) in extra {
        p.extend_from_slice(&[*code, 4]);
        p.extend_from_slice(value);
    }
    p.push(255);
    p
}

/// `(message type, chaddr, yiaddr)` of a server reply.
fn reply(p: &[u8]) -> Option<(u8, [u8; 6], Ipv4Addr)> {
    if p.len() < 240 || p[0] != 2 {
        return None;
    }
    let mac: [u8; 6] = p[28..34].try_into().ok()?;
    let yiaddr = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let mut i = 240;
    while i + 1 < p.len() {
        match p[i] {
            0 => i += 1,
            255 => break,
            53 => return Some((*p.get(i + 2)?, mac, yiaddr)),
            _ => i += 2 + usize::from(p[i + 1]),
        }
    }
    None
}

/// One burst from the leaf: DISCOVERs (repeated until every MAC has an
/// OFFER: the agent may still be starting), then all REQUESTs at once; as
/// soon as the first ACK arrives the agent is killed with SIGKILL. Returns
/// the ACKs the clients saw: each was sent, so it must have been durable.
fn burst_then_kill(
    lab: &Lab,
    agent: &mut agent_common::Proc,
    macs: &[[u8; 6]],
) -> HashMap<[u8; 6], Ipv4Addr> {
    lab.leaves[0].run(|| {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 68)).unwrap();
        s.set_broadcast(true).unwrap();
        let mut buf = [0u8; 1500];
        let mut offers: HashMap<[u8; 6], Ipv4Addr> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while offers.len() < macs.len() {
            assert!(Instant::now() < deadline, "no OFFERs:\n{}", agent.log());
            for (i, mac) in macs
                .iter()
                .enumerate()
                .filter(|(_, m)| !offers.contains_key(*m))
            {
                s.send_to(&request(1, *mac, i as u32, &[]), (SERVER, 67))
                    .unwrap();
            }
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            while let Ok((n, _)) = s.recv_from(&mut buf) {
                if let Some((2, mac, ip)) = reply(&buf[..n]) {
                    offers.insert(mac, ip);
                }
            }
        }
        for (i, (mac, ip)) in offers.iter().enumerate() {
            let p = request(
                3,
                *mac,
                1000 + i as u32,
                &[(50, ip.octets()), (54, SERVER.octets())],
            );
            s.send_to(&p, (SERVER, 67)).unwrap();
        }
        let mut acked = HashMap::new();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        while acked.is_empty() {
            let (n, _) = s.recv_from(&mut buf).expect("no ACK at all");
            if let Some((5, mac, ip)) = reply(&buf[..n]) {
                acked.insert(mac, ip);
            }
        }
        agent.child.kill().unwrap();
        agent.child.wait().unwrap();
        // Whatever reached the socket before the kill counts too.
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        while let Ok((n, _)) = s.recv_from(&mut buf) {
            if let Some((5, mac, ip)) = reply(&buf[..n]) {
                acked.insert(mac, ip);
            }
        }
        acked
    })
}

#[test]
fn twenty_kill_9_during_bursts_lose_no_acknowledged_lease() {
    ztps_testkit::require_netns!();
    let lab = Lab::new(1);
    lab.link_up(1);
    let config = burst_config(&lab);
    let mut acked: HashMap<[u8; 6], Ipv4Addr> = HashMap::new();
    for round in 0u8..20 {
        let mut agent = lab.start_agent(&config);
        let macs: Vec<[u8; 6]> = (0..10u8).map(|i| [2, 0, 0, 0x50, round, i]).collect();
        let got = burst_then_kill(&lab, &mut agent, &macs);
        assert!(!got.is_empty());
        acked.extend(got);
    }
    // What a restart recovers: the journal, replayed as the server does.
    let loaded = ztps_dhcp::journal::load(&lab.path("leases")).unwrap();
    let mut table = ztps_dhcp::leases::LeaseTable::default();
    for record in &loaded.records {
        table.apply(record);
    }
    let recovered: HashMap<[u8; 6], Ipv4Addr> = table
        .all()
        .iter()
        .filter(|l| l.state == ztps_dhcp::leases::LeaseState::Bound)
        .map(|l| (l.hwaddr.0, l.ip))
        .collect();
    let lost: Vec<_> = acked
        .iter()
        .filter(|(mac, ip)| recovered.get(*mac) != Some(*ip))
        .collect();
    eprintln!(
        "{} leases ACKed to the clients over 20 kill -9, {} recovered, {} lost",
        acked.len(),
        recovered.len(),
        lost.len()
    );
    assert!(acked.len() >= 20);
    assert!(lost.is_empty(), "lost: {lost:?}");
}

#[test]
fn a_second_agent_on_the_same_lease_file_is_refused_with_the_reason() {
    ztps_testkit::require_netns!();
    let lab = Lab::new(1);
    lab.link_up(1);
    let config = burst_config(&lab);
    let mut first = lab.start_agent(&config);
    // The first one holds the journal once it answers.
    let macs = [[2, 0, 0, 0x51, 0, 1]];
    lab.leaves[0].run(|| {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 68)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 1500];
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            s.send_to(&request(1, macs[0], 1, &[]), (SERVER, 67))
                .unwrap();
            if let Ok((n, _)) = s.recv_from(&mut buf)
                && reply(&buf[..n]).is_some_and(|r| r.0 == 2)
            {
                break;
            }
            assert!(Instant::now() < deadline, "{}", first.log());
        }
    });
    let mut second = lab.start_agent(&config);
    assert_eq!(
        second.wait_exit(Duration::from_secs(20)),
        Some(1),
        "{}",
        second.log()
    );
    let log = second.log();
    assert!(log.contains("in use by another DHCP server"), "{log}");
    assert!(first.alive(), "{}", first.log());
}

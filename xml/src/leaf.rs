//! The built-in Day-1 startup-config of a leaf: a working L3 underlay from
//! the leaf's plan (every uplink routed, Loopback0, eBGP to every spine on
//! every uplink), with the fabric's admin user, NTP and syslog.

use std::fmt::Write as _;

use ztps_config::{Fabric, LeafPlan};

/// Renders the built-in startup-config of one leaf.
pub fn leaf_config(fabric: &Fabric, plan: &LeafPlan) -> String {
    let mut out = String::with_capacity(1024 + plan.uplinks.len() * 256);
    let _ = writeln!(
        out,
        "! Day-1 startup-config of {}, rendered by ztps-eos from the fabric description.",
        plan.hostname
    );
    if let Some(serial) = &plan.serial {
        let _ = writeln!(out, "! serial number {serial}");
    }
    // The multi-agent model is what EOS's current BGP features need; it
    // takes effect at the reload that ends ZTP.
    out.push_str("!\nservice routing protocols model multi-agent\n!\n");
    let _ = writeln!(out, "hostname {}", plan.hostname);
    out.push_str("!\n");
    let underlay = &fabric.underlay;
    if let Some(admin) = &underlay.admin {
        let _ = writeln!(
            out,
            "username {} privilege 15 role {} nopassword",
            admin.username, admin.role
        );
        let _ = writeln!(out, "username {} ssh-key {}", admin.username, admin.ssh_key);
        out.push_str("!\n");
    }
    for server in &underlay.ntp_servers {
        let _ = writeln!(out, "ntp server {server}");
    }
    if !underlay.ntp_servers.is_empty() {
        out.push_str("!\n");
    }
    for server in &underlay.syslog_servers {
        let _ = writeln!(out, "logging host {server}");
    }
    if !underlay.syslog_servers.is_empty() {
        out.push_str("!\n");
    }
    out.push_str("ip routing\n!\n");
    for uplink in &plan.uplinks {
        let _ = writeln!(out, "interface {}", uplink.interface);
        let _ = writeln!(
            out,
            "   description uplink to {} {}",
            uplink.peer, uplink.peer_interface
        );
        if let Some(speed) = &uplink.speed {
            let _ = writeln!(out, "   speed {speed}");
        }
        out.push_str("   no switchport\n");
        let _ = writeln!(out, "   ip address {}", uplink.address);
        out.push_str("!\n");
    }
    out.push_str("interface Loopback0\n   description router ID\n");
    let _ = writeln!(out, "   ip address {}/32", plan.loopback);
    out.push_str("!\n");

    let _ = writeln!(out, "router bgp {}", plan.asn);
    let _ = writeln!(out, "   router-id {}", plan.loopback);
    // Every spine is an equal way to the ZTPServer and to the other leaves.
    out.push_str("   maximum-paths 4 ecmp 4\n");
    for uplink in &plan.uplinks {
        if let Some(asn) = uplink.peer_asn {
            let _ = writeln!(out, "   neighbor {} remote-as {asn}", uplink.peer_ip);
            let _ = writeln!(
                out,
                "   neighbor {} description {} {}",
                uplink.peer_ip, uplink.peer, uplink.peer_interface
            );
        }
    }
    let _ = writeln!(out, "   network {}/32", plan.loopback);
    out.push_str("!\n");
    // A spine without BGP still carries the way to the ZTPServer.
    let statics: Vec<_> = plan
        .uplinks
        .iter()
        .filter(|u| u.peer_asn.is_none())
        .collect();
    if !statics.is_empty() && !plan.ztpserver_subnet.is_empty() {
        for uplink in statics {
            let _ = writeln!(out, "ip route {} {}", plan.ztpserver_subnet, uplink.peer_ip);
        }
        out.push_str("!\n");
    }
    out.push_str("end\n");
    out
}

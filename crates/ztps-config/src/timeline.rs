//! `[timeline]`: the per-leaf timeline of the agent (where it hears the
//! leaves' bootstrap logs, and how long each stage may last before the
//! leaf is reported stuck), and ZTPServer's `bootstrap.conf` that points
//! the bootstrap's syslog at it.

use std::net::{Ipv4Addr, SocketAddr};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::diag::{KeyPath, Problems};
use crate::fabric::LeafLink;

/// The syslog port; the bootstrap's `destination` names it.
pub const BOOTSTRAP_SYSLOG_PORT: u16 = 514;

/// The timeline's settings. Every deadline counts from the moment the leaf
/// entered the stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimelineConfig {
    pub enable: bool,
    /// The spine's hostname, for the messages ("cabled to spine1
    /// Ethernet3"); derived from the fabric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spine: Option<String>,
    /// Where the bootstrap logs arrive; default: the bridge address, UDP 514
    /// (the address the leaves reach at Day-0, and only that one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syslog_listen: Option<SocketAddr>,
    /// Datagrams taken per second, at most; the rest are counted and dropped.
    pub syslog_rate_per_sec: u32,
    /// Link up, no DHCP DISCOVER.
    pub discover_deadline_secs: u64,
    /// DISCOVER seen, no ACK.
    pub ack_deadline_secs: u64,
    /// ACK sent, no bootstrap log.
    pub bootstrap_deadline_secs: u64,
    /// Bootstrap running, definition not applied.
    pub apply_deadline_secs: u64,
    /// Definition applied or reloading, LLDP not yet on plan.
    pub reload_deadline_secs: u64,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        // A leaf's DISCOVER follows link-up within a boot (EOS ZTP waits for
        // links, a few minutes at worst); an ACK follows a DISCOVER in
        // seconds; the bootstrap starts in seconds after the ACK; applying a
        // definition with an EOS image download takes minutes; a reload of a
        // real switch takes 5 to 10 minutes.
        TimelineConfig {
            enable: true,
            spine: None,
            syslog_listen: None,
            syslog_rate_per_sec: 200,
            discover_deadline_secs: 600,
            ack_deadline_secs: 60,
            bootstrap_deadline_secs: 180,
            apply_deadline_secs: 1800,
            reload_deadline_secs: 900,
        }
    }
}

impl TimelineConfig {
    /// Where the receiver binds: `syslog_listen`, else the bridge address on
    /// port 514.
    pub fn syslog_address(&self, bridge: Option<&Ipv4Net>) -> Option<SocketAddr> {
        self.syslog_listen
            .or_else(|| bridge.map(|b| SocketAddr::from((b.addr(), BOOTSTRAP_SYSLOG_PORT))))
    }

    pub(crate) fn check(&self, at: &KeyPath, problems: &mut Problems) {
        if let Some(listen) = self.syslog_listen
            && listen.ip().is_unspecified()
        {
            problems.push(
                at.key("syslog_listen"),
                format!(
                    "{listen} would take syslog from every interface; give the bridge address the leaves reach, like 172.16.130.254:514"
                ),
            );
        }
        if self.syslog_rate_per_sec == 0 {
            problems.push(
                at.key("syslog_rate_per_sec"),
                "0 would drop every bootstrap log; use at least 1 (default 200)",
            );
        }
        for (key, value) in [
            ("discover_deadline_secs", self.discover_deadline_secs),
            ("ack_deadline_secs", self.ack_deadline_secs),
            ("bootstrap_deadline_secs", self.bootstrap_deadline_secs),
            ("apply_deadline_secs", self.apply_deadline_secs),
            ("reload_deadline_secs", self.reload_deadline_secs),
        ] {
            if value == 0 {
                problems.push(
                    at.key(key),
                    "0 s would report every leaf stuck at once; give seconds, at least 1",
                );
            }
        }
    }
}

/// ZTPServer's `bootstrap.conf`: the bootstrap sends its log to
/// `destination` (the agent's syslog receiver). The comment carries the
/// control-plane ACL line a spine with a custom control-plane ACL needs, as
/// EOS's default one does not permit syslog.
pub fn bootstrap_conf(destination: SocketAddr, leaves: &[LeafLink]) -> String {
    let mut out = String::from(
        "# ZTPServer bootstrap.conf, rendered by ztps-agent: each leaf's bootstrap\n\
         # sends its log to the spine's ztps-agent, which turns it into the leaf's\n\
         # timeline (ztps-agent status).\n\
         #\n\
         # EOS's default control-plane ACL does not permit syslog. A spine with a\n\
         # custom control-plane ACL (system control-plane / ip access-group NAME in)\n\
         # needs, in that ACL:\n",
    );
    for line in control_plane_acl_lines(destination, leaves) {
        out.push_str("#    ");
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!(
        "logging:\n  - destination: \"{}:{}\"\n    level: INFO\n",
        destination.ip(),
        destination.port()
    ));
    out
}

/// The EOS ACL entries that let the leaves' bootstrap logs reach the
/// receiver: one per leaf link (the leaf's source address is its lease).
pub fn control_plane_acl_lines(destination: SocketAddr, leaves: &[LeafLink]) -> Vec<String> {
    let port = match destination.port() {
        514 => "syslog".to_string(),
        p => p.to_string(),
    };
    let host = match destination.ip() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    let mut subnets: Vec<Ipv4Net> = leaves.iter().map(|l| l.subnet.trunc()).collect();
    subnets.sort();
    subnets.dedup();
    if subnets.is_empty() {
        return vec![format!("permit udp any host {host} eq {port}")];
    }
    subnets
        .iter()
        .map(|net| format!("permit udp {net} host {host} eq {port}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(subnet: &str) -> LeafLink {
        LeafLink {
            interface: "Ethernet1".into(),
            leaf: "leaf1".into(),
            leaf_interface: Some("Ethernet49".into()),
            subnet: subnet.parse().unwrap(),
            serial: None,
            system_mac: None,
            image: None,
            extensions: None,
            speed: None,
        }
    }

    #[test]
    fn bootstrap_conf_points_the_log_at_the_agent() {
        let to: SocketAddr = "172.16.130.254:514".parse().unwrap();
        let text = bootstrap_conf(to, &[link("10.1.1.0/31"), link("10.1.1.4/30")]);
        assert!(
            text.contains("logging:\n  - destination: \"172.16.130.254:514\"\n    level: INFO\n"),
            "{text}"
        );
        assert!(text.contains("#    permit udp 10.1.1.0/31 host 172.16.130.254 eq syslog\n"));
        assert!(text.contains("#    permit udp 10.1.1.4/30 host 172.16.130.254 eq syslog\n"));
    }

    #[test]
    fn the_receiver_binds_the_bridge_address_unless_told() {
        let mut t = TimelineConfig::default();
        let bridge: Ipv4Net = "172.16.130.254/24".parse().unwrap();
        assert_eq!(
            t.syslog_address(Some(&bridge)),
            Some("172.16.130.254:514".parse().unwrap())
        );
        assert_eq!(t.syslog_address(None), None);
        t.syslog_listen = Some("127.0.0.1:5514".parse().unwrap());
        assert_eq!(
            t.syslog_address(Some(&bridge)),
            Some("127.0.0.1:5514".parse().unwrap())
        );
        assert_eq!(
            control_plane_acl_lines("127.0.0.1:5514".parse().unwrap(), &[]),
            vec!["permit udp any host 127.0.0.1 eq 5514".to_string()]
        );
    }
}

//! The DHCP step: the agent config's `[dhcp]` as the server's
//! [`ServerConfig`], and which interfaces that serves right now.

use anyhow::bail;
use serde::Serialize;
use ztps_config::AgentConfig;
use ztps_dhcp::ServerConfig;
use ztps_dhcp::config::{PointToPoint, Range, RateLimit, Reservation, Subnet};
use ztps_net::iftable::Interface;

/// Interfaces the server never derives a pool for, besides the bridge.
const NEVER_AUTO: [&str; 3] = ["ma*", "management*", "lo"];

/// Config names may be EOS's (`Ethernet1/1`) or the kernel's (`et1_1`);
/// the server matches kernel names.
fn kernel_name(name: &str) -> String {
    ztps_eapi::ifname::eos_to_kernel(name).unwrap_or_else(|| name.to_string())
}

/// The server config for `config`, validated the way the server will.
pub fn server_config(config: &AgentConfig) -> anyhow::Result<ServerConfig> {
    let dhcp = &config.dhcp;
    if dhcp.vendor_class_prefixes.iter().any(String::is_empty) {
        bail!(
            "dhcp.vendor_class_prefixes: an empty prefix is not supported by the DHCP server; list the classes to answer, like [\"Arista\"]"
        );
    }
    let mut exclude: Vec<String> = NEVER_AUTO.iter().map(|s| s.to_string()).collect();
    if let Some(bridge) = &config.bridge {
        exclude.push(bridge.name.clone());
    }
    exclude.extend(dhcp.auto_p2p.exclude.iter().map(|n| kernel_name(n)));
    let include = if dhcp.auto_p2p.include.is_empty() {
        vec!["*".to_string()]
    } else {
        dhcp.auto_p2p
            .include
            .iter()
            .map(|n| kernel_name(n))
            .collect()
    };
    let subnets = dhcp
        .subnets
        .iter()
        .map(|s| Subnet {
            network: s.subnet,
            router: s.router,
            ranges: s
                .ranges
                .iter()
                .map(|r| Range {
                    start: r.start,
                    end: r.end,
                })
                .collect(),
            reservations: s
                .reservations
                .iter()
                .map(|r| Reservation {
                    ip: r.address,
                    mac: r.mac.map(|m| m.to_string()),
                    client_id: r.client_id.clone(),
                    serial: r.serial.clone(),
                })
                .collect(),
        })
        .collect();
    // The config speaks of packets per minute per client and per second
    // overall; the server's token buckets refill per second, so a client
    // gets its minute's worth as burst and at least one packet a second.
    let per_minute = dhcp.rate_limit.per_client_per_minute;
    let rate_limit = RateLimit {
        per_client: per_minute.div_ceil(60).max(1),
        per_client_burst: per_minute.max(1),
        per_interface: dhcp.rate_limit.packets_per_second,
        ..RateLimit::default()
    };
    let server = ServerConfig {
        vendor_class_prefixes: dhcp.vendor_class_prefixes.clone(),
        bootstrap_url: dhcp.bootstrap_url.clone(),
        lease_time: dhcp.lease_time_secs,
        decline_probation: 600,
        lease_file: dhcp.lease_file.clone(),
        dns_servers: dhcp.dns_servers.clone(),
        ntp_servers: dhcp.ntp_servers.clone(),
        port: 67,
        point_to_point: PointToPoint {
            enabled: dhcp.auto_p2p.enable,
            include,
            exclude,
        },
        subnets,
        rate_limit,
    };
    server.validate()?;
    Ok(server)
}

/// One interface the server answers on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Served {
    pub interface: String,
    /// The spine's address on it.
    pub address: String,
    /// `point-to-point` or `subnet 10.20.0.0/24`.
    pub pool: String,
}

/// The interfaces `config` serves among `interfaces` (those up).
pub fn served_interfaces(config: &ServerConfig, interfaces: &[Interface]) -> Vec<Served> {
    let mut served = Vec::new();
    for iface in interfaces.iter().filter(|i| i.up && !i.name.is_empty()) {
        for net in &iface.ipv4 {
            let pool = if (net.prefix_len == 30 || net.prefix_len == 31)
                && config.point_to_point.qualifies(&iface.name)
            {
                Some("point-to-point".to_string())
            } else {
                config
                    .subnets
                    .iter()
                    .find(|s| s.network.contains(&net.addr))
                    .map(|s| format!("subnet {}", s.network))
            };
            if let Some(pool) = pool {
                served.push(Served {
                    interface: iface.name.clone(),
                    address: net.to_string(),
                    pool,
                });
            }
        }
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use ztps_net::iftable::Ipv4Net;

    fn config(extra: &str) -> AgentConfig {
        let text = format!(
            "[bridge]\naddress = \"172.16.130.254/24\"\n[dhcp]\nbootstrap_url = \"http://172.16.130.10:8080/bootstrap\"\nlease_file = \"/tmp/x\"\n{extra}"
        );
        ztps_config::parse_agent_config("test.toml", &text).unwrap()
    }

    #[test]
    fn maps_names_pools_and_rate_limits() {
        let c = config(
            "[dhcp.auto_p2p]\ninclude = [\"Ethernet1/1\", \"et3\"]\nexclude = [\"Ethernet4\"]\n\
             [dhcp.rate_limit]\nper_client_per_minute = 90\npackets_per_second = 500\n\
             [[dhcp.subnets]]\nsubnet = \"10.20.0.0/24\"\nranges = [{start = \"10.20.0.10\", end = \"10.20.0.20\"}]\n\
             [[dhcp.subnets.reservations]]\naddress = \"10.20.0.5\"\nmac = \"00:1c:73:00:00:01\"\n",
        );
        let s = server_config(&c).unwrap();
        assert_eq!(s.point_to_point.include, ["et1_1", "et3"]);
        assert!(s.point_to_point.qualifies("et1_1"));
        assert!(!s.point_to_point.qualifies("et2"), "not included");
        assert!(s.point_to_point.exclude.contains(&"et4".to_string()));
        assert!(!s.point_to_point.qualifies("br0"));
        assert_eq!(
            (s.rate_limit.per_client, s.rate_limit.per_client_burst),
            (2, 90)
        );
        assert_eq!(s.rate_limit.per_interface, 500);
        assert_eq!(
            s.subnets[0].reservations[0].mac.as_deref(),
            Some("00:1c:73:00:00:01")
        );
        assert_eq!(s.lease_time, 86_400);
    }

    #[test]
    fn the_default_per_minute_limit_does_not_disable_the_bucket() {
        let s = server_config(&config("")).unwrap();
        assert_eq!(s.rate_limit.per_client, 1);
        assert!(s.point_to_point.qualifies("et7"));
        assert!(!s.point_to_point.qualifies("ma1"));
    }

    #[test]
    fn an_empty_vendor_class_is_refused_with_the_key() {
        let err = server_config(&config("vendor_class_prefixes = [\"\"]\n")).unwrap_err();
        assert!(
            err.to_string().contains("dhcp.vendor_class_prefixes"),
            "{err}"
        );
    }

    #[test]
    fn served_lists_up_point_to_point_and_subnet_interfaces() {
        let c = config("[[dhcp.subnets]]\nsubnet = \"10.20.0.0/24\"\n");
        let s = server_config(&c).unwrap();
        let iface = |index, name: &str, up, addr: [u8; 4], len| Interface {
            index,
            name: name.into(),
            up,
            mac: vec![],
            ipv4: vec![Ipv4Net {
                addr: Ipv4Addr::from(addr),
                prefix_len: len,
            }],
        };
        let table = [
            iface(2, "et1", true, [10, 0, 0, 0], 31),
            iface(3, "et2", false, [10, 0, 0, 2], 31),
            iface(4, "et3", true, [10, 20, 0, 1], 24),
            iface(5, "br0", true, [172, 16, 130, 254], 30),
            iface(6, "et4", true, [192, 168, 1, 1], 24),
        ];
        let served = served_interfaces(&s, &table);
        let names: Vec<(&str, &str)> = served
            .iter()
            .map(|s| (s.interface.as_str(), s.pool.as_str()))
            .collect();
        assert_eq!(
            names,
            [("et1", "point-to-point"), ("et3", "subnet 10.20.0.0/24")]
        );
    }
}

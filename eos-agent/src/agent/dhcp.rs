//! The DHCP step: the agent config's `[dhcp]` as the server's
//! [`ServerConfig`], and which interfaces that serves right now.

use serde::Serialize;
use ztps_config::AgentConfig;
use ztps_dhcp::ServerConfig;
use ztps_dhcp::pool::{direct_pool, relay_facing};
use ztps_net::iftable::Interface;

/// The server config for `config`: the one conversion `ztps_dhcp` defines
/// from the `[dhcp]` section that `check` validated.
pub fn server_config(config: &AgentConfig) -> anyhow::Result<ServerConfig> {
    Ok(ServerConfig::try_from(&config.dhcp)?)
}

/// One interface the server answers on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Served {
    pub interface: String,
    /// The spine's address on it.
    pub address: String,
    /// `point-to-point`, `subnet 10.20.0.0/24` or `relay`.
    pub pool: String,
}

/// The interfaces `config` serves among `interfaces` (those up), chosen by
/// the function the server itself uses for every request.
pub fn served_interfaces(config: &ServerConfig, interfaces: &[Interface]) -> Vec<Served> {
    let mut served = Vec::new();
    for iface in interfaces.iter().filter(|i| i.up && !i.name.is_empty()) {
        if let Some(pool) = direct_pool(config, iface) {
            let address = iface
                .ipv4
                .iter()
                .find(|n| n.addr == pool.server_ip)
                .map(|n| n.to_string())
                .unwrap_or_else(|| pool.server_ip.to_string());
            served.push(Served {
                interface: iface.name.clone(),
                address,
                pool: pool.describe(),
            });
        }
        if relay_facing(config, iface)
            && let Some(net) = iface.ipv4.first()
        {
            served.push(Served {
                interface: iface.name.clone(),
                address: net.to_string(),
                pool: "relay".to_string(),
            });
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
    fn the_server_config_is_the_one_conversion() {
        let c = config(
            "[dhcp.auto_p2p]\ninclude = [\"Ethernet1/1\", \"et3\"]\nexclude = [\"Ethernet4\"]\n",
        );
        let s = server_config(&c).unwrap();
        assert_eq!(s, ServerConfig::try_from(&c.dhcp).unwrap());
        assert_eq!(s.point_to_point.include, ["et1_1", "et3"]);
    }

    #[test]
    fn an_empty_vendor_class_answers_everyone() {
        let s = server_config(&config("vendor_class_prefixes = [\"\"]\n")).unwrap();
        assert!(s.answers_everyone());
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
            kind: if name == "br0" { "bridge" } else { "" }.into(),
        };
        let table = [
            iface(2, "et1", true, [10, 0, 0, 0], 31),
            iface(3, "et2", false, [10, 0, 0, 2], 31),
            iface(4, "et3", true, [10, 20, 0, 1], 24),
            iface(5, "br0", true, [172, 16, 130, 254], 30),
            iface(6, "et4", true, [192, 168, 1, 1], 24),
            // A /31 inside an explicit subnet: the server answers from the
            // subnet, and the status page says so (it used to say p2p).
            iface(7, "et5", true, [10, 20, 0, 4], 31),
        ];
        let served = served_interfaces(&s, &table);
        let names: Vec<(&str, &str)> = served
            .iter()
            .map(|s| (s.interface.as_str(), s.pool.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("et1", "point-to-point"),
                ("et3", "subnet 10.20.0.0/24"),
                ("et5", "subnet 10.20.0.0/24")
            ]
        );
        let et5 = ztps_dhcp::pool::direct_pool(&s, &table[5]).unwrap();
        assert_eq!(et5.describe(), served[2].pool, "the server's own choice");
    }
}

//! The kernel's view of the namespace: links and IPv4 addresses, via rtnetlink.
//!
//! Read afresh for every request, so that `ip link set et1 down` shows in
//! the very next `show interfaces status`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context;
use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, State};
use ztps_eapi::ifname::InterfaceName;

/// One EOS-named link.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub name: InterfaceName,
    pub admin_up: bool,
    /// Operationally up: carrier and admin state.
    pub oper_up: bool,
    pub mtu: u32,
    pub mac: Option<[u8; 6]>,
    /// `ip link set X alias TEXT` stands for the EOS description.
    pub description: String,
    /// IPv4 addresses with prefix length, primary (first added) first.
    pub ipv4: Vec<(Ipv4Addr, u8)>,
}

/// Every link whose name maps to an EOS interface, by EOS name order.
pub async fn links() -> anyhow::Result<Vec<Link>> {
    let (connection, handle, _) =
        rtnetlink::new_connection().context("opening a netlink socket")?;
    let task = tokio::spawn(connection);
    let result = read(&handle).await;
    task.abort();
    result
}

async fn read(handle: &rtnetlink::Handle) -> anyhow::Result<Vec<Link>> {
    let mut by_index: BTreeMap<u32, Link> = BTreeMap::new();
    let mut stream = handle.link().get().execute();
    while let Some(msg) = stream.try_next().await.context("listing links")? {
        let mut name = None;
        let mut mtu = 0;
        let mut mac = None;
        let mut description = String::new();
        let mut oper = State::Unknown;
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => name = InterfaceName::parse_kernel(n),
                LinkAttribute::Mtu(m) => mtu = *m,
                LinkAttribute::Address(a) => mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
                LinkAttribute::IfAlias(a) => description = a.clone(),
                LinkAttribute::OperState(s) => oper = *s,
                _ => {}
            }
        }
        let Some(name) = name else { continue };
        let flags = msg.header.flags;
        let admin_up = flags.contains(LinkFlags::Up);
        // Devices without carrier detection (dummy, loopback) report
        // "unknown"; their lower-up flag says whether they pass traffic.
        let oper_up = admin_up
            && match oper {
                State::Up => true,
                State::Unknown => flags.contains(LinkFlags::LowerUp),
                _ => false,
            };
        by_index.insert(
            msg.header.index,
            Link {
                name,
                admin_up,
                oper_up,
                mtu,
                mac,
                description,
                ipv4: Vec::new(),
            },
        );
    }
    let mut stream = handle.address().get().execute();
    while let Some(msg) = stream.try_next().await.context("listing addresses")? {
        if msg.header.family != AddressFamily::Inet {
            continue;
        }
        let Some(link) = by_index.get_mut(&msg.header.index) else {
            continue;
        };
        // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
        let local = msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(v4)) => Some(*v4),
            _ => None,
        });
        let address = local.or_else(|| {
            msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(IpAddr::V4(v4)) => Some(*v4),
                _ => None,
            })
        });
        if let Some(address) = address {
            link.ipv4.push((address, msg.header.prefix_len));
        }
    }
    let mut links: Vec<Link> = by_index.into_values().collect();
    links.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(links)
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What config mode does to the kernel, through `ip` (iproute2): EOS
/// programs the kernel of its namespace the same way.
async fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .output()
        .await
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        anyhow::bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn kernel_name(eos: &str) -> anyhow::Result<String> {
    ztps_eapi::ifname::eos_to_kernel(eos)
        .with_context(|| format!("{eos} has no kernel device name"))
}

/// Whether the EOS interface exists here: config for an absent port is
/// kept (as EOS keeps config for an empty slot) but touches nothing.
async fn present(dev: &str) -> bool {
    tokio::process::Command::new("ip")
        .args(["link", "show", "dev", dev])
        .output()
        .await
        .is_ok_and(|o| o.status.success())
}

/// `description TEXT` is the link's alias.
pub async fn set_description(eos: &str, text: &str) -> anyhow::Result<()> {
    let dev = kernel_name(eos)?;
    if !present(&dev).await {
        return Ok(());
    }
    ip(&["link", "set", "dev", &dev, "alias", text]).await
}

/// `ip address A/L` replaces the port's primary address; `None` removes it.
pub async fn set_address(eos: &str, address: Option<(Ipv4Addr, u8)>) -> anyhow::Result<()> {
    let dev = kernel_name(eos)?;
    if !present(&dev).await {
        return Ok(());
    }
    ip(&["-4", "addr", "flush", "dev", &dev]).await?;
    if let Some((a, len)) = address {
        ip(&["addr", "add", &format!("{a}/{len}"), "dev", &dev]).await?;
    }
    Ok(())
}

/// `ip route P NH` / `no ip route P`.
pub async fn set_route(prefix: (Ipv4Addr, u8), via: Option<Ipv4Addr>) -> anyhow::Result<()> {
    let p = format!("{}/{}", prefix.0, prefix.1);
    match via {
        Some(nh) => ip(&["route", "replace", &p, "via", &nh.to_string()]).await,
        // Already gone is fine: the config said to remove it.
        None => ip(&["route", "del", &p]).await.or(Ok(())),
    }
}

/// Removes every IPv4 address from the Ethernet and Management ports, as a
/// reboot does before the startup-config is applied.
pub async fn flush_port_addresses() -> anyhow::Result<()> {
    use ztps_eapi::ifname::InterfaceKind;
    for l in links().await? {
        if matches!(
            l.name.kind,
            InterfaceKind::Ethernet | InterfaceKind::Management
        ) && !l.ipv4.is_empty()
        {
            ip(&["-4", "addr", "flush", "dev", &l.name.kernel_name()]).await?;
        }
    }
    Ok(())
}

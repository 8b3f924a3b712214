//! The bridge the ZTPServer VM hangs off: make sure it exists, carries its
//! address and is up, without ever tearing down one that is already there.
//!
//! A bridge that exists is only ever added to (address, up flag): deleting or
//! re-creating it would drop the VM's tap and cut the VM off until libvirt or
//! EOS restarts it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, State,
};
use rtnetlink::sys::AsyncSocket;
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec};
use tracing::{debug, info};

use crate::NetError;

const EPERM: i32 = 1;
const ENODEV: i32 = 19;
const EEXIST: i32 = 17;
const EACCES: i32 = 13;
const EBUSY: i32 = 16;

/// An rtnetlink connection for the functions here. It asks for strict
/// checking of requests (Linux 4.20+), under which the kernel filters a dump
/// of addresses by link: the periodic re-check of the bridge then reads the
/// bridge's addresses, not those of every leaf link. An older kernel
/// refuses the option, and dumps are filtered here instead.
pub fn connection() -> std::io::Result<(
    impl std::future::Future<Output = ()> + Send + 'static,
    Handle,
)> {
    let (mut connection, handle, _) = rtnetlink::new_connection()?;
    if let Err(e) = connection
        .socket_mut()
        .socket_mut()
        .set_netlink_get_strict_chk(true)
    {
        debug!(error = %e, "netlink strict checking unavailable; dumps are filtered in the agent");
    }
    Ok((connection, handle))
}

/// One change [`ensure_bridge`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeChange {
    /// The bridge did not exist and was created.
    Created,
    /// The configured address was missing and was added.
    AddressAdded { addr: Ipv4Addr, prefix: u8 },
    /// The bridge was administratively down and was set up.
    BroughtUp,
}

impl fmt::Display for BridgeChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeChange::Created => f.write_str("created"),
            BridgeChange::AddressAdded { addr, prefix } => write!(f, "added {addr}/{prefix}"),
            BridgeChange::BroughtUp => f.write_str("brought up"),
        }
    }
}

/// What [`ensure_bridge`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeReport {
    pub name: String,
    pub ifindex: u32,
    /// In the order they were made; empty when the bridge was already right.
    pub changes: Vec<BridgeChange>,
    /// Addresses on the bridge besides the configured one; they are left alone.
    pub other_addresses: Vec<(IpAddr, u8)>,
}

impl BridgeReport {
    /// True when nothing had to be changed.
    pub fn unchanged(&self) -> bool {
        self.changes.is_empty()
    }
}

/// A link enslaved to a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePort {
    pub ifindex: u32,
    pub name: String,
    /// `None` for links without a 6-byte hardware address.
    pub mac: Option<[u8; 6]>,
    /// Operational state is up (carrier and admin up).
    pub oper_up: bool,
}

/// Ensures bridge `name` exists, has `addr/prefix` and is up.
///
/// Idempotent: a second call on a correct bridge changes nothing and reports
/// no changes. Never deletes, replaces or re-creates an existing link; a link
/// of another kind holding the name is an error ([`NetError::NotABridge`]).
pub async fn ensure_bridge(
    handle: &Handle,
    name: &str,
    addr: Ipv4Addr,
    prefix: u8,
) -> Result<BridgeReport, NetError> {
    let mut changes = Vec::new();
    let link = match find_link(handle, name).await? {
        Some(link) => {
            check_is_bridge(name, &link)?;
            link
        }
        None => match create_bridge(handle, name).await? {
            true => {
                changes.push(BridgeChange::Created);
                find_link(handle, name)
                    .await?
                    .ok_or_else(|| NetError::LinkNotFound {
                        name: name.to_string(),
                    })?
            }
            // Someone else created it between our lookup and our request.
            false => {
                let link =
                    find_link(handle, name)
                        .await?
                        .ok_or_else(|| NetError::LinkNotFound {
                            name: name.to_string(),
                        })?;
                check_is_bridge(name, &link)?;
                link
            }
        },
    };
    let ifindex = link.header.index;

    let present = link_addresses(handle, ifindex).await?;
    let mut other_addresses = Vec::new();
    let mut have_ours = false;
    for (ip, len) in present {
        if ip == IpAddr::V4(addr) {
            if len != prefix {
                return Err(NetError::AddressPrefixMismatch {
                    bridge: name.to_string(),
                    addr,
                    have: len,
                    want: prefix,
                });
            }
            have_ours = true;
        } else if !is_ipv6_link_local(ip) {
            // The kernel's own fe80:: address is not worth reporting.
            other_addresses.push((ip, len));
        }
    }
    if !have_ours {
        handle
            .address()
            .add(ifindex, IpAddr::V4(addr), prefix)
            .execute()
            .await
            .map_err(|e| netlink_error(format!("add {addr}/{prefix} to {name}"), e))?;
        changes.push(BridgeChange::AddressAdded { addr, prefix });
    }

    if !link.header.flags.contains(LinkFlags::Up) {
        handle
            .link()
            .set(LinkUnspec::new_with_index(ifindex).up().build())
            .execute()
            .await
            .map_err(|e| netlink_error(format!("set {name} up"), e))?;
        changes.push(BridgeChange::BroughtUp);
    }

    if changes.is_empty() {
        debug!(bridge = name, "bridge already as configured");
    } else {
        info!(bridge = name, changes = ?changes, "bridge adjusted");
    }
    Ok(BridgeReport {
        name: name.to_string(),
        ifindex,
        changes,
        other_addresses,
    })
}

/// The links whose master is bridge `name`.
pub async fn bridge_ports(handle: &Handle, name: &str) -> Result<Vec<BridgePort>, NetError> {
    let bridge = find_link(handle, name)
        .await?
        .ok_or_else(|| NetError::LinkNotFound {
            name: name.to_string(),
        })?;
    check_is_bridge(name, &bridge)?;
    // The kernel filters the dump by master (IFLA_MASTER, Linux 4.3+): on
    // a spine with hundreds of links, the bridge's few ports, not all of
    // them, are sent and parsed. The filter below stays for older kernels.
    let links: Vec<LinkMessage> = dump(|| {
        let mut request = handle.link().get();
        request
            .message_mut()
            .attributes
            .push(LinkAttribute::Controller(bridge.header.index));
        request.execute().try_collect()
    })
    .await
    .map_err(|e| NetError::NetlinkDump("links", e))?;
    Ok(links
        .iter()
        .filter(|link| controller(link) == Some(bridge.header.index))
        .map(to_port)
        .collect())
}

/// Enslaves link `port` to bridge `bridge`. Returns `false` when it already
/// was a port of that bridge; a port of another master is an error.
pub async fn add_port(handle: &Handle, bridge: &str, port: &str) -> Result<bool, NetError> {
    let br = find_link(handle, bridge)
        .await?
        .ok_or_else(|| NetError::LinkNotFound {
            name: bridge.to_string(),
        })?;
    check_is_bridge(bridge, &br)?;
    let link = find_link(handle, port)
        .await?
        .ok_or_else(|| NetError::LinkNotFound {
            name: port.to_string(),
        })?;
    match controller(&link) {
        Some(index) if index == br.header.index => return Ok(false),
        Some(other) => {
            let other = link_name_by_index(handle, other)
                .await?
                .unwrap_or_else(|| format!("ifindex {other}"));
            return Err(NetError::PortOfOtherMaster {
                port: port.to_string(),
                bridge: bridge.to_string(),
                other,
            });
        }
        None => {}
    }
    handle
        .link()
        .set(
            LinkUnspec::new_with_index(link.header.index)
                .controller(br.header.index)
                .build(),
        )
        .execute()
        .await
        .map_err(|e| netlink_error(format!("add {port} to bridge {bridge}"), e))?;
    info!(bridge, port, "port added to bridge");
    Ok(true)
}

/// A link of this namespace and the ifindex of its controller (bridge,
/// bond), if any: what a supervisor needs to find a tap that fell off its
/// bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLink {
    pub link: BridgePort,
    pub controller: Option<u32>,
}

/// Every link of the namespace with its controller.
pub async fn host_links(handle: &Handle) -> Result<Vec<HostLink>, NetError> {
    let links: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| NetError::NetlinkDump("links", e))?;
    Ok(links
        .iter()
        .map(|link| HostLink {
            link: to_port(link),
            controller: controller(link),
        })
        .collect())
}

/// Sets link `ifindex` administratively up (idempotent).
pub async fn set_link_up(handle: &Handle, ifindex: u32, name: &str) -> Result<(), NetError> {
    handle
        .link()
        .set(LinkUnspec::new_with_index(ifindex).up().build())
        .execute()
        .await
        .map_err(|e| netlink_error(format!("set {name} up"), e))
}

/// Looks a link up by name; `None` when there is none.
async fn find_link(handle: &Handle, name: &str) -> Result<Option<LinkMessage>, NetError> {
    let mut links = handle.link().get().match_name(name).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(netlink_error(format!("look up link {name}"), e)),
    }
}

async fn link_name_by_index(handle: &Handle, index: u32) -> Result<Option<String>, NetError> {
    let mut links = handle.link().get().match_index(index).execute();
    match links.try_next().await {
        Ok(link) => Ok(link.as_ref().and_then(link_name)),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(netlink_error(format!("look up link {index}"), e)),
    }
}

/// Creates the bridge, down (it is brought up once it has its address).
/// Returns `false` if a link of that name appeared meanwhile.
async fn create_bridge(handle: &Handle, name: &str) -> Result<bool, NetError> {
    let message = LinkMessageBuilder::<LinkBridge>::new(name).build();
    match handle.link().add(message).execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(EEXIST) => Ok(false),
        Err(e) => Err(netlink_error(format!("create bridge {name}"), e)),
    }
}

async fn link_addresses(handle: &Handle, ifindex: u32) -> Result<Vec<(IpAddr, u8)>, NetError> {
    // On a connection with strict checking ([`connection`]) the kernel
    // sends only this link's addresses; elsewhere it sends every address
    // and the client-side filter keeps this link's.
    let messages: Vec<AddressMessage> = dump(|| {
        let mut request = handle.address().get().set_link_index_filter(ifindex);
        request.message_mut().header.index = ifindex;
        request.execute().try_collect()
    })
    .await
    .map_err(|e| NetError::NetlinkDump("addresses", e))?;
    Ok(messages
        .iter()
        .filter(|m| {
            m.header.family == AddressFamily::Inet || m.header.family == AddressFamily::Inet6
        })
        .filter_map(|m| local_address(m).map(|ip| (ip, m.header.prefix_len)))
        .collect())
}

/// The interface's own address: IFA_LOCAL when present (it differs from
/// IFA_ADDRESS on point-to-point links), else IFA_ADDRESS.
fn local_address(message: &AddressMessage) -> Option<IpAddr> {
    let local = message.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    local.or_else(|| {
        message.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })
}

fn is_ipv6_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

fn check_is_bridge(name: &str, link: &LinkMessage) -> Result<(), NetError> {
    match link_kind(link) {
        Some(InfoKind::Bridge) => Ok(()),
        Some(kind) => Err(NetError::NotABridge {
            name: name.to_string(),
            kind: kind.to_string(),
        }),
        None => Err(NetError::NotABridge {
            name: name.to_string(),
            kind: "physical".to_string(),
        }),
    }
}

fn link_kind(link: &LinkMessage) -> Option<&InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(kind) => Some(kind),
            _ => None,
        }),
        _ => None,
    })
}

fn controller(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(index) => Some(*index),
        _ => None,
    })
}

fn link_name(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.clone()),
        _ => None,
    })
}

fn to_port(link: &LinkMessage) -> BridgePort {
    let mac = link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
        _ => None,
    });
    let oper_up = link
        .attributes
        .iter()
        .any(|a| matches!(a, LinkAttribute::OperState(State::Up)));
    BridgePort {
        ifindex: link.header.index,
        name: link_name(link).unwrap_or_default(),
        mac,
        oper_up,
    }
}

/// The positive errno of a netlink error reply, if it is one.
/// Runs a dump, again if the kernel says EBUSY: one netlink socket runs
/// one dump at a time, and the agent's tasks share the socket (the bridge
/// re-check and the VM supervisor's port listing fall due together).
async fn dump<T, F, Fut>(request: F) -> Result<T, rtnetlink::Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, rtnetlink::Error>>,
{
    let mut attempt = 1;
    loop {
        match request().await {
            Err(e) if errno(&e) == Some(EBUSY) && attempt < DUMP_ATTEMPTS => {
                debug!(attempt, "netlink dump busy; retrying");
                tokio::time::sleep(DUMP_RETRY).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Attempts of a dump that finds its socket busy, and the pause between.
const DUMP_ATTEMPTS: u32 = 20;
const DUMP_RETRY: std::time::Duration = std::time::Duration::from_millis(25);

fn errno(error: &rtnetlink::Error) -> Option<i32> {
    match error {
        rtnetlink::Error::NetlinkError(message) => Some(message.raw_code().abs()),
        _ => None,
    }
}

/// Wraps a failed request, turning EPERM/EACCES into the error with the hint.
fn netlink_error(action: String, source: rtnetlink::Error) -> NetError {
    match errno(&source) {
        Some(EPERM | EACCES) => NetError::PermissionDenied { action },
        _ => NetError::Netlink { action, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(attributes: Vec<LinkAttribute>) -> LinkMessage {
        let mut message = LinkMessage::default();
        message.header.index = 7;
        message.attributes = attributes;
        message
    }

    #[test]
    fn a_link_without_kind_is_reported_as_physical() {
        let err =
            check_is_bridge("br0", &link(vec![LinkAttribute::IfName("br0".into())])).unwrap_err();
        assert!(
            matches!(&err, NetError::NotABridge { kind, .. } if kind == "physical"),
            "{err}"
        );
    }

    #[test]
    fn a_dummy_link_is_not_a_bridge_and_the_message_says_so() {
        let l = link(vec![LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
            InfoKind::Dummy,
        )])]);
        let err = check_is_bridge("br0", &l).unwrap_err();
        assert!(
            err.to_string().contains("dummy link, not a bridge"),
            "{err}"
        );
    }

    #[test]
    fn port_mac_needs_six_bytes() {
        let p = to_port(&link(vec![
            LinkAttribute::IfName("p".into()),
            LinkAttribute::Address(vec![1, 2, 3]),
            LinkAttribute::OperState(State::LowerLayerDown),
        ]));
        assert_eq!(p.mac, None);
        assert!(!p.oper_up);
        let p = to_port(&link(vec![
            LinkAttribute::Address(vec![0xfe, 1, 2, 3, 4, 5]),
            LinkAttribute::OperState(State::Up),
        ]));
        assert_eq!(p.mac, Some([0xfe, 1, 2, 3, 4, 5]));
        assert!(p.oper_up);
        assert_eq!(p.ifindex, 7);
    }

    #[test]
    fn only_fe80_slash_10_is_link_local() {
        assert!(is_ipv6_link_local("fe80::1".parse().unwrap()));
        assert!(is_ipv6_link_local("febf::1".parse().unwrap()));
        assert!(!is_ipv6_link_local("fec0::1".parse().unwrap()));
        assert!(!is_ipv6_link_local("2001:db8::1".parse().unwrap()));
        assert!(!is_ipv6_link_local("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn eperm_becomes_the_permission_hint() {
        let mut message = rtnetlink::packet_core::ErrorMessage::default();
        message.code = std::num::NonZeroI32::new(-EPERM);
        let err = netlink_error(
            "create bridge br0".into(),
            rtnetlink::Error::NetlinkError(message),
        );
        assert!(err.to_string().contains("CAP_NET_ADMIN"), "{err}");
        let mut message = rtnetlink::packet_core::ErrorMessage::default();
        message.code = std::num::NonZeroI32::new(-EEXIST);
        let err = netlink_error("x".into(), rtnetlink::Error::NetlinkError(message));
        assert!(matches!(err, NetError::Netlink { .. }), "{err}");
    }
}

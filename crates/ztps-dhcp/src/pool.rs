//! Which pool serves a request, and which address in it a client gets.
//!
//! [`direct_pool`] and [`relayed_pool`] are the one place that decides
//! which interfaces are served and from which pool: the server calls them
//! for every request and the agent's status page for every interface.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use ztps_net::iftable::Interface;

use crate::config::{ReservedFor, ServerConfig, wildcard_match};
use crate::leases::{LeaseState, LeaseTable};
use crate::packet::Request;

/// The port relays send from (RFC 1542).
const RELAY_PORT: u16 = 67;

/// Explicit subnets with their reservations and an allocation cursor.
#[derive(Debug)]
pub struct Subnets {
    subnets: Vec<SubnetState>,
}

#[derive(Debug)]
struct SubnetState {
    network: ipnet::Ipv4Net,
    ranges: Vec<(u32, u32)>,
    reservations: Vec<(ReservedFor, Ipv4Addr)>,
    reserved: HashSet<Ipv4Addr>,
    /// The last address handed out; the next scan starts after it, so that
    /// allocation is amortised O(1) instead of rescanning the leased part.
    cursor: u32,
}

/// The pool chosen for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub kind: PoolKind,
    /// Our address: option 54 and the reply's source.
    pub server_ip: Ipv4Addr,
    pub router: Ipv4Addr,
    pub mask: Ipv4Addr,
    /// The prefix the pool is drawn from, for [`Selected::name`].
    pub network: ipnet::Ipv4Net,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// The one other host address of a /30 or /31.
    PointToPoint { client_ip: Ipv4Addr },
    /// Index into the explicit subnets.
    Subnet(usize),
}

impl Selected {
    /// `point-to-point` or `subnet 10.20.0.0/24`, for status pages.
    pub fn describe(&self) -> String {
        match self.kind {
            PoolKind::PointToPoint { .. } => "point-to-point".to_string(),
            PoolKind::Subnet(_) => format!("subnet {}", self.network),
        }
    }

    /// For events and logs: `et3 10.0.0.0/31` or `subnet 10.1.0.0/16`.
    /// Made when needed, not with every request.
    pub fn name(&self, interface: &str) -> String {
        match self.kind {
            PoolKind::PointToPoint { .. } => format!("{interface} {}", self.network),
            PoolKind::Subnet(_) => format!("subnet {}", self.network),
        }
    }
}

fn mask(prefix_len: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix_len.min(32)))
            .unwrap_or(0),
    )
}

/// The peer address of a point-to-point prefix (RFC 3021 for /31).
pub fn point_to_point_peer(local: Ipv4Addr, prefix_len: u8) -> Option<Ipv4Addr> {
    let a = u32::from(local);
    match prefix_len {
        31 => Some(Ipv4Addr::from(a ^ 1)),
        30 => match a & 3 {
            1 => Some(Ipv4Addr::from(a + 1)),
            2 => Some(Ipv4Addr::from(a - 1)),
            _ => None, // our address is the network or broadcast address
        },
        _ => None,
    }
}

/// Interfaces served only when configured: bridges (by netlink kind, not
/// name: the VM's segment is not a leaf link), management ports, loopback.
fn special(interface: &Interface) -> bool {
    interface.is_bridge()
        || ["ma*", "management*", "lo"]
            .iter()
            .any(|p| wildcard_match(p, &interface.name))
}

/// Whether any request arriving on `interface` may be answered at all.
pub fn interface_allowed(config: &ServerConfig, interface: &Interface) -> bool {
    let name = interface.name.as_str();
    if name.is_empty() || config.point_to_point.excludes(name) {
        return false;
    }
    !special(interface)
        || config.serve_interfaces.iter().any(|n| n == name)
        || config.relay_interfaces.iter().any(|n| n == name)
        || config
            .subnets
            .iter()
            .any(|s| s.interface.as_deref() == Some(name))
}

fn subnet_pool(
    config: &ServerConfig,
    i: usize,
    server_ip: Ipv4Addr,
    router: Ipv4Addr,
) -> Option<Selected> {
    let s = config.subnets.get(i)?;
    Some(Selected {
        kind: PoolKind::Subnet(i),
        server_ip,
        router: s.router.unwrap_or(router),
        mask: s.network.netmask(),
        network: s.network,
    })
}

/// The pool for clients directly attached to `interface`: a subnet tied to
/// it, else a subnet holding one of its addresses, else the point-to-point
/// pool of a /31 or /30. Explicit configuration beats the derived pool.
pub fn direct_pool(config: &ServerConfig, interface: &Interface) -> Option<Selected> {
    if !interface_allowed(config, interface) {
        return None;
    }
    let first = interface.ipv4.first()?;
    if let Some(i) = config
        .subnets
        .iter()
        .position(|s| s.interface.as_deref() == Some(interface.name.as_str()))
    {
        let network = config.subnets.get(i)?.network;
        let ours = interface
            .ipv4
            .iter()
            .find(|n| network.contains(&n.addr))
            .unwrap_or(first)
            .addr;
        return subnet_pool(config, i, ours, ours);
    }
    for net in &interface.ipv4 {
        if let Some(i) = config
            .subnets
            .iter()
            .position(|s| s.interface.is_none() && s.network.contains(&net.addr))
        {
            return subnet_pool(config, i, net.addr, net.addr);
        }
    }
    if !config.point_to_point.qualifies(&interface.name) {
        return None;
    }
    interface.ipv4.iter().find_map(|net| {
        let client_ip = point_to_point_peer(net.addr, net.prefix_len)?;
        Some(Selected {
            kind: PoolKind::PointToPoint { client_ip },
            server_ip: net.addr,
            router: net.addr,
            mask: mask(net.prefix_len),
            network: ipnet::Ipv4Net::new(net.network(), net.prefix_len).ok()?,
        })
    })
}

/// Whether relayed requests are accepted on `interface`.
pub fn relay_facing(config: &ServerConfig, interface: &Interface) -> bool {
    interface_allowed(config, interface) && config.relay_interfaces.contains(&interface.name)
}

/// The pool for a request relayed by `giaddr`, which `source` sent. Only a
/// relay-facing interface takes relayed requests, and only from the relay
/// itself (port 67, source address = giaddr): anyone else could name any
/// giaddr and have a lease from any subnet sent wherever it likes.
pub fn relayed_pool(
    config: &ServerConfig,
    interface: &Interface,
    giaddr: Ipv4Addr,
    source: SocketAddrV4,
) -> Option<Selected> {
    if !relay_facing(config, interface) || source.port() != RELAY_PORT || *source.ip() != giaddr {
        return None;
    }
    let server_ip = interface.ipv4.first()?.addr;
    let i = config
        .subnets
        .iter()
        .position(|s| s.interface.is_none() && s.network.contains(&giaddr))?;
    subnet_pool(config, i, server_ip, giaddr)
}

impl Subnets {
    pub fn new(config: &ServerConfig) -> Subnets {
        let subnets = config
            .subnets
            .iter()
            .map(|s| {
                let reservations: Vec<(ReservedFor, Ipv4Addr)> = s
                    .reservations
                    .iter()
                    .map(|r| (r.client.clone(), r.ip))
                    .collect();
                let ranges: Vec<(u32, u32)> = s
                    .ranges
                    .iter()
                    .filter(|r| r.start <= r.end)
                    .map(|r| (u32::from(r.start), u32::from(r.end)))
                    .collect();
                SubnetState {
                    network: s.network,
                    // The scan starts after the cursor: at the last address,
                    // it starts with the first.
                    cursor: ranges.last().map(|r| r.1).unwrap_or(0),
                    reserved: reservations.iter().map(|(_, ip)| *ip).collect(),
                    reservations,
                    ranges,
                }
            })
            .collect();
        Subnets { subnets }
    }

    /// Whether `ip` belongs to the pool `selected`: what a DECLINE or a
    /// RELEASE may name.
    pub fn contains(&self, selected: &Selected, ip: Ipv4Addr) -> bool {
        match selected.kind {
            PoolKind::PointToPoint { client_ip } => ip == client_ip,
            PoolKind::Subnet(i) => {
                self.in_ranges(i, ip)
                    || self
                        .subnets
                        .get(i)
                        .is_some_and(|s| s.reserved.contains(&ip))
            }
        }
    }

    fn reservation_for(
        &self,
        subnet: usize,
        request: &Request,
        serial: Option<&str>,
    ) -> Option<Ipv4Addr> {
        let s = self.subnets.get(subnet)?;
        s.reservations.iter().find_map(|(key, ip)| {
            let hit = match key {
                ReservedFor::Mac(mac) => mac.0[..] == request.chaddr[..],
                ReservedFor::ClientId(id) => request.client_id.as_ref() == Some(id),
                ReservedFor::Serial(sn) => serial == Some(sn.as_str()),
            };
            hit.then_some(*ip)
        })
    }

    fn in_ranges(&self, subnet: usize, ip: Ipv4Addr) -> bool {
        let a = u32::from(ip);
        self.subnets
            .get(subnet)
            .is_some_and(|s| s.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&a)))
    }

    /// Whether `ip` is the right address for this client in `selected`:
    /// what a REQUEST may be ACKed for.
    pub fn acceptable(
        &self,
        selected: &Selected,
        ip: Ipv4Addr,
        request: &Request,
        serial: Option<&str>,
        leases: &LeaseTable,
        now: u64,
    ) -> bool {
        let key = request.client_key();
        match selected.kind {
            PoolKind::PointToPoint { client_ip } => {
                ip == client_ip && !on_probation(leases, ip, now)
            }
            PoolKind::Subnet(i) => match self.reservation_for(i, request, serial) {
                Some(reserved) => ip == reserved && !on_probation(leases, ip, now),
                None => {
                    let reserved_for_other = self
                        .subnets
                        .get(i)
                        .is_some_and(|s| s.reserved.contains(&ip));
                    self.in_ranges(i, ip)
                        && !reserved_for_other
                        && leases.is_free_for(ip, &key, now)
                }
            },
        }
    }

    /// The address to offer, or `None` when the pool is exhausted.
    pub fn allocate(
        &mut self,
        selected: &Selected,
        request: &Request,
        serial: Option<&str>,
        leases: &LeaseTable,
        now: u64,
    ) -> Option<Ipv4Addr> {
        let key = request.client_key();
        let i = match selected.kind {
            // The link's other address belongs to whoever is on the link: a
            // replaced switch takes over its predecessor's address.
            PoolKind::PointToPoint { client_ip } => {
                return (!on_probation(leases, client_ip, now)).then_some(client_ip);
            }
            PoolKind::Subnet(i) => i,
        };
        if let Some(reserved) = self.reservation_for(i, request, serial) {
            return (!on_probation(leases, reserved, now)).then_some(reserved);
        }
        if let Some(lease) = leases.of_client(&key, now)
            && self.acceptable(selected, lease.ip, request, serial, leases, now)
        {
            return Some(lease.ip);
        }
        if let Some(wanted) = request.requested_ip
            && self.acceptable(selected, wanted, request, serial, leases, now)
        {
            return Some(wanted);
        }
        let s = self.subnets.get_mut(i)?;
        let total: u64 = s
            .ranges
            .iter()
            .map(|(lo, hi)| u64::from(hi.saturating_sub(*lo)) + 1)
            .sum();
        let broadcast = u32::from(s.network.broadcast());
        let network = u32::from(s.network.network());
        let small = s.network.prefix_len() >= 31;
        let mut candidate = s.cursor;
        for _ in 0..total {
            candidate = next_in_ranges(&s.ranges, candidate);
            let ip = Ipv4Addr::from(candidate);
            let special = !small && (candidate == broadcast || candidate == network);
            if !special && !s.reserved.contains(&ip) && leases.is_free_for(ip, &key, now) {
                s.cursor = candidate;
                return Some(ip);
            }
        }
        None
    }
}

fn on_probation(leases: &LeaseTable, ip: Ipv4Addr, now: u64) -> bool {
    leases
        .at(ip, now)
        .is_some_and(|l| l.state == LeaseState::Probation)
}

/// The address after `current` in the ranges, wrapping around.
fn next_in_ranges(ranges: &[(u32, u32)], current: u32) -> u32 {
    let Some(first) = ranges.first() else {
        return current;
    };
    for (i, (lo, hi)) in ranges.iter().enumerate() {
        if (*lo..*hi).contains(&current) {
            return current + 1;
        }
        if current == *hi {
            return ranges.get(i + 1).map_or(first.0, |r| r.0);
        }
    }
    first.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_to_point_peers() {
        let ip = |d| Ipv4Addr::new(10, 0, 0, d);
        assert_eq!(point_to_point_peer(ip(0), 31), Some(ip(1)));
        assert_eq!(point_to_point_peer(ip(1), 31), Some(ip(0)));
        assert_eq!(point_to_point_peer(ip(5), 30), Some(ip(6)));
        assert_eq!(point_to_point_peer(ip(6), 30), Some(ip(5)));
        assert_eq!(point_to_point_peer(ip(4), 30), None);
        assert_eq!(point_to_point_peer(ip(7), 30), None);
        assert_eq!(point_to_point_peer(ip(7), 24), None);
    }

    #[test]
    fn range_walk_wraps() {
        let ranges = [(10, 12), (20, 21)];
        let walk: Vec<u32> = std::iter::successors(Some(10), |c| Some(next_in_ranges(&ranges, *c)))
            .take(7)
            .collect();
        assert_eq!(walk, [10, 11, 12, 20, 21, 10, 11]);
    }
}

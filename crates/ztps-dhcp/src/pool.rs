//! Which pool serves a request, and which address in it a client gets.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ztps_net::iftable::Interface;

use crate::config::{ServerConfig, parse_hex};
use crate::leases::{LeaseState, LeaseTable};
use crate::packet::Request;

/// A reservation key, parsed once from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Mac(Vec<u8>),
    ClientId(Vec<u8>),
    Serial(String),
}

/// Explicit subnets with parsed reservations and an allocation cursor.
#[derive(Debug)]
pub struct Subnets {
    subnets: Vec<SubnetState>,
}

#[derive(Debug)]
struct SubnetState {
    network: ipnet::Ipv4Net,
    router: Option<Ipv4Addr>,
    ranges: Vec<(u32, u32)>,
    reservations: Vec<(Key, Ipv4Addr)>,
    reserved: HashSet<Ipv4Addr>,
    /// Where the next free-address scan starts, so that allocation is
    /// amortised O(1) instead of rescanning the leased part every time.
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
    /// For events and logs: `et3 10.0.0.0/31` or `subnet 10.1.0.0/16`.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// The one other host address of a /30 or /31.
    PointToPoint { client_ip: Ipv4Addr },
    /// Index into the explicit subnets.
    Subnet(usize),
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

impl Subnets {
    pub fn new(config: &ServerConfig) -> Subnets {
        let subnets = config
            .subnets
            .iter()
            .map(|s| {
                let reservations: Vec<(Key, Ipv4Addr)> = s
                    .reservations
                    .iter()
                    .filter_map(|r| {
                        let key = if let Some(mac) = &r.mac {
                            Key::Mac(parse_hex(mac)?)
                        } else if let Some(id) = &r.client_id {
                            Key::ClientId(parse_hex(id)?)
                        } else {
                            Key::Serial(r.serial.clone()?)
                        };
                        Some((key, r.ip))
                    })
                    .collect();
                let ranges: Vec<(u32, u32)> = s
                    .ranges
                    .iter()
                    .map(|r| (u32::from(r.start), u32::from(r.end)))
                    .collect();
                SubnetState {
                    network: s.network,
                    router: s.router,
                    cursor: ranges.first().map(|r| r.0).unwrap_or(0),
                    reserved: reservations.iter().map(|(_, ip)| *ip).collect(),
                    reservations,
                    ranges,
                }
            })
            .collect();
        Subnets { subnets }
    }

    /// Chooses the pool for a request that arrived on `interface`.
    pub fn select(
        &self,
        config: &ServerConfig,
        interface: &Interface,
        request: &Request,
    ) -> Option<Selected> {
        let server_ip = interface.ipv4.first()?.addr;
        if !request.giaddr.is_unspecified() {
            let (i, s) = self
                .subnets
                .iter()
                .enumerate()
                .find(|(_, s)| s.network.contains(&request.giaddr))?;
            return Some(Selected {
                kind: PoolKind::Subnet(i),
                server_ip,
                router: s.router.unwrap_or(request.giaddr),
                mask: s.network.netmask(),
                name: format!("subnet {}", s.network),
            });
        }
        for net in &interface.ipv4 {
            if let Some((i, s)) = self
                .subnets
                .iter()
                .enumerate()
                .find(|(_, s)| s.network.contains(&net.addr))
            {
                return Some(Selected {
                    kind: PoolKind::Subnet(i),
                    server_ip: net.addr,
                    router: s.router.unwrap_or(net.addr),
                    mask: s.network.netmask(),
                    name: format!("subnet {}", s.network),
                });
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
                name: format!("{} {}/{}", interface.name, net.network(), net.prefix_len),
            })
        })
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
                Key::Mac(mac) => *mac == request.chaddr,
                Key::ClientId(id) => request.client_id.as_ref() == Some(id),
                Key::Serial(sn) => serial == Some(sn.as_str()),
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
        let total: u64 = s.ranges.iter().map(|(lo, hi)| u64::from(hi - lo) + 1).sum();
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

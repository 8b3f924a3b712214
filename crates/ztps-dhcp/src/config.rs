//! The server's runtime configuration.
//!
//! There is one way in: the agent config's `[dhcp]` section
//! ([`ztps_config::DhcpConfig`], the wire type that `ztps-config` parses and
//! checks with located messages) converted once by `TryFrom` into typed
//! values: MAC addresses, kernel interface names, parsed client ids. The
//! conversion refuses only what would break the server's invariants
//! (a range that ends before it starts, a client id that is not hex), so a
//! config that `check` accepts always converts.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use ztps_config::DhcpConfig;
use ztps_types::MacAddr;

use crate::DhcpError;

/// How long a declined address stays out of use, in seconds.
pub const DECLINE_PROBATION_SECS: u32 = 600;

/// Everything the DHCP server needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Only clients whose option 60 starts with one of these are answered;
    /// an empty prefix answers every client, even one without option 60.
    pub vendor_class_prefixes: Vec<String>,
    /// Sent as option 67 and in the BOOTP `file` field.
    pub bootstrap_url: String,
    /// Lease time in seconds.
    pub lease_time: u32,
    /// How long a declined address stays out of use, in seconds.
    pub decline_probation: u32,
    /// The lease journal (on EOS: on flash).
    pub lease_file: PathBuf,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 42.
    pub ntp_servers: Vec<Ipv4Addr>,
    /// UDP port to listen on; 67 except in tests.
    pub port: u16,
    pub point_to_point: PointToPoint,
    pub subnets: Vec<Subnet>,
    /// Kernel names of the interfaces relayed requests may arrive on.
    pub relay_interfaces: Vec<String>,
    /// Kernel names of interfaces served although they are bridges or
    /// management ports.
    pub serve_interfaces: Vec<String>,
    pub rate_limit: RateLimit,
    /// Offers outstanding per interface on explicit subnets (0: no cap).
    pub max_offers_per_interface: usize,
}

/// Automatic pools on interfaces holding a /30 or /31.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointToPoint {
    pub enabled: bool,
    /// Kernel interface names (`*` and `?` wildcards); empty: every one.
    pub include: Vec<String>,
    /// Never served, on any path (automatic, subnet or relay).
    pub exclude: Vec<String>,
}

impl PointToPoint {
    /// Whether an interface with this name may get an automatic pool.
    pub fn qualifies(&self, interface: &str) -> bool {
        self.enabled
            && (self.include.is_empty()
                || self.include.iter().any(|p| wildcard_match(p, interface)))
            && !self.excludes(interface)
    }

    /// Whether the interface is excluded from every kind of service.
    pub fn excludes(&self, interface: &str) -> bool {
        self.exclude.iter().any(|p| wildcard_match(p, interface))
    }
}

/// An explicitly configured subnet, for directly attached or relayed clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Net,
    /// Tied to this interface (kernel name): served there whatever the
    /// interface's addresses, and never selected by address elsewhere.
    pub interface: Option<String>,
    /// Option 3; when absent, the address of the interface the request
    /// arrived on (or the relay's giaddr).
    pub router: Option<Ipv4Addr>,
    /// Inclusive ranges, each inside the subnet and in order.
    pub ranges: Vec<Range>,
    pub reservations: Vec<Reservation>,
}

/// An inclusive range of addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

/// A fixed address for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub ip: Ipv4Addr,
    pub client: ReservedFor,
}

/// Whom a reservation is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReservedFor {
    Mac(MacAddr),
    /// Option 61, as bytes.
    ClientId(Vec<u8>),
    /// The serial number from an Arista option 60.
    Serial(String),
}

/// Token-bucket limits; 0 disables a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Packets per second accepted from one client (by hardware address).
    pub per_client: u32,
    /// Burst size per client.
    pub per_client_burst: u32,
    /// Packets per second accepted on one interface, before parsing.
    pub per_interface: u32,
    /// How many clients' buckets are remembered; a flood of distinct
    /// addresses beyond this is refused instead of growing memory.
    pub tracked_clients: usize,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::from(&ztps_config::RateLimitConfig::default())
    }
}

impl From<&ztps_config::RateLimitConfig> for RateLimit {
    /// The config speaks of packets per minute per client and per second
    /// per interface; the buckets refill per second, so a client gets its
    /// minute's worth as burst and the per-second share of it as rate.
    fn from(c: &ztps_config::RateLimitConfig) -> Self {
        let per_minute = c.per_client_per_minute;
        RateLimit {
            per_client: per_minute.div_ceil(60),
            per_client_burst: per_minute,
            per_interface: c.packets_per_second,
            tracked_clients: 65_536,
        }
    }
}

/// EOS names (`Ethernet1/1`, `Management1`) as the kernel's (`et1_1`,
/// `ma1`); other names, patterns included, as they are.
pub fn kernel_name(name: &str) -> String {
    if let Some(kernel) = ztps_config::kernel_interface_name(name) {
        return kernel;
    }
    match name.strip_prefix("Management") {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'/') => {
            format!("ma{}", n.replace('/', "_"))
        }
        _ => name.to_string(),
    }
}

fn kernel_names(names: &[String]) -> Vec<String> {
    names.iter().map(|n| kernel_name(n)).collect()
}

impl TryFrom<&DhcpConfig> for ServerConfig {
    type Error = DhcpError;

    fn try_from(dhcp: &DhcpConfig) -> Result<Self, Self::Error> {
        let bad = |msg: String| Err(DhcpError::Config(msg));
        if dhcp.lease_time_secs < 60 {
            return bad(format!(
                "dhcp.lease_time_secs: {} is below 60 seconds",
                dhcp.lease_time_secs
            ));
        }
        let mut subnets = Vec::with_capacity(dhcp.subnets.len());
        for (i, s) in dhcp.subnets.iter().enumerate() {
            let at = format!("dhcp.subnets[{i}]");
            let network = s.subnet.trunc();
            let mut ranges = Vec::with_capacity(s.ranges.len());
            for r in &s.ranges {
                if !network.contains(&r.start) || !network.contains(&r.end) || r.start > r.end {
                    return bad(format!(
                        "{at}.ranges: {}-{} is not a range inside {network}",
                        r.start, r.end
                    ));
                }
                ranges.push(Range {
                    start: r.start,
                    end: r.end,
                });
            }
            let mut reservations = Vec::with_capacity(s.reservations.len());
            for r in &s.reservations {
                let client = match (&r.mac, &r.client_id, &r.serial) {
                    (Some(mac), None, None) => ReservedFor::Mac(MacAddr(mac.0)),
                    (None, Some(id), None) => match parse_hex(id) {
                        Some(bytes) if !bytes.is_empty() => ReservedFor::ClientId(bytes),
                        _ => return bad(format!("{at}.reservations: client_id {id:?} is not hex")),
                    },
                    (None, None, Some(serial)) => ReservedFor::Serial(serial.clone()),
                    _ => {
                        return bad(format!(
                            "{at}.reservations: {} needs exactly one of mac, client_id, serial",
                            r.address
                        ));
                    }
                };
                reservations.push(Reservation {
                    ip: r.address,
                    client,
                });
            }
            subnets.push(Subnet {
                network,
                interface: s.interface.as_deref().map(kernel_name),
                router: s.router,
                ranges,
                reservations,
            });
        }
        Ok(ServerConfig {
            vendor_class_prefixes: dhcp.vendor_class_prefixes.clone(),
            bootstrap_url: dhcp.bootstrap_url.clone(),
            lease_time: dhcp.lease_time_secs,
            decline_probation: DECLINE_PROBATION_SECS,
            lease_file: dhcp.lease_file.clone(),
            dns_servers: dhcp.dns_servers.clone(),
            ntp_servers: dhcp.ntp_servers.clone(),
            port: 67,
            point_to_point: PointToPoint {
                enabled: dhcp.auto_p2p.enable,
                include: kernel_names(&dhcp.auto_p2p.include),
                exclude: kernel_names(&dhcp.auto_p2p.exclude),
            },
            subnets,
            relay_interfaces: kernel_names(&dhcp.relay_interfaces),
            serve_interfaces: kernel_names(&dhcp.serve_interfaces),
            rate_limit: RateLimit::from(&dhcp.rate_limit),
            max_offers_per_interface: usize::try_from(dhcp.max_offers_per_interface)
                .unwrap_or(usize::MAX),
        })
    }
}

impl ServerConfig {
    /// The `[dhcp]` table of an agent config, on its own (the keys of
    /// `docs/configuration.md` without the `dhcp.` prefix), through the same
    /// conversion as the agent's. For tools and tests; the agent reads the
    /// whole file with `ztps_config`.
    pub fn from_toml(text: &str) -> Result<ServerConfig, DhcpError> {
        let dhcp: DhcpConfig = toml::from_str(text)?;
        ServerConfig::try_from(&dhcp)
    }

    /// Whether the option 60 of a request makes it a client to answer.
    pub fn answers_everyone(&self) -> bool {
        self.vendor_class_prefixes.iter().any(String::is_empty)
    }
}

/// Hex bytes, optionally separated by `:` or `-`.
pub(crate) fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b':' && *c != b'-').collect();
    if !digits.len().is_multiple_of(2) || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let hex = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(hex, 16).ok()
        })
        .collect()
}

/// Shell-style matching with `*` (any run) and `?` (one character).
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                backtrack = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == n.get(ni) => {
                pi += 1;
                ni += 1;
            }
            _ => match backtrack {
                Some((bp, bn)) => {
                    pi = bp + 1;
                    ni = bn + 1;
                    backtrack = Some((bp, bn + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).unwrap_or(&[]).iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "et1_1"));
        assert!(wildcard_match("ma*", "ma1"));
        assert!(wildcard_match("et?", "et3"));
        assert!(!wildcard_match("et?", "et10"));
        assert!(wildcard_match("*1_*", "et1_1"));
        assert!(!wildcard_match("br0", "br01"));
        assert!(wildcard_match("a*b*c", "aXbYbZc"));
    }

    #[test]
    fn converts_names_keys_and_limits_from_the_wire_type() {
        let c = ServerConfig::from_toml(
            "bootstrap_url = \"http://x/\"\nlease_file = \"/tmp/l\"\n\
             relay_interfaces = [\"Ethernet7\"]\nserve_interfaces = [\"Management1\", \"br0\"]\n\
             [auto_p2p]\ninclude = [\"Ethernet1/1\", \"et3\"]\nexclude = [\"Ethernet4\"]\n\
             [rate_limit]\nper_client_per_minute = 90\npackets_per_second = 500\n\
             [[subnets]]\nsubnet = \"10.20.0.0/24\"\ninterface = \"Ethernet9\"\n\
             ranges = [{start = \"10.20.0.10\", end = \"10.20.0.20\"}]\n\
             [[subnets.reservations]]\naddress = \"10.20.0.5\"\nmac = \"00:1c:73:00:00:01\"\n\
             [[subnets.reservations]]\naddress = \"10.20.0.6\"\nclient_id = \"01:00:1c:73:00:00:02\"\n",
        )
        .unwrap();
        assert_eq!(c.vendor_class_prefixes, ["Arista"]);
        assert_eq!(c.point_to_point.include, ["et1_1", "et3"]);
        assert!(c.point_to_point.qualifies("et1_1"));
        assert!(!c.point_to_point.qualifies("et2"), "not included");
        assert!(c.point_to_point.excludes("et4"));
        assert_eq!(c.relay_interfaces, ["et7"]);
        assert_eq!(c.serve_interfaces, ["ma1", "br0"]);
        assert_eq!(c.subnets[0].interface.as_deref(), Some("et9"));
        assert_eq!(
            c.subnets[0].reservations[0].client,
            ReservedFor::Mac(MacAddr([0, 0x1c, 0x73, 0, 0, 1]))
        );
        assert_eq!(
            c.subnets[0].reservations[1].client,
            ReservedFor::ClientId(vec![1, 0, 0x1c, 0x73, 0, 0, 2])
        );
        assert_eq!(
            (c.rate_limit.per_client, c.rate_limit.per_client_burst),
            (2, 90)
        );
        assert_eq!(c.rate_limit.per_interface, 500);
        assert_eq!(c.lease_time, 86_400);
        assert_eq!(c.max_offers_per_interface, 64);
    }

    #[test]
    fn an_empty_prefix_answers_everyone() {
        let c = ServerConfig::from_toml(
            "bootstrap_url = \"http://x/\"\nvendor_class_prefixes = [\"\"]\n",
        )
        .unwrap();
        assert!(c.answers_everyone());
    }

    #[test]
    fn refuses_unknown_keys_and_what_would_break_the_server() {
        let base = "bootstrap_url = \"http://x/\"\nlease_file = \"/tmp/l\"\n";
        let err = ServerConfig::from_toml(&format!("{base}lease_tme = 5")).unwrap_err();
        assert!(err.to_string().contains("lease_tme"), "{err}");
        let err = ServerConfig::from_toml(&format!(
            "{base}[[subnets]]\nsubnet = \"10.0.0.0/24\"\nranges = [{{start = \"10.0.0.10\", end = \"10.0.0.5\"}}]"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("not a range inside"), "{err}");
        let err = ServerConfig::from_toml(&format!(
            "{base}[[subnets]]\nsubnet = \"10.0.0.0/24\"\n[[subnets.reservations]]\naddress = \"10.0.0.5\"\nclient_id = \"zz\""
        ))
        .unwrap_err();
        assert!(err.to_string().contains("not hex"), "{err}");
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex("aa:BB-01"), Some(vec![0xaa, 0xbb, 1]));
        assert_eq!(parse_hex("abc"), None);
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex("é1"), None);
        assert_eq!(parse_hex("+1"), None);
    }

    #[test]
    fn eos_names_become_kernel_names() {
        assert_eq!(kernel_name("Ethernet1/1"), "et1_1");
        assert_eq!(kernel_name("Management1"), "ma1");
        assert_eq!(kernel_name("br0"), "br0");
        assert_eq!(kernel_name("et*"), "et*");
    }
}

//! The server's configuration. Unknown keys are errors, so a typo never
//! silently turns a feature off.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::Deserialize;

use crate::DhcpError;

/// Everything the DHCP server needs to know.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Only clients whose option 60 starts with one of these are answered.
    #[serde(default = "default_vendor_classes")]
    pub vendor_class_prefixes: Vec<String>,
    /// Sent as option 67 and in the BOOTP `file` field.
    pub bootstrap_url: String,
    /// Lease time in seconds.
    #[serde(default = "default_lease_time")]
    pub lease_time: u32,
    /// How long a declined address stays out of use, in seconds.
    #[serde(default = "default_decline_probation")]
    pub decline_probation: u32,
    /// The lease journal (on EOS: on flash).
    pub lease_file: PathBuf,
    /// Option 6.
    #[serde(default)]
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 42.
    #[serde(default)]
    pub ntp_servers: Vec<Ipv4Addr>,
    /// UDP port to listen on; 67 except in unusual test setups.
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub point_to_point: PointToPoint,
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    #[serde(default)]
    pub rate_limit: RateLimit,
}

/// Automatic pools on interfaces holding a /30 or /31.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointToPoint {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Interface name patterns (`*` and `?` wildcards) that qualify.
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    /// Patterns that never qualify; checked after `include`.
    #[serde(default = "default_exclude")]
    pub exclude: Vec<String>,
}

impl Default for PointToPoint {
    fn default() -> Self {
        PointToPoint {
            enabled: true,
            include: default_include(),
            exclude: default_exclude(),
        }
    }
}

impl PointToPoint {
    /// Whether an interface with this name may get an automatic pool.
    pub fn qualifies(&self, interface: &str) -> bool {
        self.enabled
            && self.include.iter().any(|p| wildcard_match(p, interface))
            && !self.exclude.iter().any(|p| wildcard_match(p, interface))
    }
}

/// An explicitly configured subnet, for directly attached or relayed clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    pub network: Ipv4Net,
    /// Option 3; when absent, the address of the interface the request
    /// arrived on (or the relay's giaddr) is used.
    #[serde(default)]
    pub router: Option<Ipv4Addr>,
    /// Inclusive address ranges to allocate from.
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub reservations: Vec<Reservation>,
}

/// An inclusive range of addresses.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

/// A fixed address for one client, identified by exactly one key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    pub ip: Ipv4Addr,
    /// `aa:bb:cc:dd:ee:ff`.
    #[serde(default)]
    pub mac: Option<String>,
    /// Option 61 as hex, with or without colons.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The serial number from an Arista option 60.
    #[serde(default)]
    pub serial: Option<String>,
}

/// Token-bucket limits; 0 disables a limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Packets per second accepted from one client (by hardware address).
    #[serde(default = "default_per_client")]
    pub per_client: u32,
    /// Burst size per client.
    #[serde(default = "default_per_client_burst")]
    pub per_client_burst: u32,
    /// Packets per second accepted on one interface.
    #[serde(default = "default_per_interface")]
    pub per_interface: u32,
    /// How many clients' buckets are remembered; a flood of distinct
    /// addresses beyond this is refused instead of growing memory.
    #[serde(default = "default_tracked_clients")]
    pub tracked_clients: usize,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_client: default_per_client(),
            per_client_burst: default_per_client_burst(),
            per_interface: default_per_interface(),
            tracked_clients: default_tracked_clients(),
        }
    }
}

fn default_vendor_classes() -> Vec<String> {
    vec!["Arista".to_string()]
}
fn default_lease_time() -> u32 {
    86_400
}
fn default_decline_probation() -> u32 {
    600
}
fn default_port() -> u16 {
    67
}
fn yes() -> bool {
    true
}
fn default_include() -> Vec<String> {
    vec!["*".to_string()]
}
fn default_exclude() -> Vec<String> {
    ["ma*", "management*", "br0", "lo"]
        .map(String::from)
        .to_vec()
}
fn default_per_client() -> u32 {
    10
}
fn default_per_client_burst() -> u32 {
    20
}
fn default_per_interface() -> u32 {
    20_000
}
fn default_tracked_clients() -> usize {
    65_536
}

impl ServerConfig {
    /// Parses and validates a TOML document.
    pub fn from_toml(text: &str) -> Result<ServerConfig, DhcpError> {
        let config: ServerConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: ranges inside their subnet, well-formed
    /// reservation keys, a usable lease time.
    pub fn validate(&self) -> Result<(), DhcpError> {
        let bad = |msg: String| Err(DhcpError::Config(msg));
        if self.lease_time < 60 {
            return bad(format!(
                "lease_time {} is below 60 seconds",
                self.lease_time
            ));
        }
        if self.vendor_class_prefixes.iter().any(String::is_empty) {
            return bad("an empty vendor class prefix would match every client".into());
        }
        if self.bootstrap_url.len() > 255 {
            return bad("bootstrap_url is longer than the 255 bytes option 67 can carry".into());
        }
        for subnet in &self.subnets {
            for range in &subnet.ranges {
                if !subnet.network.contains(&range.start) || !subnet.network.contains(&range.end) {
                    return bad(format!(
                        "range {}-{} is not inside {}",
                        range.start, range.end, subnet.network
                    ));
                }
                if range.start > range.end {
                    return bad(format!(
                        "range {}-{} ends before it starts",
                        range.start, range.end
                    ));
                }
            }
            for r in &subnet.reservations {
                let keys = [r.mac.is_some(), r.client_id.is_some(), r.serial.is_some()];
                if keys.iter().filter(|k| **k).count() != 1 {
                    return bad(format!(
                        "reservation {} needs exactly one of mac, client_id, serial",
                        r.ip
                    ));
                }
                if !subnet.network.contains(&r.ip) {
                    return bad(format!(
                        "reservation {} is not inside {}",
                        r.ip, subnet.network
                    ));
                }
                if let Some(mac) = &r.mac
                    && parse_hex(mac).is_none_or(|b| b.len() != 6)
                {
                    return bad(format!(
                        "reservation {}: {mac:?} is not a MAC address",
                        r.ip
                    ));
                }
                if let Some(id) = &r.client_id
                    && parse_hex(id).is_none_or(|b| b.is_empty())
                {
                    return bad(format!("reservation {}: client_id {id:?} is not hex", r.ip));
                }
            }
        }
        Ok(())
    }
}

/// Hex bytes, optionally separated by `:` or `-`.
pub(crate) fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits: String = text.chars().filter(|c| *c != ':' && *c != '-').collect();
    if !digits.len().is_multiple_of(2) || !digits.is_ascii() {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
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
            Some(c) if *c == '?' || *c == n[ni] => {
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
    p[pi..].iter().all(|c| *c == '*')
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
    fn defaults_and_point_to_point_exclusions() {
        let c = ServerConfig::from_toml("bootstrap_url = \"http://x/\"\nlease_file = \"/tmp/l\"")
            .unwrap();
        assert_eq!(c.vendor_class_prefixes, ["Arista"]);
        assert!(c.point_to_point.qualifies("et3"));
        assert!(!c.point_to_point.qualifies("ma1"));
        assert!(!c.point_to_point.qualifies("management1"));
        assert!(!c.point_to_point.qualifies("br0"));
    }

    #[test]
    fn rejects_unknown_keys_and_bad_subnets() {
        let base = "bootstrap_url = \"http://x/\"\nlease_file = \"/tmp/l\"\n";
        let err = ServerConfig::from_toml(&format!("{base}lease_tme = 5")).unwrap_err();
        assert!(err.to_string().contains("lease_tme"), "{err}");
        let err = ServerConfig::from_toml(&format!(
            "{base}[[subnets]]\nnetwork = \"10.0.0.0/24\"\nranges = [{{start = \"10.0.0.10\", end = \"10.0.1.5\"}}]"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("not inside"), "{err}");
        let err = ServerConfig::from_toml(&format!(
            "{base}[[subnets]]\nnetwork = \"10.0.0.0/24\"\n[[subnets.reservations]]\nip = \"10.0.0.5\"\nmac = \"zz\""
        ))
        .unwrap_err();
        assert!(err.to_string().contains("not a MAC"), "{err}");
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex("aa:BB-01"), Some(vec![0xaa, 0xbb, 1]));
        assert_eq!(parse_hex("abc"), None);
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex("é1"), None);
    }
}

//! Small value types shared by both documents.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An Ethernet MAC address, written `08:00:27:85:0c:f8` (or with `-`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// Group (multicast or broadcast) addresses cannot be a NIC's address.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid =
            || format!("{s:?} is not a MAC address; write six hex bytes like 08:00:27:85:0c:f8");
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(invalid());
        }
        let mut bytes = [0u8; 6];
        for (byte, part) in bytes.iter_mut().zip(parts) {
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
        }
        Ok(MacAddr(bytes))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The Linux name EOS gives an interface: `Ethernet1/1` -> `et1_1`,
/// `Ethernet3` -> `et3`. A name already in kernel form (`et3`) is returned as
/// is. `None` for anything that is not an Ethernet port.
pub fn kernel_interface_name(name: &str) -> Option<String> {
    let numbers = name
        .strip_prefix("Ethernet")
        .map(|rest| rest.split('/').collect::<Vec<_>>())
        .or_else(|| {
            name.strip_prefix("et")
                .map(|rest| rest.split('_').collect())
        })?;
    let valid = !numbers.is_empty()
        && numbers.len() <= 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()));
    valid.then(|| format!("et{}", numbers.join("_")))
}

/// A key to compare interface names by, so that `Ethernet3` and `et3` are
/// recognised as the same port.
pub(crate) fn interface_key(name: &str) -> String {
    kernel_interface_name(name).unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parses_and_classifies() {
        let mac: MacAddr = "08-00-27-85-0C-F8".parse().unwrap();
        assert_eq!(mac.to_string(), "08:00:27:85:0c:f8");
        assert!(!mac.is_multicast());
        assert!(
            "01:00:5e:00:00:01"
                .parse::<MacAddr>()
                .unwrap()
                .is_multicast()
        );
        assert!("00:00:00:00:00:00".parse::<MacAddr>().unwrap().is_zero());
        assert!("08:00:27:85:0c".parse::<MacAddr>().is_err());
        assert!("08:00:27:85:0c:g8".parse::<MacAddr>().is_err());
        assert!("08:00:27:85:0c:+8".parse::<MacAddr>().is_err());
    }

    #[test]
    fn eos_names_map_to_kernel_names() {
        assert_eq!(
            kernel_interface_name("Ethernet1/1").as_deref(),
            Some("et1_1")
        );
        assert_eq!(kernel_interface_name("Ethernet3").as_deref(), Some("et3"));
        assert_eq!(kernel_interface_name("et3_1").as_deref(), Some("et3_1"));
        assert_eq!(kernel_interface_name("Ethernet"), None);
        assert_eq!(kernel_interface_name("Ethernet1//2"), None);
        assert_eq!(kernel_interface_name("Loopback0"), None);
        assert_eq!(interface_key("Ethernet3"), interface_key("et3"));
    }
}

/// serde for `address/prefix` fields, with an error that shows the expected form.
pub(crate) mod ipv4_net {
    use ipnet::Ipv4Net;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(net: &Ipv4Net, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(net)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Ipv4Net, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|_| {
            let hint = if text.contains('/') {
                "an IPv4 address and a prefix length from 0 to 32"
            } else {
                "the prefix length too"
            };
            serde::de::Error::custom(format!(
                "{text:?} is not an IPv4 address with prefix; write {hint}, like 10.1.1.0/31 or 172.16.130.254/24"
            ))
        })
    }
}

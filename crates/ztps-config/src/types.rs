//! Small value types shared by both documents.

pub use ztps_types::MacAddr;
use ztps_types::ifname::{InterfaceKind, InterfaceName};

/// The Linux name EOS gives an interface: `Ethernet1/1` -> `et1_1`,
/// `Ethernet3` -> `et3`. A name already in kernel form (`et3`) is returned as
/// is. `None` for anything that is not an Ethernet port. The same rule as the
/// agent's eAPI view of names (`ztps_types::ifname`), so the two agree.
pub fn kernel_interface_name(name: &str) -> Option<String> {
    InterfaceName::parse_kernel(name)
        .or_else(|| InterfaceName::parse_eos(name))
        .filter(|n| n.kind == InterfaceKind::Ethernet)
        .map(|n| n.kernel_name())
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

/// A crypt(3) password hash (see [`crate::rules::crypt_password_hash`]).
/// Its `Debug` hides the value, so that no log or error dump carries it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(pub String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<hidden>)")
    }
}

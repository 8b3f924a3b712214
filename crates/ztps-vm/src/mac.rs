//! MAC addresses, and the tap MAC libvirt and EOS derive from the VM's.

use std::fmt;
use std::str::FromStr;

use crate::VmError;

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The MAC of the host-side tap of a VM NIC with this MAC: libvirt (and
    /// EOS, which uses libvirt) sets the first byte to `fe` so that the
    /// bridge never takes the guest's MAC as its own.
    pub fn tap_mac(self) -> MacAddr {
        let mut bytes = self.0;
        bytes[0] = 0xfe;
        MacAddr(bytes)
    }
}

impl FromStr for MacAddr {
    type Err = VmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || VmError::InvalidMac(s.to_string());
        let mut bytes = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut bytes {
            let part = parts.next().ok_or_else(invalid)?;
            // from_str_radix alone would accept a sign ("+8").
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
        }
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(MacAddr(bytes))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_both_separators_and_cases() {
        let m: MacAddr = "08:00:27:85:0C:f8".parse().unwrap();
        assert_eq!(m.0, [0x08, 0x00, 0x27, 0x85, 0x0c, 0xf8]);
        assert_eq!(m.to_string(), "08:00:27:85:0c:f8");
        assert_eq!("08-00-27-85-0c-f8".parse::<MacAddr>().unwrap(), m);
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "08:00:27:85:0c",
            "08:00:27:85:0c:f8:00",
            "8:00:27:85:0c:f8",
            "08:00:27:85:0c:g8",
            "+8:00:27:85:0c:f8",
        ] {
            assert!(
                matches!(bad.parse::<MacAddr>(), Err(VmError::InvalidMac(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn tap_mac_replaces_only_the_first_byte() {
        let m: MacAddr = "52:54:00:12:34:56".parse().unwrap();
        assert_eq!(m.tap_mac().to_string(), "fe:54:00:12:34:56");
    }
}

//! Ethernet MAC addresses in every form an operator copies from EOS or Linux.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An Ethernet MAC address.
///
/// Parsed from `08:00:27:85:0c:f8`, `08-00-27-85-0c-f8` or EOS's dotted
/// form `0800.2785.0cf8` (as `show version` prints it), in either case;
/// always printed with colons in lower case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

/// Why a string is not a MAC address; the message says what would be valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a MAC address; write six hex bytes like 08:00:27:85:0c:f8 or EOS's 0800.2785.0cf8"
)]
pub struct MacParseError(pub String);

impl MacAddr {
    /// Group (multicast or broadcast) addresses cannot be a NIC's address.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// The MAC of the host-side tap of a VM NIC with this MAC: libvirt (and
    /// EOS, which uses libvirt) sets the first byte to `fe` so that the
    /// bridge never takes the guest's MAC as its own.
    pub fn tap_mac(self) -> MacAddr {
        let mut bytes = self.0;
        bytes[0] = 0xfe;
        MacAddr(bytes)
    }

    /// Twelve lower-case hex digits, no separators (ZTPServer's node id).
    pub fn to_bare_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The address in a DHCP `chaddr`: only an Ethernet-sized hardware
    /// address (6 bytes) is a MAC.
    pub fn from_slice(bytes: &[u8]) -> Option<MacAddr> {
        <[u8; 6]>::try_from(bytes).ok().map(MacAddr)
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(bytes: [u8; 6]) -> Self {
        MacAddr(bytes)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Hex digits only: `u8::from_str_radix` alone would also take a sign (`+8`).
fn hex_group(part: &str, digits: usize) -> Option<u16> {
    if part.len() != digits || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(part, 16).ok()
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || MacParseError(s.to_string());
        let mut bytes = [0u8; 6];
        if s.contains('.') {
            // EOS: three groups of four hex digits.
            let groups: Vec<&str> = s.split('.').collect();
            if groups.len() != 3 {
                return Err(invalid());
            }
            for (pair, group) in bytes.chunks_exact_mut(2).zip(groups) {
                let value = hex_group(group, 4).ok_or_else(invalid)?;
                pair.copy_from_slice(&value.to_be_bytes());
            }
            return Ok(MacAddr(bytes));
        }
        let separator = if s.contains('-') { '-' } else { ':' };
        let parts: Vec<&str> = s.split(separator).collect();
        if parts.len() != 6 {
            return Err(invalid());
        }
        for (byte, part) in bytes.iter_mut().zip(parts) {
            *byte = hex_group(part, 2).ok_or_else(invalid)? as u8;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const M: [u8; 6] = [0x44, 0x4c, 0xa8, 0x00, 0x11, 0x01];

    #[test]
    fn accepts_colons_dashes_and_eos_dots_in_any_case() {
        for text in [
            "44:4c:a8:00:11:01",
            "44-4C-A8-00-11-01",
            "444c.a800.1101",
            "444C.A800.1101",
        ] {
            assert_eq!(text.parse::<MacAddr>(), Ok(MacAddr(M)), "{text}");
        }
        assert_eq!(MacAddr(M).to_string(), "44:4c:a8:00:11:01");
        assert_eq!(MacAddr(M).to_bare_hex(), "444ca8001101");
    }

    #[test]
    fn rejects_signs_mixed_separators_and_wrong_lengths() {
        for text in [
            "",
            "+8:00:27:85:0c:f8",
            "08:00:27:85:0c",
            "08:00:27:85:0c:f8:00",
            "08:00-27:85:0c:f8",
            "8:00:27:85:0c:f8",
            "444c.a800",
            "444c.a800.110",
            "444c.a800.+101",
            "444c:a800.1101",
            "08:00:27:85:0c:g8",
            "08:00:27:85:0c:f8\n",
        ] {
            let err = text.parse::<MacAddr>().expect_err(text);
            assert!(err.to_string().contains("0800.2785.0cf8"), "{err}");
        }
    }

    #[test]
    fn tap_mac_replaces_the_first_byte() {
        assert_eq!(MacAddr(M).tap_mac().0, [0xfe, 0x4c, 0xa8, 0x00, 0x11, 0x01]);
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&MacAddr(M)).unwrap();
        assert_eq!(json, "\"44:4c:a8:00:11:01\"");
        assert_eq!(
            serde_json::from_str::<MacAddr>("\"444c.a800.1101\"").unwrap(),
            MacAddr(M)
        );
    }

    proptest! {
        #[test]
        fn every_printed_form_parses_back(bytes in any::<[u8; 6]>()) {
            let mac = MacAddr(bytes);
            prop_assert_eq!(mac.to_string().parse::<MacAddr>(), Ok(mac));
            let dotted = format!("{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}",
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]);
            prop_assert_eq!(dotted.parse::<MacAddr>(), Ok(mac));
        }

        #[test]
        fn never_panics(text in ".{0,40}") {
            let _ = text.parse::<MacAddr>();
        }
    }
}

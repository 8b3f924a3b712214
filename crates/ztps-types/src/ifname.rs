//! EOS interface names and the names of their Linux kernel devices.
//!
//! EOS exposes each front-panel port to Linux as a network device whose name
//! is a short form of the EOS name: `Ethernet49/1` is `et49_1`, `Management1`
//! is `ma1`. The agent watches kernel devices and asks EOS about interfaces,
//! so it needs both directions.

use std::fmt;

/// The interface types the agent deals with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InterfaceKind {
    Ethernet,
    Management,
    PortChannel,
    Vlan,
    Loopback,
}

impl InterfaceKind {
    const ALL: [InterfaceKind; 5] = [
        Self::Ethernet,
        Self::Management,
        Self::PortChannel,
        Self::Vlan,
        Self::Loopback,
    ];

    /// The full EOS spelling.
    pub fn eos_prefix(self) -> &'static str {
        match self {
            Self::Ethernet => "Ethernet",
            Self::Management => "Management",
            Self::PortChannel => "Port-Channel",
            Self::Vlan => "Vlan",
            Self::Loopback => "Loopback",
        }
    }

    /// The prefix of the kernel device name.
    pub fn kernel_prefix(self) -> &'static str {
        match self {
            Self::Ethernet => "et",
            Self::Management => "ma",
            Self::PortChannel => "po",
            Self::Vlan => "vlan",
            Self::Loopback => "lo",
        }
    }

    /// Only physical-style ports have module/port numbers (`Ethernet3/1/2`).
    fn allows_slots(self) -> bool {
        matches!(self, Self::Ethernet | Self::Management)
    }
}

/// A parsed interface name: a kind and its numbers (`Ethernet49/1` is
/// `Ethernet` with `[49, 1]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceName {
    pub kind: InterfaceKind,
    pub numbers: Vec<u32>,
}

impl InterfaceName {
    /// Parses an EOS name, accepting the case-insensitive abbreviations the
    /// CLI accepts (`Et1`, `eth49/1`, `Po10`, `Vl100`, `Lo0`, `Ma1`): any
    /// prefix of the type name of at least two letters.
    pub fn parse_eos(name: &str) -> Option<Self> {
        let split = name.find(|c: char| c.is_ascii_digit())?;
        let (word, rest) = name.split_at(split);
        let word = word.trim_end().to_ascii_lowercase();
        if word.len() < 2 {
            return None;
        }
        let kind = InterfaceKind::ALL
            .into_iter()
            .find(|k| k.eos_prefix().to_ascii_lowercase().starts_with(&word))?;
        let numbers = parse_numbers(rest, '/', kind)?;
        Some(Self { kind, numbers })
    }

    /// Parses a kernel device name (`et49_1`, `ma1`, `po10`, `vlan100`,
    /// `lo0`). Linux's own `lo` is not an EOS interface and gives `None`.
    pub fn parse_kernel(name: &str) -> Option<Self> {
        let split = name.find(|c: char| c.is_ascii_digit())?;
        let (word, rest) = name.split_at(split);
        let kind = InterfaceKind::ALL
            .into_iter()
            .find(|k| k.kernel_prefix() == word)?;
        let numbers = parse_numbers(rest, '_', kind)?;
        Some(Self { kind, numbers })
    }

    pub fn eos_name(&self) -> String {
        format!("{}{}", self.kind.eos_prefix(), join(&self.numbers, "/"))
    }

    pub fn kernel_name(&self) -> String {
        format!("{}{}", self.kind.kernel_prefix(), join(&self.numbers, "_"))
    }
}

impl fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.eos_name())
    }
}

/// `Ethernet49/1` (or `Et49/1`) -> `et49_1`.
pub fn eos_to_kernel(eos: &str) -> Option<String> {
    InterfaceName::parse_eos(eos).map(|n| n.kernel_name())
}

/// `et49_1` -> `Ethernet49/1`.
pub fn kernel_to_eos(kernel: &str) -> Option<String> {
    InterfaceName::parse_kernel(kernel).map(|n| n.eos_name())
}

/// Normalises any accepted EOS spelling to the canonical one (`et1` -> `Ethernet1`).
pub fn canonical_eos(eos: &str) -> Option<String> {
    InterfaceName::parse_eos(eos).map(|n| n.eos_name())
}

fn parse_numbers(text: &str, separator: char, kind: InterfaceKind) -> Option<Vec<u32>> {
    let numbers = text
        .split(separator)
        .map(|part| {
            // Leading zeros would make two spellings of one interface.
            let canonical = !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'));
            if canonical {
                part.parse::<u32>().ok()
            } else {
                None
            }
        })
        .collect::<Option<Vec<u32>>>()?;
    if numbers.len() > 1 && !kind.allows_slots() {
        return None;
    }
    Some(numbers)
}

fn join(numbers: &[u32], separator: &str) -> String {
    numbers
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn documented_pairs_map_both_ways() {
        for (eos, kernel) in [
            ("Ethernet1", "et1"),
            ("Ethernet49/1", "et49_1"),
            ("Ethernet3/1/2", "et3_1_2"),
            ("Management1", "ma1"),
            ("Port-Channel10", "po10"),
            ("Vlan100", "vlan100"),
            ("Loopback0", "lo0"),
        ] {
            assert_eq!(eos_to_kernel(eos).as_deref(), Some(kernel), "{eos}");
            assert_eq!(kernel_to_eos(kernel).as_deref(), Some(eos), "{kernel}");
        }
    }

    #[test]
    fn abbreviations_are_accepted_case_insensitively() {
        for (input, canonical) in [
            ("Et1", "Ethernet1"),
            ("eth49/1", "Ethernet49/1"),
            ("ETHERNET2", "Ethernet2"),
            ("Ma1", "Management1"),
            ("po10", "Port-Channel10"),
            ("port-channel10", "Port-Channel10"),
            ("Vl100", "Vlan100"),
            ("Lo0", "Loopback0"),
        ] {
            assert_eq!(canonical_eos(input).as_deref(), Some(canonical), "{input}");
        }
    }

    #[test]
    fn non_eos_names_are_refused() {
        for eos in [
            "",
            "E1",
            "Ethernet",
            "Ethernet1/",
            "Ethernet01",
            "Vlan1/1",
            "Tunnel1",
            "Ethernet-1",
        ] {
            assert_eq!(eos_to_kernel(eos), None, "{eos:?}");
        }
        for kernel in [
            "lo", "eth0", "br0", "et", "et1/1", "et01", "vlan1_1", "veth1", "et1_", "ma",
        ] {
            assert_eq!(kernel_to_eos(kernel), None, "{kernel:?}");
        }
    }

    fn any_name() -> impl Strategy<Value = InterfaceName> {
        prop_oneof![
            prop::collection::vec(0u32..1000, 1..4).prop_map(|n| InterfaceName {
                kind: InterfaceKind::Ethernet,
                numbers: n
            }),
            prop::collection::vec(0u32..10, 1..3).prop_map(|n| InterfaceName {
                kind: InterfaceKind::Management,
                numbers: n
            }),
            (1u32..2000).prop_map(|n| InterfaceName {
                kind: InterfaceKind::PortChannel,
                numbers: vec![n]
            }),
            (1u32..4095).prop_map(|n| InterfaceName {
                kind: InterfaceKind::Vlan,
                numbers: vec![n]
            }),
            any::<u32>().prop_map(|n| InterfaceName {
                kind: InterfaceKind::Loopback,
                numbers: vec![n]
            }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip_through_kernel_name(name in any_name()) {
            let kernel = name.kernel_name();
            prop_assert_eq!(InterfaceName::parse_kernel(&kernel), Some(name.clone()));
            let eos = name.eos_name();
            prop_assert_eq!(InterfaceName::parse_eos(&eos), Some(name.clone()));
            prop_assert_eq!(kernel_to_eos(&kernel), Some(eos.clone()));
            prop_assert_eq!(eos_to_kernel(&eos), Some(kernel));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,24}") {
            let _ = eos_to_kernel(&text);
            let _ = kernel_to_eos(&text);
            // Whatever parses maps back to itself.
            if let Some(kernel) = eos_to_kernel(&text) {
                prop_assert_eq!(kernel_to_eos(&kernel), canonical_eos(&text));
            }
        }

        #[test]
        fn name_like_text_never_panics(text in "(et|ma|po|vlan|lo|Et|Ethernet|Vlan)[0-9_/]{0,12}") {
            if let Some(eos) = kernel_to_eos(&text) {
                prop_assert_eq!(eos_to_kernel(&eos), Some(text.clone()));
            }
            let _ = eos_to_kernel(&text);
        }
    }
}

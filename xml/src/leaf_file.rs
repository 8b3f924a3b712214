//! The operator's own leaf configs (`<hostname>.cfg`, as AVD writes them
//! into `intended/configs`): the uplink addresses they configure must be
//! the ones the fabric plans, or the leaf loses its uplinks when it reboots
//! into its config (its DHCP lease and the spine's side say otherwise).

use ztps_config::LeafPlan;

/// An uplink the file configures otherwise than the fabric plans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UplinkMismatch {
    /// The leaf's port.
    pub interface: String,
    /// The 1-based line of its `ip address` (or of its `interface` line
    /// when it has none); `None` when the file has no block for it.
    pub line: Option<usize>,
    /// What the file says: `None` when it gives no address.
    pub found: Option<String>,
    /// What the fabric plans (`10.1.1.1/31`).
    pub planned: String,
    /// The spine end, for the message: `spine1 Ethernet1`.
    pub peer: String,
}

impl std::fmt::Display for UplinkMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.line, &self.found) {
            (None, _) => write!(
                f,
                "interface {}: no such block; the fabric plans ip address {} on it (uplink to {})",
                self.interface, self.planned, self.peer
            ),
            (Some(_), None) => write!(
                f,
                "interface {}: no ip address; the fabric plans {} (uplink to {})",
                self.interface, self.planned, self.peer
            ),
            (Some(_), Some(found)) => write!(
                f,
                "interface {}: ip address {found}, but the fabric plans {} (uplink to {}); the leaf's DHCP lease and the spine's side use the planned one",
                self.interface, self.planned, self.peer
            ),
        }
    }
}

/// One `interface` block: its name, the line of its `interface` line, and
/// its primary `ip address` with that line.
struct Block<'a> {
    name: &'a str,
    line: usize,
    address: Option<(&'a str, usize)>,
}

fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut out: Vec<Block<'_>> = Vec::new();
    let mut open = false;
    for (i, line) in text.lines().enumerate() {
        let indented = line.starts_with([' ', '\t']);
        if !indented {
            open = false;
            if let Some(name) = line.strip_prefix("interface ") {
                out.push(Block {
                    name: name.trim(),
                    line: i + 1,
                    address: None,
                });
                open = true;
            }
            continue;
        }
        if !open {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["ip", "address", address] = words.as_slice()
            && let Some(block) = out.last_mut()
        {
            block.address = Some((address, i + 1));
        }
    }
    out
}

/// Every planned uplink the file does not configure as planned.
pub fn uplink_mismatches(plan: &LeafPlan, text: &str) -> Vec<UplinkMismatch> {
    let blocks = blocks(text);
    let mut out = Vec::new();
    for uplink in &plan.uplinks {
        let peer = format!("{} {}", uplink.peer, uplink.peer_interface);
        let block = blocks
            .iter()
            .rev()
            .find(|b| b.name.eq_ignore_ascii_case(&uplink.interface));
        let mismatch = match block {
            None => Some(UplinkMismatch {
                interface: uplink.interface.clone(),
                line: None,
                found: None,
                planned: uplink.address.clone(),
                peer,
            }),
            Some(Block {
                address: None,
                line,
                ..
            }) => Some(UplinkMismatch {
                interface: uplink.interface.clone(),
                line: Some(*line),
                found: None,
                planned: uplink.address.clone(),
                peer,
            }),
            Some(Block {
                address: Some((found, line)),
                ..
            }) => (*found != uplink.address).then(|| UplinkMismatch {
                interface: uplink.interface.clone(),
                line: Some(*line),
                found: Some((*found).to_string()),
                planned: uplink.address.clone(),
                peer,
            }),
        };
        out.extend(mismatch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ztps_config::PlannedUplink;

    fn plan() -> LeafPlan {
        let uplink = |interface: &str, address: &str, peer: &str| PlannedUplink {
            interface: interface.into(),
            address: address.into(),
            peer: peer.into(),
            peer_interface: "Ethernet1".into(),
            peer_address: String::new(),
            peer_ip: String::new(),
            peer_asn: Some(65000),
            speed: None,
        };
        LeafPlan {
            hostname: "leaf1".into(),
            asn: 65101,
            loopback: "10.255.0.1".parse().unwrap(),
            uplinks: vec![
                uplink("Ethernet49/1", "10.1.1.1/31", "spine1"),
                uplink("Ethernet50/1", "10.1.2.1/31", "spine2"),
                uplink("Ethernet51/1", "10.1.3.1/31", "spine3"),
            ],
            source: ztps_config::LeafConfigSource::Files,
            ztpserver_subnet: String::new(),
            serial: None,
            system_mac: None,
        }
    }

    /// As AVD's eos_cli_config_gen writes an L3 leaf's uplinks.
    const AVD: &str = "!\nhostname leaf1\n!\ninterface Ethernet49/1\n   description P2P_LINK_TO_SPINE1_Ethernet1\n   no shutdown\n   mtu 9214\n   no switchport\n   ip address 10.1.1.1/31\n!\ninterface Ethernet50/1\n   description P2P_LINK_TO_SPINE2_Ethernet1\n   no shutdown\n   mtu 9214\n   no switchport\n   ip address 10.1.2.3/31\n   ip address 10.9.9.9/24 secondary\n!\ninterface Ethernet51/1\n   description P2P_LINK_TO_SPINE3_Ethernet1\n   no switchport\n!\ninterface Loopback0\n   ip address 10.255.0.1/32\n!\nend\n";

    #[test]
    fn every_uplink_is_compared_with_the_plan() {
        let got: Vec<String> = uplink_mismatches(&plan(), AVD)
            .iter()
            .map(|m| format!("{:?}: {m}", m.line))
            .collect();
        assert_eq!(
            got,
            [
                "Some(16): interface Ethernet50/1: ip address 10.1.2.3/31, but the fabric plans 10.1.2.1/31 (uplink to spine2 Ethernet1); the leaf's DHCP lease and the spine's side use the planned one",
                "Some(19): interface Ethernet51/1: no ip address; the fabric plans 10.1.3.1/31 (uplink to spine3 Ethernet1)",
            ]
        );
        let without = AVD.replace("interface Ethernet49/1", "interface Ethernet48/1");
        let got = uplink_mismatches(&plan(), &without);
        assert_eq!(got[0].line, None);
        assert!(
            got[0]
                .to_string()
                .starts_with("interface Ethernet49/1: no such block")
        );
    }

    #[test]
    fn a_file_as_planned_has_no_mismatch() {
        let good = AVD.replace("10.1.2.3/31", "10.1.2.1/31").replace(
            "   description P2P_LINK_TO_SPINE3_Ethernet1\n   no switchport\n",
            "   no switchport\n   ip address 10.1.3.1/31\n",
        );
        assert_eq!(uplink_mismatches(&plan(), &good), []);
        // Garbage is no panic, only a list of what is missing.
        assert_eq!(
            uplink_mismatches(&plan(), "\u{0}interface\n ip address\n").len(),
            3
        );
    }
}

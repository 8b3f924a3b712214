//! Typed replies of the commands the agent runs.
//!
//! Every model ignores fields it does not know (EOS adds fields between
//! releases) and gives optional fields a default, so that a newer or older
//! EOS still decodes. Shapes are checked against real replies in
//! `tests/data/`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Deserializer, Serialize};

use crate::ifname;

/// `show version`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShowVersion {
    #[serde(default)]
    pub mfg_name: String,
    pub model_name: String,
    #[serde(default)]
    pub hardware_revision: String,
    pub serial_number: String,
    #[serde(default)]
    pub system_mac_address: String,
    pub version: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub internal_version: String,
    #[serde(default)]
    pub bootup_timestamp: Option<f64>,
    #[serde(default)]
    pub uptime: Option<f64>,
    #[serde(default)]
    pub mem_total: Option<u64>,
    #[serde(default)]
    pub mem_free: Option<u64>,
}

/// `linkStatus` of `show interfaces status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum LinkStatus {
    Connected,
    NotConnect,
    Disabled,
    ErrDisabled,
    Other(String),
}

impl LinkStatus {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Connected => "connected",
            Self::NotConnect => "notconnect",
            Self::Disabled => "disabled",
            Self::ErrDisabled => "errdisabled",
            Self::Other(s) => s,
        }
    }
}

impl From<&str> for LinkStatus {
    fn from(s: &str) -> Self {
        match s {
            "connected" => Self::Connected,
            "notconnect" => Self::NotConnect,
            "disabled" => Self::Disabled,
            "errdisabled" => Self::ErrDisabled,
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<LinkStatus> for String {
    fn from(s: LinkStatus) -> Self {
        s.as_str().to_string()
    }
}

impl<'de> Deserialize<'de> for LinkStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(LinkStatus::from(s.as_str()))
    }
}

/// `show interfaces status [connected]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfacesStatus {
    pub interface_statuses: BTreeMap<String, InterfaceStatus>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceStatus {
    #[serde(default)]
    pub description: String,
    pub link_status: LinkStatus,
    #[serde(default)]
    pub line_protocol_status: String,
    #[serde(default)]
    pub duplex: String,
    #[serde(default)]
    pub bandwidth: u64,
    #[serde(default)]
    pub interface_type: String,
    // EOS sends both the misspelt key and, in newer releases, the right one.
    // A serde alias would reject a reply carrying both, so keep them apart.
    #[serde(default)]
    pub auto_negotiate_active: Option<bool>,
    #[serde(default, rename = "autoNegotigateActive")]
    pub auto_negotigate_active: Option<bool>,
    #[serde(default)]
    pub vlan_information: Option<VlanInformation>,
}

impl InterfaceStatus {
    /// Auto-negotiation, from whichever spelling EOS used.
    pub fn auto_negotiate(&self) -> Option<bool> {
        self.auto_negotiate_active.or(self.auto_negotigate_active)
    }

    /// A routed (layer-3) port rather than a switch port.
    pub fn is_routed(&self) -> bool {
        self.vlan_information
            .as_ref()
            .is_some_and(|v| v.interface_mode == "routed")
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VlanInformation {
    #[serde(default)]
    pub vlan_id: Option<u32>,
    #[serde(default)]
    pub interface_mode: String,
    #[serde(default)]
    pub interface_forwarding_model: String,
}

/// An address with its prefix length, as EOS writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressMask {
    pub address: Ipv4Addr,
    pub mask_len: u8,
}

impl AddressMask {
    /// EOS writes `0.0.0.0/0` for "no address".
    pub fn to_net(self) -> Option<Ipv4Net> {
        if self.address.is_unspecified() {
            return None;
        }
        Ipv4Net::new(self.address, self.mask_len).ok()
    }
}

/// `show ip interface` and `show ip interface brief`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct IpInterfaces {
    pub interfaces: BTreeMap<String, IpInterface>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpInterface {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub interface_status: Option<LinkStatus>,
    #[serde(default)]
    pub line_protocol_status: String,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub interface_address: Option<OneOrMany<InterfaceAddress>>,
}

/// `show ip interface` gives one address object, `show interfaces` a list.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        match self {
            Self::One(t) => std::slice::from_ref(t).iter(),
            Self::Many(v) => v.iter(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceAddress {
    /// `show ip interface brief`.
    #[serde(default)]
    pub ip_addr: Option<AddressMask>,
    /// `show ip interface`.
    #[serde(default)]
    pub primary_ip: Option<AddressMask>,
    #[serde(default)]
    pub secondary_ips_ordered_list: Vec<AddressMask>,
}

/// One interface's IPv4 addresses, the primary first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Interface {
    /// The EOS name (`Ethernet3`).
    pub name: String,
    /// The kernel device name (`et3`), when the name maps to one.
    pub kernel_name: Option<String>,
    pub status: Option<LinkStatus>,
    pub line_protocol_up: bool,
    pub addresses: Vec<Ipv4Net>,
}

impl IpInterfaces {
    pub fn ipv4_interfaces(&self) -> Vec<Ipv4Interface> {
        self.interfaces
            .iter()
            .map(|(key, intf)| {
                let name = if intf.name.is_empty() {
                    key.clone()
                } else {
                    intf.name.clone()
                };
                let addresses = intf
                    .interface_address
                    .iter()
                    .flat_map(OneOrMany::iter)
                    .flat_map(|a| {
                        a.ip_addr
                            .iter()
                            .chain(a.primary_ip.iter())
                            .chain(a.secondary_ips_ordered_list.iter())
                            .filter_map(|m| m.to_net())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                Ipv4Interface {
                    kernel_name: ifname::eos_to_kernel(&name),
                    name,
                    status: intf.interface_status.clone(),
                    line_protocol_up: intf.line_protocol_status == "up",
                    addresses,
                }
            })
            .collect()
    }
}

/// `show lldp neighbors`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LldpNeighbors {
    pub lldp_neighbors: Vec<LldpNeighbor>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LldpNeighbor {
    pub port: String,
    #[serde(default)]
    pub neighbor_device: String,
    #[serde(default)]
    pub neighbor_port: String,
    #[serde(default)]
    pub ttl: Option<u32>,
}

/// `show lldp neighbors detail`: local port -> what it hears.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LldpNeighborsDetail {
    pub lldp_neighbors: BTreeMap<String, LldpPortNeighbors>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LldpPortNeighbors {
    #[serde(default)]
    pub lldp_neighbor_info: Vec<LldpNeighborInfo>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LldpNeighborInfo {
    #[serde(default)]
    pub chassis_id_type: String,
    #[serde(default)]
    pub chassis_id: String,
    #[serde(default)]
    pub system_name: Option<String>,
    #[serde(default)]
    pub system_description: Option<String>,
    #[serde(default)]
    pub neighbor_interface_info: Option<NeighborInterfaceInfo>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NeighborInterfaceInfo {
    #[serde(default)]
    pub interface_id_type: String,
    /// EOS quotes this one: `"\"Ethernet49\""`.
    #[serde(default)]
    pub interface_id: String,
    #[serde(default, rename = "interfaceId_v2")]
    pub interface_id_v2: Option<String>,
}

impl NeighborInterfaceInfo {
    /// The neighbour's port, without EOS's quotes.
    pub fn port(&self) -> &str {
        match &self.interface_id_v2 {
            Some(v2) => v2,
            None => self.interface_id.trim_matches('"'),
        }
    }
}

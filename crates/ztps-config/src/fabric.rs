//! The fabric description: what an operator writes about a spine, its VM and
//! its leaf links. Everything the switch needs is rendered or derived from it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::agent::{
    AgentConfig, AutoP2pConfig, BridgeConfig, ContainerConfig, DhcpConfig, EapiConfig,
    EventsConfig, ForwardingConfig, StatusConfig, VmBackend, VmConfig,
};
use crate::checks;
use crate::diag::{KeyPath, Problems, Segment};
use crate::leaf::{LeafConfigs, LeafSpec, Underlay};
use crate::rules;
use crate::settings::{DhcpSettings, EventsSettings, StatusSettings, VmSettings};
use crate::types::MacAddr;

/// The least memory the ZTPServer appliance boots and serves with.
pub const MIN_VM_MEMORY_MIB: u32 = 1024;
/// Where the agent binary lives when copied to flash.
pub const AGENT_FLASH_PATH: &str = "/mnt/flash/ztps-agent";
/// Where the agent binary lives when installed from its SWIX extension.
pub const AGENT_SWIX_PATH: &str = "/usr/bin/ztps-agent";

/// A whole fabric: one or more spines, keyed by name, exactly one of which
/// hosts the ZTPServer; the leaves' own settings; how their configs are
/// made. A top-level `[defaults]` table (consumed while loading) is laid
/// under every spine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fabric {
    pub spines: BTreeMap<String, Spine>,
    /// `[images.NAME]`: EOS images the leaves may install.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, crate::catalogue::EosImage>,
    /// `[extensions.NAME]`: extensions the leaves may install.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, crate::catalogue::Extension>,
    /// `[software]`: what every leaf installs unless its link says otherwise.
    #[serde(default)]
    pub software: crate::catalogue::LeafSoftware,
    /// What every leaf's built-in config shares: ASNs, loopbacks, the admin
    /// user, NTP and syslog.
    #[serde(default)]
    pub underlay: Underlay,
    /// Where the leaves' Day-1 configs come from.
    #[serde(default)]
    pub leaf_configs: LeafConfigs,
    /// `[leaves.NAME]`: a leaf's own settings, all optional.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub leaves: BTreeMap<String, LeafSpec>,
    /// The directory of the first fabric file: relative paths in the
    /// fabric (configs, templates) are taken from there. Set by the loader.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// One spine of the fabric. The one with a `vm` hosts the ZTPServer (the
/// VM, its bridge and loopback, the agent, DHCP); the others only carry
/// their links and BGP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spine {
    /// The key under `[spines]`; filled in by the loader.
    #[serde(skip)]
    pub name: String,
    /// The fabric's software catalogue; filled in by the loader.
    #[serde(skip)]
    pub catalogue: crate::catalogue::Catalogue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_mac: Option<MacAddr>,
    /// The EOS image file on flash, for `boot-config`.
    #[serde(default = "default_eos_image")]
    pub eos_image: String,
    /// When given, the startup-config advertises the VM subnet in BGP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_asn: Option<u32>,
    #[serde(default)]
    pub agent: AgentInstallConfig,
    #[serde(default)]
    pub eapi: EapiConfig,
    /// The host spine's loopback in the VM subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loopback: Option<LoopbackConfig>,
    /// The host spine's bridge to the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeConfig>,
    /// The ZTPServer VM: given on exactly one spine, the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmSpec>,
    #[serde(default)]
    pub ztpserver: ZtpServerConfig,
    #[serde(default)]
    pub dhcp: FabricDhcpConfig,
    #[serde(default)]
    pub leaves: Vec<LeafLink>,
    /// Each leaf's ASN by its name (lower case), from the fabric's leaf
    /// plans: the spine's BGP neighbours. Filled in by the loader.
    #[serde(skip)]
    pub leaf_asns: BTreeMap<String, u32>,
}

fn default_eos_image() -> String {
    "EOS.swi".into()
}

/// How the agent binary gets onto the switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentInstall {
    /// Copied to `/mnt/flash/ztps-agent` and run from there.
    #[default]
    Flash,
    /// Installed at boot from a SWIX listed in `boot-extensions`.
    Swix,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentInstallConfig {
    pub install: AgentInstall,
    /// The extension's file name under `/mnt/flash/.extensions/`.
    pub swix_file: String,
    /// Agent settings the fabric cannot derive; each set key replaces the
    /// derived agent config's value.
    pub dhcp: DhcpSettings,
    pub status: StatusSettings,
    pub events: EventsSettings,
    pub vm: VmSettings,
    /// `[spines.NAME.agent.timeline]`: replaces the derived `[timeline]`
    /// (the spine's name is kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<crate::timeline::TimelineConfig>,
}

impl Default for AgentInstallConfig {
    fn default() -> Self {
        AgentInstallConfig {
            install: AgentInstall::Flash,
            swix_file: format!("ztps-agent-{}.swix", env!("CARGO_PKG_VERSION")),
            dhcp: DhcpSettings::default(),
            status: StatusSettings::default(),
            events: EventsSettings::default(),
            vm: VmSettings::default(),
            timeline: None,
        }
    }
}

/// The loopback in the VM subnet that makes the subnet routable without a
/// management network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopbackConfig {
    #[serde(default = "default_loopback_name")]
    pub name: String,
    #[serde(with = "crate::types::ipv4_net")]
    pub address: Ipv4Net,
}

fn default_loopback_name() -> String {
    "Loopback2".into()
}

/// Disk image formats the appliance ships in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskFormat {
    #[default]
    Vmdk,
    Qcow2,
}

impl DiskFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskFormat::Vmdk => "vmdk",
            DiskFormat::Qcow2 => "qcow2",
        }
    }
}

/// The emulated NIC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NicModel {
    #[default]
    E1000,
    Virtio,
}

impl NicModel {
    pub fn as_str(self) -> &'static str {
        match self {
            NicModel::E1000 => "e1000",
            NicModel::Virtio => "virtio",
        }
    }
}

/// What runs the appliance on the spine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApplianceBackend {
    /// A VM: EOS `virtual-machine` (libvirt and QEMU on the switch).
    #[default]
    Vm,
    /// A container: EOS `container-manager` (Docker on the switch).
    Container,
}

impl ApplianceBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplianceBackend::Vm => "vm",
            ApplianceBackend::Container => "container",
        }
    }
}

/// The appliance as a container (`backend = "container"`): its image, the
/// archive on flash it is loaded from, and the Docker network on the bridge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerSpec {
    /// The image reference the archive holds (`vm-image/build --oci`).
    pub image: String,
    /// The image archive's file name on flash (a docker-archive tar).
    pub archive: String,
    /// The Docker network that puts the container on the spine's bridge.
    pub network: String,
    /// The Day-1 seed folder, mounted read-only into the container.
    pub seed_dir: PathBuf,
}

impl Default for ContainerSpec {
    fn default() -> Self {
        ContainerSpec {
            image: "ztps-appliance:latest".into(),
            archive: "ztps-appliance.tar".into(),
            network: "ztps".into(),
            seed_dir: PathBuf::from("/mnt/flash/ztps-seed"),
        }
    }
}

/// The ZTPServer appliance: a VM as libvirt runs it, or a container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSpec {
    #[serde(default = "default_vm_name")]
    pub name: String,
    /// `vm` (the default) or `container`.
    #[serde(default)]
    pub backend: ApplianceBackend,
    /// Used by `backend = "container"`.
    #[serde(default)]
    pub container: ContainerSpec,
    /// The VM's own address and prefix: the VM subnet.
    #[serde(with = "crate::types::ipv4_net")]
    pub address: Ipv4Net,
    /// The MAC the appliance's NIC is configured for.
    pub mac: MacAddr,
    /// The VM's disk; required for `backend = "vm"`, unused by a container.
    #[serde(default, skip_serializing_if = "is_empty_path")]
    pub disk: PathBuf,
    #[serde(default)]
    pub disk_format: DiskFormat,
    /// A read-only second disk with the appliance's Day-1 seed (cloud-init).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_disk: Option<PathBuf>,
    /// A read-only disk with the images and extensions the leaves install,
    /// served by ZTPServer; `ztps-data.img` beside `disk` when absent. Only
    /// attached when the leaves install something.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_disk: Option<PathBuf>,
    /// One OpenSSH public key line, put on the appliance by its Day-1 seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_authorized_key: Option<String>,
    /// A crypt(3) hash for the admin user's password, so that an operator
    /// without a key can log in on the serial console (SSH stays key-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_password_hash: Option<crate::types::PasswordHash>,
    #[serde(default = "default_memory")]
    pub memory_mib: u32,
    #[serde(default = "default_vcpus")]
    pub vcpus: u32,
    /// QEMU machine type; `pc` is QEMU's newest i440fx.
    #[serde(default = "default_machine")]
    pub machine: String,
    #[serde(default)]
    pub nic_model: NicModel,
    /// A VNC console on 127.0.0.1 (never on other addresses).
    #[serde(default)]
    pub vnc: bool,
    /// The QEMU binary; libvirt picks its default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulator: Option<PathBuf>,
}

fn is_empty_path(path: &std::path::Path) -> bool {
    path.as_os_str().is_empty()
}

fn default_vm_name() -> String {
    "ztps".into()
}

fn default_memory() -> u32 {
    2048
}

fn default_vcpus() -> u32 {
    1
}

fn default_machine() -> String {
    "pc".into()
}

/// Where the ZTPServer answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZtpServerConfig {
    pub port: u16,
    /// The bootstrap URL; defaults to `http://<vm address>:<port>/bootstrap`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How ZTPServer names a node: which of a leaf's `serial` or
    /// `system_mac` pins it.
    pub identifier: NodeIdentifier,
}

impl Default for ZtpServerConfig {
    fn default() -> Self {
        ZtpServerConfig {
            port: 8080,
            url: None,
            identifier: NodeIdentifier::default(),
        }
    }
}

/// ZTPServer's `identifier` setting: what names a node's folder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeIdentifier {
    #[default]
    SerialNumber,
    SystemMac,
}

impl NodeIdentifier {
    /// As ZTPServer's configuration writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeIdentifier::SerialNumber => "serialnumber",
            NodeIdentifier::SystemMac => "systemmac",
        }
    }
}

/// DHCP settings a fabric may set; the rest of `[dhcp]` is derived.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FabricDhcpConfig {
    pub vendor_class_prefixes: Vec<String>,
    pub lease_time_secs: u32,
    pub dns_servers: Vec<Ipv4Addr>,
    pub ntp_servers: Vec<Ipv4Addr>,
}

impl Default for FabricDhcpConfig {
    fn default() -> Self {
        let dhcp = DhcpConfig::with_bootstrap_url("");
        FabricDhcpConfig {
            vendor_class_prefixes: dhcp.vendor_class_prefixes,
            lease_time_secs: dhcp.lease_time_secs,
            dns_servers: Vec::new(),
            ntp_servers: Vec::new(),
        }
    }
}

/// One routed point-to-point link from this spine to a leaf: the same type
/// in the fabric, in the agent config derived from it (the agent's LLDP
/// expectations) and in the ZTPServer data rendered for the leaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafLink {
    /// The spine's port, EOS name in full (`Ethernet3`, `Ethernet1/1`).
    pub interface: String,
    /// The leaf's hostname: its LLDP system name, its ZTPServer files.
    pub leaf: String,
    /// The leaf's port towards the spine, EOS name in full (`Ethernet49`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_interface: Option<String>,
    /// A /31 or /30; the spine takes the first host address, the leaf the other.
    #[serde(with = "crate::types::ipv4_net")]
    pub subnet: Ipv4Net,
    /// The leaf's serial number: pins it in ZTPServer (identifier `serialnumber`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The leaf's system MAC: pins it in ZTPServer (identifier `systemmac`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_mac: Option<MacAddr>,
    /// The `[images.NAME]` this leaf runs, instead of `[software].image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The `[extensions.NAME]`s this leaf installs, instead of
    /// `[software].extensions` (`[]` for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Vec<String>>,
    /// The link's speed, set on both ends (`100g`, `25g`, `10g`...);
    /// absent, both ends negotiate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<String>,
}

impl LeafLink {
    /// The spine's address on the link, with the link's prefix.
    pub fn spine_address(&self) -> Ipv4Net {
        let net = self.subnet.trunc();
        let offset = if net.prefix_len() >= 31 { 0 } else { 1 };
        host_net(net, offset)
    }

    /// The address the leaf is leased.
    pub fn leaf_address(&self) -> Ipv4Addr {
        let net = self.subnet.trunc();
        let offset = if net.prefix_len() >= 31 { 1 } else { 2 };
        host_net(net, offset).addr()
    }
}

/// The rules of a list of leaf links, in the fabric and in the agent config
/// alike.
pub(crate) fn check_leaves(leaves: &[LeafLink], at: &KeyPath, problems: &mut Problems) {
    for (i, link) in leaves.iter().enumerate() {
        let path = at.index(i);
        checks::rule(
            problems,
            path.key("interface"),
            rules::ethernet_interface(&link.interface),
        );
        checks::rule(
            problems,
            path.key("leaf"),
            rules::hostname(&link.leaf).map_err(|m| format!("the leaf's hostname: {m}")),
        );
        if let Some(port) = &link.leaf_interface {
            checks::rule(
                problems,
                path.key("leaf_interface"),
                rules::ethernet_interface(port),
            );
        }
        if let Some(serial) = &link.serial {
            checks::rule(problems, path.key("serial"), rules::serial_number(serial));
        }
        if let Some(mac) = &link.system_mac
            && (mac.is_zero() || mac.is_multicast())
        {
            problems.push(
                path.key("system_mac"),
                format!(
                    "{mac} cannot be a switch's system MAC; copy it from the leaf's `show version`"
                ),
            );
        }
        let net = link.subnet;
        match net.prefix_len() {
            32 => problems.push(
                path.key("subnet"),
                format!("{net} is a single host; a leaf link needs a /30 or /31"),
            ),
            30 | 31 => {
                if net.addr() != net.network() {
                    problems.push(
                        path.key("subnet"),
                        format!(
                            "{net} has host bits set; write the link's network address, {}",
                            net.trunc()
                        ),
                    );
                }
            }
            n => problems.push(
                path.key("subnet"),
                format!("{net} is a /{n}; a leaf link needs a /30 or /31"),
            ),
        }
    }
    checks::no_duplicates(
        problems,
        leaves.iter().enumerate().map(|(i, l)| {
            (
                at.index(i).key("interface"),
                crate::types::interface_key(&l.interface),
                l.interface.clone(),
                format!("leaves[{i}]"),
            )
        }),
        "each spine port carries one leaf link",
    );
    if let Some((i, speed)) = leaves
        .iter()
        .enumerate()
        .find_map(|(i, l)| Some((i, l.speed.as_deref()?)))
        .filter(|(_, s)| !rules::is_link_speed(s))
    {
        problems.push(
            at.index(i).key("speed"),
            format!(
                "{speed:?} is not an EOS link speed; write one like 10g, 25g, 40g, 100g or 400g"
            ),
        );
    }
    // Several links may lead to one leaf; its pins must then agree, and
    // two leaves cannot share one.
    for (key, pins) in [
        (
            "serial",
            leaves.iter().map(|l| l.serial.clone()).collect::<Vec<_>>(),
        ),
        (
            "system_mac",
            leaves
                .iter()
                .map(|l| l.system_mac.map(|m| m.to_string()))
                .collect(),
        ),
    ] {
        let mut seen: BTreeMap<String, (usize, &str)> = BTreeMap::new();
        for (i, pin) in pins.iter().enumerate() {
            let Some(pin) = pin else { continue };
            let leaf = leaves[i].leaf.as_str();
            match seen.get(&pin.to_ascii_lowercase()) {
                Some((first, other)) if !other.eq_ignore_ascii_case(leaf) => problems.push_clash(
                    at.index(i).key(key),
                    at.index(*first).key(key),
                    format!(
                        "{pin} is already used by leaves[{first}] (leaf {other}); each leaf is a different switch"
                    ),
                ),
                Some(_) => {}
                None => {
                    seen.insert(pin.to_ascii_lowercase(), (i, leaf));
                }
            }
        }
    }
}

fn host_net(net: Ipv4Net, offset: u32) -> Ipv4Net {
    let addr = Ipv4Addr::from(u32::from(net.network()).saturating_add(offset));
    Ipv4Net::new(addr, net.prefix_len()).unwrap_or(net)
}

/// What only the spine hosting the ZTPServer has.
#[derive(Clone, Copy, Debug)]
pub struct Host<'a> {
    pub vm: &'a VmSpec,
    pub bridge: &'a BridgeConfig,
    pub loopback: &'a LoopbackConfig,
}

impl Spine {
    /// Whether this spine hosts the ZTPServer (it has a `vm`).
    pub fn is_host(&self) -> bool {
        self.vm.is_some()
    }

    /// The VM, bridge and loopback, when this spine hosts the ZTPServer.
    pub fn host(&self) -> Result<Host<'_>, Error> {
        match (&self.vm, &self.bridge, &self.loopback) {
            (Some(vm), Some(bridge), Some(loopback)) => Ok(Host {
                vm,
                bridge,
                loopback,
            }),
            _ => Err(Error::NotHost {
                name: self.name.clone(),
            }),
        }
    }

    /// The VM subnet behind the bridge (host spine only).
    pub fn vm_subnet(&self) -> Option<Ipv4Net> {
        self.vm.as_ref().map(|vm| vm.address.trunc())
    }

    /// The bootstrap URL leaves are given; empty on a spine that does not
    /// host the ZTPServer and names no URL.
    pub fn bootstrap_url(&self) -> String {
        match (&self.ztpserver.url, &self.vm) {
            (Some(url), _) => url.clone(),
            (None, Some(vm)) => format!(
                "http://{}:{}/bootstrap",
                vm.address.addr(),
                self.ztpserver.port
            ),
            (None, None) => String::new(),
        }
    }

    /// The ZTPServer's base URL (`http://172.16.130.10:8080`): the bootstrap
    /// URL without its path, as ZTPServer's own `server_url` setting wants it.
    pub fn ztpserver_url(&self) -> String {
        let bootstrap = self.bootstrap_url();
        match url::Url::parse(&bootstrap) {
            Ok(url) => url.origin().ascii_serialization(),
            Err(_) => bootstrap,
        }
    }

    /// Where ProcMgr finds the agent binary.
    pub fn agent_path(&self) -> &'static str {
        match self.agent.install {
            AgentInstall::Flash => AGENT_FLASH_PATH,
            AgentInstall::Swix => AGENT_SWIX_PATH,
        }
    }

    /// The agent config for this spine. Derived, never written by hand, so the
    /// switch and the rendered files cannot disagree.
    pub fn agent_config(&self) -> AgentConfig {
        let mut config = self.derived_agent_config();
        self.agent.apply(&mut config);
        config
    }

    fn derived_agent_config(&self) -> AgentConfig {
        AgentConfig {
            bridge: self.bridge.clone(),
            forwarding: ForwardingConfig { enable: true },
            eapi: Some(self.eapi.clone()),
            dhcp: DhcpConfig {
                vendor_class_prefixes: self.dhcp.vendor_class_prefixes.clone(),
                lease_time_secs: self.dhcp.lease_time_secs,
                auto_p2p: AutoP2pConfig {
                    enable: true,
                    include: self.leaves.iter().map(|l| l.interface.clone()).collect(),
                    exclude: Vec::new(),
                },
                dns_servers: self.dhcp.dns_servers.clone(),
                ntp_servers: self.dhcp.ntp_servers.clone(),
                ..DhcpConfig::with_bootstrap_url(self.bootstrap_url())
            },
            // The agent has no use for the leaves' software.
            leaves: self
                .leaves
                .iter()
                .map(|l| LeafLink {
                    image: None,
                    extensions: None,
                    ..l.clone()
                })
                .collect(),
            vm: self.vm.as_ref().map(derived_vm_config),
            events: EventsConfig::default(),
            status: StatusConfig::default(),
            timeline: crate::timeline::TimelineConfig {
                spine: Some(self.name.clone()),
                ..Default::default()
            },
        }
    }

    /// ZTPServer's `bootstrap.conf` for this spine's leaves: their
    /// bootstrap logs go to the agent's receiver on the bridge.
    pub fn bootstrap_conf(&self) -> String {
        let config = self.agent_config();
        let bridge = self.bridge.as_ref().map(|b| b.address);
        let to = config
            .timeline
            .syslog_address(bridge.as_ref())
            .unwrap_or_else(|| {
                std::net::SocketAddr::from((
                    bridge.map_or(Ipv4Addr::UNSPECIFIED, |b| b.addr()),
                    crate::timeline::BOOTSTRAP_SYSLOG_PORT,
                ))
            });
        crate::timeline::bootstrap_conf(to, &self.leaves)
    }

    /// The rules about what only the fabric says; everything the derived
    /// agent config carries is checked there and reported back here (see
    /// [`Spine::fabric_path`]).
    fn check(&self, at: &KeyPath, problems: &mut Problems) {
        checks::rule(
            problems,
            at.clone(),
            rules::hostname(&self.name)
                .map_err(|m| format!("the spine's name is its hostname: {m}")),
        );
        if let Some(serial) = &self.serial {
            checks::rule(problems, at.key("serial"), rules::serial_number(serial));
        }
        checks::rule(
            problems,
            at.key("eos_image"),
            rules::flash_file_name(&self.eos_image, ".swi"),
        );
        if self.bgp_asn == Some(0) {
            problems.push(
                at.key("bgp_asn"),
                "0 is reserved; an ASN is 1 to 4294967295",
            );
        }
        checks::rule(
            problems,
            at.key("agent").key("swix_file"),
            rules::flash_file_name(&self.agent.swix_file, ".swix"),
        );
        if let Some(mac) = &self.system_mac
            && (mac.is_zero() || mac.is_multicast())
        {
            problems.push(
                at.key("system_mac"),
                format!("{mac} cannot be a switch's system MAC; copy it from `show version`"),
            );
        }
        if !self.leaves.is_empty() {
            // ZTPServer matches each leaf by its port towards the spine.
            for (i, link) in self.leaves.iter().enumerate() {
                if link.leaf_interface.is_none() {
                    problems.push(
                        at.key("leaves").index(i).key("leaf_interface"),
                        format!(
                            "is missing (leaf {}); ZTPServer recognises each leaf by its port towards the spine, so give it as EOS names it, like Ethernet49",
                            link.leaf
                        ),
                    );
                }
            }
        }
        if let Ok(host) = self.host() {
            self.check_host(host, at, problems);
        }
    }

    /// The rules of the host spine's VM, bridge and loopback.
    fn check_host(&self, host: Host<'_>, at: &KeyPath, problems: &mut Problems) {
        let vm_at = at.key("vm");
        let vm = host.vm;
        let vm_net = vm.address.trunc();
        // The VM subnet: the VM, the bridge and the loopback share it.
        checks::host_address(problems, vm_at.key("address"), &vm.address, "the VM");
        if !is_loopback_name(&host.loopback.name) {
            problems.push(
                at.key("loopback").key("name"),
                format!(
                    "{:?} is not an EOS loopback; write one like Loopback2",
                    host.loopback.name
                ),
            );
        }
        if problems.complete() {
            check_vm_subnet(host, at, vm_net, problems);
        }
        if vm.memory_mib < MIN_VM_MEMORY_MIB {
            problems.push(
                vm_at.key("memory_mib"),
                format!(
                    "{} MiB is below the appliance's minimum; give at least {MIN_VM_MEMORY_MIB}",
                    vm.memory_mib
                ),
            );
        }
        if vm.vcpus == 0 {
            problems.push(vm_at.key("vcpus"), "a VM needs at least 1 vCPU");
        }
        checks::rule(
            problems,
            vm_at.key("machine"),
            rules::machine_type(&vm.machine),
        );
        match vm.backend {
            ApplianceBackend::Vm => check_vm_disks(vm, &vm_at, problems),
            ApplianceBackend::Container => check_container(vm, &vm_at, problems),
        }
        if let Some(key) = &vm.ssh_authorized_key {
            checks::rule(
                problems,
                vm_at.key("ssh_authorized_key"),
                rules::ssh_public_key(key),
            );
        }
        if let Some(hash) = &vm.console_password_hash {
            checks::rule(
                problems,
                vm_at.key("console_password_hash"),
                rules::crypt_password_hash(&hash.0),
            );
        }
        if self.ztpserver.port == 0 {
            problems.push(
                at.key("ztpserver").key("port"),
                "0 is not a port; the ZTPServer listens on 8080 by default",
            );
        }
    }
}

/// The agent's `[vm]`: the VM through EOS, or the container through the
/// Docker socket with everything it is created from.
fn derived_vm_config(vm: &VmSpec) -> VmConfig {
    let base = VmConfig {
        name: vm.name.clone(),
        mac: Some(vm.mac),
        ..VmConfig::default()
    };
    match vm.backend {
        ApplianceBackend::Vm => base,
        ApplianceBackend::Container => {
            let container = vm.container.clone();
            VmConfig {
                backend: VmBackend::Container,
                container: Some(ContainerConfig {
                    image: container.image,
                    archive: Some(PathBuf::from("/mnt/flash").join(&container.archive)),
                    network: container.network,
                    address: vm.address,
                    seed_dir: Some(container.seed_dir),
                }),
                ..base
            }
        }
    }
}

/// The VM's disks: `disk` is required, every path absolute and kept.
fn check_vm_disks(vm: &VmSpec, vm_at: &KeyPath, problems: &mut Problems) {
    if vm.disk.as_os_str().is_empty() {
        problems.push(
            vm_at.key("disk"),
            "this key is required but missing for backend = \"vm\"; give the appliance disk's path, like /mnt/usb1/ztps.vmdk (or set backend = \"container\")",
        );
        return;
    }
    for (key, path) in [
        ("disk", Some(&vm.disk)),
        ("seed_disk", vm.seed_disk.as_ref()),
        ("data_disk", vm.data_disk.as_ref()),
        ("emulator", vm.emulator.as_ref()),
    ] {
        if let Some(path) = path
            && !path.is_absolute()
        {
            problems.push(
                vm_at.key(key),
                format!(
                    "{} is relative; give an absolute path, like /mnt/usb1/ztps.vmdk",
                    path.display()
                ),
            );
        }
    }
    for (key, path) in [
        ("disk", Some(&vm.disk)),
        ("seed_disk", vm.seed_disk.as_ref()),
        ("data_disk", vm.data_disk.as_ref()),
    ] {
        if let Some(path) = path
            && path.is_absolute()
        {
            checks::rule(problems, vm_at.key(key), rules::persistent_path(path));
        }
    }
    if let Some(data) = &vm.data_disk {
        checks::rule(
            problems,
            vm_at.key("data_disk"),
            rules::data_disk_path(data, &vm.disk, vm.seed_disk.as_deref()),
        );
    }
    checks::rule(
        problems,
        vm_at.key("disk"),
        rules::disk_extension(&vm.disk, vm.disk_format.as_str()),
    );
}

/// The container form: its image, its archive on flash, its network and
/// its seed folder.
fn check_container(vm: &VmSpec, vm_at: &KeyPath, problems: &mut Problems) {
    let at = vm_at.key("container");
    let container = &vm.container;
    checks::rule(
        problems,
        at.key("image"),
        rules::image_reference(&container.image),
    );
    checks::rule(
        problems,
        at.key("archive"),
        rules::flash_file_name(&container.archive, ".tar"),
    );
    checks::rule(
        problems,
        at.key("network"),
        rules::hostname(&container.network).map_err(|m| format!("the Docker network's name: {m}")),
    );
    checks::rule(
        problems,
        at.key("seed_dir"),
        rules::persistent_path(&container.seed_dir),
    );
    // The folder goes into a `--mount` option of one config line.
    if container
        .seed_dir
        .to_string_lossy()
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '"')
    {
        problems.push(
            at.key("seed_dir"),
            format!(
                "{} holds a space, comma or quote, which EOS's container options cannot carry; choose a plain folder name, like /mnt/flash/ztps-seed",
                container.seed_dir.display()
            ),
        );
    }
    for (key, set) in [
        ("disk", !vm.disk.as_os_str().is_empty()),
        ("seed_disk", vm.seed_disk.is_some()),
        ("data_disk", vm.data_disk.is_some()),
        ("emulator", vm.emulator.is_some()),
    ] {
        if set {
            problems.push(
                vm_at.key(key),
                format!("is a VM setting, but backend = \"container\"; remove {key}, or set backend = \"vm\""),
            );
        }
    }
}

/// The bridge and the loopback sit in the VM subnet, each on its own address.
fn check_vm_subnet(host: Host<'_>, at: &KeyPath, vm_net: Ipv4Net, problems: &mut Problems) {
    let members = [
        (
            at.key("bridge").key("address"),
            host.bridge.address,
            "the bridge",
        ),
        (
            at.key("loopback").key("address"),
            host.loopback.address,
            "the loopback",
        ),
    ];
    for (path, net, what) in &members {
        if net.trunc() != vm_net {
            problems.push(
                    path.clone(),
                    format!("{net} is not in the VM subnet {vm_net}; {what} needs an address in it, with the same prefix"),
                );
        } else if net.addr() == host.vm.address.addr() {
            problems.push(
                path.clone(),
                format!(
                    "{} is the VM's own address; {what} needs another",
                    net.addr()
                ),
            );
        }
    }
    if host.bridge.address.addr() == host.loopback.address.addr() {
        problems.push(
            at.key("loopback").key("address"),
            format!(
                "{} is the bridge's address; the loopback needs another",
                host.loopback.address.addr()
            ),
        );
    }
    if !checks::is_host_of(&vm_net, host.loopback.address.addr())
        && host.loopback.address.trunc() == vm_net
    {
        problems.push(
            at.key("loopback").key("address"),
            format!(
                "{} is not a host address of {vm_net}",
                host.loopback.address.addr()
            ),
        );
    }
}

impl Spine {
    /// The fabric key a key of the derived agent config comes from, so a
    /// problem found in the derived config is reported where the operator
    /// wrote the value. `None` for what is not written in the fabric.
    fn fabric_path(&self, at: &KeyPath, derived: &KeyPath) -> Option<KeyPath> {
        let segments = derived.segments();
        let key = |i: usize| match segments.get(i) {
            Some(Segment::Key(k)) => Some(k.as_str()),
            _ => None,
        };
        let rest = |from: usize, mut base: KeyPath| {
            for segment in segments.iter().skip(from) {
                base = match segment {
                    Segment::Key(k) => base.key(k),
                    Segment::Index(i) => base.index(*i),
                };
            }
            base
        };
        if self.agent.sets(derived) {
            return Some(rest(0, at.key("agent")));
        }
        match (key(0)?, key(1)) {
            ("bridge" | "eapi" | "leaves", _) => Some(rest(0, at.clone())),
            ("dhcp", Some("bootstrap_url")) => Some(if self.ztpserver.url.is_some() {
                at.key("ztpserver").key("url")
            } else {
                at.key("vm").key("address")
            }),
            (
                "dhcp",
                Some("vendor_class_prefixes" | "lease_time_secs" | "dns_servers" | "ntp_servers"),
            ) => Some(rest(0, at.clone())),
            ("dhcp", Some("auto_p2p")) => match segments.get(3) {
                Some(Segment::Index(i)) if key(2) == Some("include") => {
                    Some(at.key("leaves").index(*i).key("interface"))
                }
                _ => None,
            },
            ("vm", Some("name" | "mac")) => Some(rest(0, at.clone())),
            ("vm", Some("container")) => match key(2) {
                Some("address") => Some(at.key("vm").key("address")),
                Some(_) => Some(rest(0, at.clone())),
                None => None,
            },
            _ => None,
        }
    }
}

fn is_loopback_name(name: &str) -> bool {
    name.strip_prefix("Loopback")
        .is_some_and(|n| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Fabric {
    /// The spine to render for: `name` when given, otherwise the only one,
    /// or the one hosting the ZTPServer.
    pub fn spine(&self, name: Option<&str>) -> Result<&Spine, Error> {
        let names = || self.spines.keys().cloned().collect::<Vec<_>>();
        match name {
            Some(name) => self.spines.get(name).ok_or_else(|| Error::UnknownSpine {
                name: name.to_string(),
                known: names(),
            }),
            None if self.spines.len() == 1 => self.spines.values().next().ok_or(Error::NoSpines),
            None if self.spines.is_empty() => Err(Error::NoSpines),
            None => self
                .host_spine()
                .map_err(|_| Error::SpineRequired { known: names() }),
        }
    }

    /// The spine hosting the ZTPServer: the one with a `vm` (the loader
    /// checks there is exactly one).
    pub fn host_spine(&self) -> Result<&Spine, Error> {
        let mut hosts = self.spines.values().filter(|s| s.is_host());
        match (hosts.next(), hosts.next()) {
            (Some(host), None) => Ok(host),
            _ => Err(Error::NoHost),
        }
    }

    pub(crate) fn check(&self, problems: &mut Problems) {
        let spines_at = KeyPath::root().key("spines");
        if self.spines.is_empty() {
            problems.push(
                spines_at.clone(),
                "no spine is described; add a [spines.NAME] table",
            );
        }
        // Addresses are fabric-wide: no two links, the VM subnet or the
        // leaves' loopbacks may overlap.
        let mut nets = Vec::new();
        for (name, spine) in &self.spines {
            let at = spines_at.key(name);
            spine.check(&at, problems);
            if let Some(vm_net) = spine.vm_subnet() {
                nets.push((at.key("vm").key("address"), vm_net));
            }
            for (i, link) in spine.leaves.iter().enumerate() {
                nets.push((at.key("leaves").index(i).key("subnet"), link.subnet.trunc()));
            }
        }
        let derived_for = self.check_hosts(&spines_at, problems);
        self.check_links(&spines_at, problems);
        self.check_leaves(problems, &mut nets);
        if problems.complete() {
            checks::no_overlaps(problems, &nets);
        }
        crate::catalogue::check(self, problems);
        // The agent config the host derives must be valid too; its rules
        // are the agent config's own, reported at the fabric key that set
        // the value, once per key.
        for (name, spine) in &self.spines {
            if derived_for != Some(name.as_str()) {
                // Links are the derived config's to check on the host only.
                check_leaves(&spine.leaves, &spines_at.key(name).key("leaves"), problems);
                continue;
            }
            let at = spines_at.key(name);
            let mut derived = Problems::new(problems.complete());
            spine.agent_config().check(&KeyPath::root(), &mut derived);
            for problem in derived.0 {
                // Without its VM a would-be host has no VM or bootstrap URL
                // to derive: its missing `vm` is reported already.
                let vm_derived = matches!(
                    problem.path.segments().first(),
                    Some(Segment::Key(k)) if k == "vm"
                ) || problem.path
                    == KeyPath::root().key("dhcp").key("bootstrap_url");
                if !spine.is_host() && vm_derived {
                    continue;
                }
                match spine.fabric_path(&at, &problem.path) {
                    Some(path) if problems.0.iter().any(|p| p.path == path) => {}
                    Some(path) => problems.push(path, problem.message),
                    None if problems.complete() => problems.push(
                        at.clone(),
                        format!(
                            "the derived agent config would be invalid: {}: {}",
                            problem.path, problem.message
                        ),
                    ),
                    None => {}
                }
            }
        }
    }
}

impl Fabric {
    /// Exactly one spine hosts the ZTPServer. Returns the spine whose
    /// agent config is derived and checked: the host, or the one meant to
    /// be.
    fn check_hosts<'a>(&'a self, spines_at: &KeyPath, problems: &mut Problems) -> Option<&'a str> {
        let hosts: Vec<&Spine> = self.spines.values().filter(|s| s.is_host()).collect();
        let half_hosts: Vec<&Spine> = self
            .spines
            .values()
            .filter(|s| !s.is_host() && (s.bridge.is_some() || s.loopback.is_some()))
            .collect();
        if hosts.is_empty() && !half_hosts.is_empty() {
            // A bridge and a loopback say which spine was meant to host it.
            for spine in &half_hosts {
                problems.push(
                    spines_at.key(&spine.name).key("vm"),
                    format!(
                        "is missing: spine {} has the VM's bridge or loopback, so it hosts the ZTPServer and needs a [spines.{}.vm] table",
                        spine.name, spine.name
                    ),
                );
            }
            return half_hosts.first().map(|s| s.name.as_str());
        }
        for spine in &half_hosts {
            for (key, given) in [
                ("bridge", spine.bridge.is_some()),
                ("loopback", spine.loopback.is_some()),
            ] {
                if given {
                    problems.push(
                        spines_at.key(&spine.name).key(key),
                        format!(
                            "only the spine hosting the ZTPServer has a {key} (for the VM subnet), and {} does not; remove this table",
                            spine.name
                        ),
                    );
                }
            }
        }
        match hosts.as_slice() {
            [] if !self.spines.is_empty() => problems.push(
                spines_at.clone(),
                "no spine hosts the ZTPServer; give the spine that runs it a [spines.NAME.vm] table (with its bridge and loopback)",
            ),
            [first, rest @ ..] => {
                for (key, given) in [
                    ("bridge", first.bridge.is_some()),
                    ("loopback", first.loopback.is_some()),
                ] {
                    if !given {
                        problems.push(
                            spines_at.key(&first.name).key("vm"),
                            format!(
                                "the spine hosting the ZTPServer needs a [spines.{}.{key}] table too",
                                first.name
                            ),
                        );
                    }
                }
                for other in rest {
                    problems.push_clash(
                        spines_at.key(&other.name).key("vm"),
                        spines_at.key(&first.name).key("vm"),
                        format!(
                            "spine {} hosts the ZTPServer already; exactly one spine has a VM (the others only take part in the fabric): remove this [vm] table and its bridge and loopback",
                            first.name
                        ),
                    );
                }
            }
            [] => {}
        }
        hosts.first().map(|s| s.name.as_str())
    }

    /// The rules that span spines: every leaf port carries one link, a
    /// link's leaf end is a leaf, its pins agree with the leaf's, and every
    /// leaf has an uplink to the host spine.
    fn check_links(&self, spines_at: &KeyPath, problems: &mut Problems) {
        let at = |spine: &str, i: usize| spines_at.key(spine).key("leaves").index(i);
        let mut leaf_ports: BTreeMap<(String, String), KeyPath> = BTreeMap::new();
        // Each leaf's first link, and its pins, by the leaf's name.
        let mut first_link: BTreeMap<String, KeyPath> = BTreeMap::new();
        let mut pins: BTreeMap<(String, &str), (String, KeyPath)> = BTreeMap::new();
        for (spine_name, spine) in &self.spines {
            for (i, link) in spine.leaves.iter().enumerate() {
                let link_at = at(spine_name, i);
                let leaf = link.leaf.to_ascii_lowercase();
                if let Some(other) = self
                    .spines
                    .keys()
                    .find(|s| s.eq_ignore_ascii_case(&link.leaf))
                {
                    problems.push(
                        link_at.key("leaf"),
                        format!(
                            "the link's two ends disagree: its leaf end names spine {other}; a link runs from a spine to a leaf, so name the leaf cabled to {} {}",
                            spine_name, link.interface
                        ),
                    );
                }
                if let Some(port) = &link.leaf_interface {
                    let key = (leaf.clone(), crate::types::interface_key(port));
                    match leaf_ports.get(&key) {
                        Some(first) => problems.push_clash(
                            link_at.key("leaf_interface"),
                            first.clone(),
                            format!(
                                "{} {port} already carries a link; each leaf port carries one link",
                                link.leaf
                            ),
                        ),
                        None => {
                            leaf_ports.insert(key, link_at.key("leaf_interface"));
                        }
                    }
                }
                first_link.entry(leaf.clone()).or_insert(link_at.clone());
                let given: [(&str, Option<String>); 2] = [
                    ("serial", link.serial.clone()),
                    ("system_mac", link.system_mac.map(|m| m.to_string())),
                ];
                for (key, value) in given {
                    let Some(value) = value else { continue };
                    let spec = self.leaf_spec(&link.leaf).and_then(|(name, spec)| {
                        let v = match key {
                            "serial" => spec.serial.clone(),
                            _ => spec.system_mac.map(|m| m.to_string()),
                        }?;
                        Some((v, KeyPath::root().key("leaves").key(name).key(key)))
                    });
                    let first = spec.or_else(|| pins.get(&(leaf.clone(), key)).cloned());
                    match first {
                        Some((first, first_at)) if !first.eq_ignore_ascii_case(&value) => {
                            problems.push_clash(
                                link_at.key(key),
                                first_at.clone(),
                                format!(
                                    "the link's two ends disagree: leaf {} is {first} at {first_at}, here {value}; give the leaf's {key} once, under [leaves.{}]",
                                    link.leaf, link.leaf
                                ),
                            )
                        }
                        Some(_) => {}
                        None => {
                            pins.insert((leaf.clone(), key), (value, link_at.key(key)));
                        }
                    }
                }
            }
        }
        let Ok(host) = self.host_spine() else { return };
        for (leaf, first) in &first_link {
            if self.spines.keys().any(|s| s.eq_ignore_ascii_case(leaf)) {
                continue;
            }
            let cabled = host
                .leaves
                .iter()
                .any(|l| l.leaf.eq_ignore_ascii_case(leaf));
            if !cabled {
                problems.push(
                    first.key("leaf"),
                    format!(
                        "leaf {leaf} has no uplink to {}, the spine hosting the ZTPServer; at Day-0 only that spine can bring its DHCP and bootstrap to the ZTPServer, so cable it to {} and add a [[spines.{}.leaves]] entry",
                        host.name, host.name, host.name
                    ),
                );
            }
        }
    }
}

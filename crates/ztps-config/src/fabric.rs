//! The fabric description: what an operator writes about a spine, its VM and
//! its leaf links. Everything the switch needs is rendered or derived from it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::agent::{
    self, AgentConfig, AutoP2pConfig, BridgeConfig, DhcpConfig, EapiConfig, EventsConfig,
    ForwardingConfig, StatusConfig, VmConfig,
};
use crate::checks;
use crate::diag::{KeyPath, Problems, Segment};
use crate::settings::{DhcpSettings, EventsSettings, StatusSettings, VmSettings};
use crate::types::{MacAddr, interface_key, kernel_interface_name};

/// The least memory the ZTPServer appliance boots and serves with.
pub const MIN_VM_MEMORY_MIB: u32 = 1024;
/// Where the agent binary lives when copied to flash.
pub const AGENT_FLASH_PATH: &str = "/mnt/flash/ztps-agent";
/// Where the agent binary lives when installed from its SWIX extension.
pub const AGENT_SWIX_PATH: &str = "/usr/bin/ztps-agent";

/// A whole fabric: one or more spines, keyed by name. A top-level
/// `[defaults]` table (consumed while loading) is laid under every spine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fabric {
    pub spines: BTreeMap<String, Spine>,
}

/// One spine that hosts the ZTPServer VM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spine {
    /// The key under `[spines]`; filled in by the loader.
    #[serde(skip)]
    pub name: String,
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
    pub loopback: LoopbackConfig,
    pub bridge: BridgeConfig,
    pub vm: VmSpec,
    #[serde(default)]
    pub ztpserver: ZtpServerConfig,
    #[serde(default)]
    pub dhcp: FabricDhcpConfig,
    #[serde(default)]
    pub leaves: Vec<LeafLink>,
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
}

impl Default for AgentInstallConfig {
    fn default() -> Self {
        AgentInstallConfig {
            install: AgentInstall::Flash,
            swix_file: "ztps-agent.swix".into(),
            dhcp: DhcpSettings::default(),
            status: StatusSettings::default(),
            events: EventsSettings::default(),
            vm: VmSettings::default(),
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

/// The ZTPServer VM as libvirt runs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSpec {
    #[serde(default = "default_vm_name")]
    pub name: String,
    /// The VM's own address and prefix: the VM subnet.
    #[serde(with = "crate::types::ipv4_net")]
    pub address: Ipv4Net,
    /// The MAC the appliance's NIC is configured for.
    pub mac: MacAddr,
    pub disk: PathBuf,
    #[serde(default)]
    pub disk_format: DiskFormat,
    /// A read-only second disk with the appliance's Day-1 seed (cloud-init).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_disk: Option<PathBuf>,
    /// One OpenSSH public key line, put on the appliance by its Day-1 seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_authorized_key: Option<String>,
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
}

impl Default for ZtpServerConfig {
    fn default() -> Self {
        ZtpServerConfig {
            port: 8080,
            url: None,
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

/// One routed point-to-point link from this spine to a leaf.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafLink {
    /// The spine's port, EOS name (`Ethernet3`, `Ethernet1/1`).
    pub interface: String,
    /// The leaf's hostname, for descriptions and events.
    pub leaf: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_interface: Option<String>,
    /// A /31 or /30; the spine takes the first host address, the leaf the other.
    #[serde(with = "crate::types::ipv4_net")]
    pub subnet: Ipv4Net,
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

fn host_net(net: Ipv4Net, offset: u32) -> Ipv4Net {
    let addr = Ipv4Addr::from(u32::from(net.network()).saturating_add(offset));
    Ipv4Net::new(addr, net.prefix_len()).unwrap_or(net)
}

impl Spine {
    /// The VM subnet behind the bridge.
    pub fn vm_subnet(&self) -> Ipv4Net {
        self.vm.address.trunc()
    }

    pub fn bootstrap_url(&self) -> String {
        match &self.ztpserver.url {
            Some(url) => url.clone(),
            None => format!(
                "http://{}:{}/bootstrap",
                self.vm.address.addr(),
                self.ztpserver.port
            ),
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
            bridge: Some(self.bridge.clone()),
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
            vm: Some(VmConfig {
                name: self.vm.name.clone(),
                mac: Some(self.vm.mac),
                ..VmConfig::default()
            }),
            events: EventsConfig::default(),
            status: StatusConfig::default(),
        }
    }

    fn check(&self, at: &KeyPath, problems: &mut Problems) {
        let vm_at = at.key("vm");
        let vm_net = self.vm_subnet();
        if self.name.is_empty() || self.name.chars().any(char::is_whitespace) {
            problems.push(
                at.clone(),
                format!(
                    "{:?} is not a usable spine name; use letters, digits, - or _",
                    self.name
                ),
            );
        }
        if self.eos_image.is_empty() || self.eos_image.contains(['/', ' ']) {
            problems.push(
                at.key("eos_image"),
                format!(
                    "{:?} is not a file name on flash; write the image's name, like EOS.swi",
                    self.eos_image
                ),
            );
        }
        if self.bgp_asn == Some(0) {
            problems.push(
                at.key("bgp_asn"),
                "0 is reserved; an ASN is 1 to 4294967295",
            );
        }
        if self.agent.swix_file.is_empty()
            || self.agent.swix_file.contains('/')
            || !self.agent.swix_file.ends_with(".swix")
        {
            problems.push(
                at.key("agent").key("swix_file"),
                format!(
                    "{:?} is not a SWIX file name; write one like ztps-agent.swix",
                    self.agent.swix_file
                ),
            );
        }
        agent::check_eapi(&self.eapi, &at.key("eapi"), problems);

        // The VM subnet: the VM, the bridge and the loopback share it.
        checks::host_address(problems, vm_at.key("address"), &self.vm.address, "the VM");
        checks::linux_ifname(problems, at.key("bridge").key("name"), &self.bridge.name);
        checks::host_address(
            problems,
            at.key("bridge").key("address"),
            &self.bridge.address,
            "the bridge",
        );
        if !is_loopback_name(&self.loopback.name) {
            problems.push(
                at.key("loopback").key("name"),
                format!(
                    "{:?} is not an EOS loopback; write one like Loopback2",
                    self.loopback.name
                ),
            );
        }
        let members = [
            (
                at.key("bridge").key("address"),
                self.bridge.address,
                "the bridge",
            ),
            (
                at.key("loopback").key("address"),
                self.loopback.address,
                "the loopback",
            ),
        ];
        for (path, net, what) in &members {
            if net.trunc() != vm_net {
                problems.push(
                    path.clone(),
                    format!("{net} is not in the VM subnet {vm_net}; {what} needs an address in it, with the same prefix"),
                );
            } else if net.addr() == self.vm.address.addr() {
                problems.push(
                    path.clone(),
                    format!(
                        "{} is the VM's own address; {what} needs another",
                        net.addr()
                    ),
                );
            }
        }
        if self.bridge.address.addr() == self.loopback.address.addr() {
            problems.push(
                at.key("loopback").key("address"),
                format!(
                    "{} is the bridge's address; the loopback needs another",
                    self.loopback.address.addr()
                ),
            );
        }
        if !checks::is_host_of(&vm_net, self.loopback.address.addr())
            && self.loopback.address.trunc() == vm_net
        {
            problems.push(
                at.key("loopback").key("address"),
                format!(
                    "{} is not a host address of {vm_net}",
                    self.loopback.address.addr()
                ),
            );
        }

        agent::check_nic_mac(problems, vm_at.key("mac"), &self.vm.mac);
        if let Some(mac) = &self.system_mac
            && (mac.is_zero() || mac.is_multicast())
        {
            problems.push(
                at.key("system_mac"),
                format!("{mac} cannot be a switch's system MAC; copy it from `show version`"),
            );
        }
        if self.vm.memory_mib < MIN_VM_MEMORY_MIB {
            problems.push(
                vm_at.key("memory_mib"),
                format!(
                    "{} MiB is below the appliance's minimum; give at least {MIN_VM_MEMORY_MIB}",
                    self.vm.memory_mib
                ),
            );
        }
        if self.vm.vcpus == 0 {
            problems.push(vm_at.key("vcpus"), "a VM needs at least 1 vCPU");
        }
        if self.vm.name.is_empty()
            || !self
                .vm
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            problems.push(
                vm_at.key("name"),
                format!(
                    "{:?} is not a VM name; use letters, digits, '-', '_' or '.'",
                    self.vm.name
                ),
            );
        }
        if self.vm.machine.is_empty() || self.vm.machine.contains(char::is_whitespace) {
            problems.push(
                vm_at.key("machine"),
                format!(
                    "{:?} is not a QEMU machine type; use one like pc or q35",
                    self.vm.machine
                ),
            );
        }
        for (key, path) in [
            ("disk", Some(&self.vm.disk)),
            ("seed_disk", self.vm.seed_disk.as_ref()),
            ("emulator", self.vm.emulator.as_ref()),
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

        if let Some(key) = &self.vm.ssh_authorized_key
            && !is_ssh_public_key(key)
        {
            problems.push(
                vm_at.key("ssh_authorized_key"),
                "not an OpenSSH public key line; paste one line of ~/.ssh/id_ed25519.pub, like \"ssh-ed25519 AAAA... you@host\"",
            );
        }
        if self.ztpserver.port == 0 {
            problems.push(
                at.key("ztpserver").key("port"),
                "0 is not a port; the ZTPServer listens on 8080 by default",
            );
        }
        let url_path = if self.ztpserver.url.is_some() {
            at.key("ztpserver").key("url")
        } else {
            at.key("vm").key("address")
        };
        checks::http_url(problems, url_path, &self.bootstrap_url());
        if self.dhcp.vendor_class_prefixes.is_empty() {
            problems.push(
                at.key("dhcp").key("vendor_class_prefixes"),
                "an empty list answers no client; list prefixes such as [\"Arista\"]",
            );
        }
        if self.dhcp.lease_time_secs < 60 {
            problems.push(
                at.key("dhcp").key("lease_time_secs"),
                format!(
                    "{} seconds is too short; use at least 60",
                    self.dhcp.lease_time_secs
                ),
            );
        }
        self.check_leaves(at, problems);
    }

    fn check_leaves(&self, at: &KeyPath, problems: &mut Problems) {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, link) in self.leaves.iter().enumerate() {
            let path = at.key("leaves").index(i);
            match kernel_interface_name(&link.interface) {
                Some(_) if link.interface.starts_with("Ethernet") => {}
                _ => problems.push(
                    path.key("interface"),
                    format!("{:?} is not an EOS Ethernet port; write it as EOS does, like Ethernet3 or Ethernet1/1", link.interface),
                ),
            }
            if let Some(first) = seen.insert(interface_key(&link.interface), i) {
                problems.push(
                    path.key("interface"),
                    format!("{} is already used by leaves[{first}]; each spine port carries one leaf link", link.interface),
                );
            }
            if link.leaf.is_empty() {
                problems.push(path.key("leaf"), "give the leaf's hostname");
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
    }
}

fn is_ssh_public_key(key: &str) -> bool {
    let mut parts = key.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let known = ["ssh-", "ecdsa-", "sk-"]
        .iter()
        .any(|p| kind.starts_with(p));
    known
        && !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        && !key.trim().contains(['\n', '\r'])
}

fn is_loopback_name(name: &str) -> bool {
    name.strip_prefix("Loopback")
        .is_some_and(|n| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Fabric {
    /// The spine to render for: `name` when given, otherwise the only one.
    pub fn spine(&self, name: Option<&str>) -> Result<&Spine, Error> {
        let names = || self.spines.keys().cloned().collect::<Vec<_>>();
        match name {
            Some(name) => self.spines.get(name).ok_or_else(|| Error::UnknownSpine {
                name: name.to_string(),
                known: names(),
            }),
            None if self.spines.len() == 1 => self.spines.values().next().ok_or(Error::NoSpines),
            None if self.spines.is_empty() => Err(Error::NoSpines),
            None => Err(Error::SpineRequired { known: names() }),
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
        // Addresses are fabric-wide: no two links, VM subnets or loopbacks may overlap.
        let mut nets = Vec::new();
        for (name, spine) in &self.spines {
            let at = spines_at.key(name);
            spine.check(&at, problems);
            nets.push((at.key("vm").key("address"), spine.vm_subnet()));
            for (i, link) in spine.leaves.iter().enumerate() {
                nets.push((at.key("leaves").index(i).key("subnet"), link.subnet.trunc()));
            }
        }
        checks::no_overlaps(problems, &nets);
        // Only a fabric without problems of its own is worth deriving from:
        // otherwise the same mistake would be reported twice.
        if !problems.0.is_empty() {
            return;
        }
        for (name, spine) in &self.spines {
            let mut derived = Problems::default();
            spine.agent_config().check(&KeyPath::root(), &mut derived);
            for problem in derived.0 {
                // A value the operator set under [spines.NAME.agent] is
                // reported where it was written.
                if spine.agent.sets(&problem.path) {
                    let mut at = spines_at.key(name).key("agent");
                    for segment in problem.path.segments() {
                        at = match segment {
                            Segment::Key(key) => at.key(key),
                            Segment::Index(i) => at.index(*i),
                        };
                    }
                    problems.push(at, problem.message);
                    continue;
                }
                problems.push(
                    spines_at.key(name),
                    format!(
                        "the derived agent config would be invalid: {}: {}",
                        problem.path, problem.message
                    ),
                );
            }
        }
    }
}

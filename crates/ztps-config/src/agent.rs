//! The agent config, `ztps-agent.toml`: what `ztps-agent run` reads on the
//! switch. Durations are integer seconds in keys ending `_secs`.
//!
//! These are plain data types; the DHCP, eAPI, VM and events crates define
//! their own runtime configs and the agent maps these onto them.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::checks;
use crate::diag::{KeyPath, Problems};
use crate::fabric::{LeafLink, check_leaves};
use crate::rules::{self, MAX_BOOTSTRAP_URL_BYTES, Schemes};
use crate::timeline::TimelineConfig;
use crate::types::{MacAddr, interface_key, kernel_interface_name};

/// Where EOS keeps the agent config: persistent flash.
pub const DEFAULT_AGENT_CONFIG_PATH: &str = "/mnt/flash/ztps-agent.toml";

/// The whole agent config. `[dhcp]` with `bootstrap_url` is the only part
/// that must be given. `[bridge]`, `[eapi]` and `[vm]` are features of their
/// own: a section's absence turns its feature off, so the DHCP server can run
/// alone (tests, benchmarks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeConfig>,
    #[serde(default)]
    pub forwarding: ForwardingConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eapi: Option<EapiConfig>,
    pub dhcp: DhcpConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmConfig>,
    #[serde(default)]
    pub events: EventsConfig,
    #[serde(default)]
    pub status: StatusConfig,
    /// The planned leaf links: the agent expects each leaf's hostname as the
    /// LLDP neighbour on its port. Derived from the fabric's
    /// `[[spines.NAME.leaves]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaves: Vec<LeafLink>,
    /// The per-leaf timeline (bootstrap logs, stuck deadlines).
    #[serde(default)]
    pub timeline: TimelineConfig,
}

/// The Linux bridge the VM's NIC is attached to, and the spine's address on it
/// (the VM's default gateway).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    #[serde(default = "default_bridge_name")]
    pub name: String,
    /// Address and prefix, e.g. `172.16.130.254/24`.
    #[serde(with = "crate::types::ipv4_net")]
    pub address: Ipv4Net,
}

fn default_bridge_name() -> String {
    "br0".into()
}

/// IPv4 forwarding between the leaf links and the VM subnet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardingConfig {
    /// Set `net.ipv4.ip_forward` and `net.ipv4.conf.all.forwarding` to 1.
    pub enable: bool,
}

impl Default for ForwardingConfig {
    fn default() -> Self {
        ForwardingConfig { enable: true }
    }
}

/// How the agent reaches eAPI on its own switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EapiTransport {
    /// `protocol unix-socket`: no credentials, no TCP port.
    #[default]
    UnixSocket,
    /// `protocol http localhost`: plain HTTP bound to the loopback.
    HttpLocalhost,
    /// HTTPS with a username and password (`credentials_file`).
    Https,
}

impl EapiTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            EapiTransport::UnixSocket => "unix-socket",
            EapiTransport::HttpLocalhost => "http-localhost",
            EapiTransport::Https => "https",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EapiConfig {
    pub transport: EapiTransport,
    /// Used by `unix-socket`.
    pub socket_path: PathBuf,
    /// Used by `http-localhost` (`http://127.0.0.1:PORT/command-api`).
    pub port: u16,
    /// Used by `https`, e.g. `https://127.0.0.1/command-api`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Used by `https`: a file holding `username:password` on one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// How often `show interfaces status connected` is polled.
    pub poll_interval_secs: u64,
    /// Time limit of one eAPI request.
    pub timeout_secs: u64,
}

impl Default for EapiConfig {
    fn default() -> Self {
        EapiConfig {
            transport: EapiTransport::UnixSocket,
            socket_path: "/var/run/command-api.sock".into(),
            port: 8080,
            url: None,
            credentials_file: None,
            poll_interval_secs: 5,
            timeout_secs: 10,
        }
    }
}

impl EapiConfig {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval_secs)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// The embedded DHCPv4 server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhcpConfig {
    /// Serve DHCP at all. `false` (with SIGHUP) stops answering once the
    /// fabric is built, while the bridge, forwarding, the eAPI watch and the
    /// VM keep running.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Answer only clients whose option 60 starts with one of these.
    #[serde(default = "default_vendor_classes")]
    pub vendor_class_prefixes: Vec<String>,
    /// Sent as option 67 and in the BOOTP `file` field.
    pub bootstrap_url: String,
    #[serde(default = "default_lease_time")]
    pub lease_time_secs: u32,
    #[serde(default)]
    pub auto_p2p: AutoP2pConfig,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<SubnetConfig>,
    #[serde(default)]
    pub dns_servers: Vec<Ipv4Addr>,
    #[serde(default)]
    pub ntp_servers: Vec<Ipv4Addr>,
    /// Leases survive reboots only on flash.
    #[serde(default = "default_lease_file")]
    pub lease_file: PathBuf,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Interfaces that face DHCP relays: a relayed request (giaddr set) is
    /// accepted only on these, from port 67 and from the giaddr itself.
    #[serde(default)]
    pub relay_interfaces: Vec<String>,
    /// Interfaces never served unless listed here: bridges and management
    /// ports (`ma1`).
    #[serde(default)]
    pub serve_interfaces: Vec<String>,
    /// Offers outstanding per interface on explicit subnets; the oldest
    /// makes way for a new one, so spoofed DISCOVERs cannot empty a pool.
    #[serde(default = "default_max_offers")]
    pub max_offers_per_interface: u32,
}

fn default_max_offers() -> u32 {
    64
}

fn default_vendor_classes() -> Vec<String> {
    vec!["Arista".into()]
}

fn default_true() -> bool {
    true
}

fn default_lease_time() -> u32 {
    86_400
}

fn default_lease_file() -> PathBuf {
    "/mnt/flash/ztps-leases.journal".into()
}

impl DhcpConfig {
    /// A DHCP config with every default and the given bootstrap URL.
    pub fn with_bootstrap_url(bootstrap_url: impl Into<String>) -> Self {
        DhcpConfig {
            enabled: true,
            vendor_class_prefixes: default_vendor_classes(),
            bootstrap_url: bootstrap_url.into(),
            lease_time_secs: default_lease_time(),
            auto_p2p: AutoP2pConfig::default(),
            subnets: Vec::new(),
            dns_servers: Vec::new(),
            ntp_servers: Vec::new(),
            lease_file: default_lease_file(),
            rate_limit: RateLimitConfig::default(),
            relay_interfaces: Vec::new(),
            serve_interfaces: Vec::new(),
            max_offers_per_interface: default_max_offers(),
        }
    }

    pub fn lease_time(&self) -> Duration {
        Duration::from_secs(self.lease_time_secs.into())
    }
}

/// Pools derived from routed point-to-point interfaces (a /31 or /30 on the
/// spine side): the leaf gets the other host address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoP2pConfig {
    pub enable: bool,
    /// Serve only these interfaces (EOS `Ethernet1/1` or kernel `et1_1`
    /// names); empty means every point-to-point interface.
    pub include: Vec<String>,
    /// Never serve these interfaces.
    pub exclude: Vec<String>,
}

impl Default for AutoP2pConfig {
    fn default() -> Self {
        AutoP2pConfig {
            enable: true,
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

/// An explicitly configured subnet, selected by the ingress interface or by
/// the relay's giaddr.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetConfig {
    /// e.g. `10.20.0.0/24`.
    #[serde(with = "crate::types::ipv4_net")]
    pub subnet: Ipv4Net,
    /// Tie the subnet to one interface instead of matching by address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Option 3; defaults to the spine's address on the ingress interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<Ipv4Addr>,
    #[serde(default)]
    pub ranges: Vec<RangeConfig>,
    #[serde(default)]
    pub reservations: Vec<ReservationConfig>,
}

/// An inclusive range of addresses to lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeConfig {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

/// A fixed address for one client, identified by exactly one of MAC,
/// client identifier (option 61, hex bytes `01:08:00:...`) or serial number
/// (as the switch reports it in its DHCP options).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationConfig {
    pub address: Ipv4Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// Caps that keep a misbehaving client from starving the switch's CPU.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Packets handled per second on each interface, counted before they
    /// are parsed; excess is dropped. 0: no limit.
    pub packets_per_second: u32,
    /// Packets handled per minute from one client (by MAC). 0: no limit.
    pub per_client_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            packets_per_second: 200,
            // Far above any DHCP client, even one that restarts ZTP in a
            // loop; only a runaway sender reaches it.
            per_client_per_minute: 3000,
        }
    }
}

/// Who starts and restarts the VM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VmBackend {
    /// EOS `virtual-machine NAME` through eAPI.
    #[default]
    Eos,
    /// libvirt directly (`virsh`-style), for hosts that are not EOS.
    Libvirt,
    /// A Docker container through the Engine API (EOS `container-manager`,
    /// or any Docker host).
    Container,
}

/// Where Docker listens unless the config says otherwise.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// The appliance container the `container` backend keeps running.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerConfig {
    /// The image reference, e.g. `ztps-appliance:latest`.
    pub image: String,
    /// A docker-archive tar to load the image from when Docker lacks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<PathBuf>,
    /// The Docker network on the bridge (created when missing).
    pub network: String,
    /// The container's address and prefix on the bridge: the VM subnet.
    #[serde(with = "crate::types::ipv4_net")]
    pub address: Ipv4Net,
    /// The Day-1 seed folder, bind-mounted read-only at `/etc/ztps/seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_dir: Option<PathBuf>,
}

/// Supervision of the ZTPServer VM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VmConfig {
    /// Supervise the VM at all.
    pub manage: bool,
    pub name: String,
    pub backend: VmBackend,
    /// Used by the `libvirt` backend.
    pub libvirt_uri: String,
    /// Used by the `container` backend: Docker's unix socket.
    pub docker_socket: PathBuf,
    /// Used by the `container` backend: what it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerConfig>,
    /// The VM NIC's MAC: how its tap is found on the bridge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// Polled until it answers; defaults to `dhcp.bootstrap_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_url: Option<String>,
    pub health_interval_secs: u64,
    /// How long a (re)started VM may take to answer before it counts as down.
    pub startup_grace_secs: u64,
    pub restart_backoff_initial_secs: u64,
    pub restart_backoff_max_secs: u64,
    /// Restarts allowed in any hour; then the agent stops trying and says so.
    pub max_restarts_per_hour: u32,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            manage: true,
            name: "ztps".into(),
            backend: VmBackend::Eos,
            libvirt_uri: "qemu:///system".into(),
            docker_socket: PathBuf::from(DEFAULT_DOCKER_SOCKET),
            container: None,
            mac: None,
            health_url: None,
            health_interval_secs: 10,
            startup_grace_secs: 300,
            restart_backoff_initial_secs: 10,
            restart_backoff_max_secs: 600,
            max_restarts_per_hour: 6,
        }
    }
}

impl VmConfig {
    pub fn health_interval(&self) -> Duration {
        Duration::from_secs(self.health_interval_secs)
    }

    pub fn startup_grace(&self) -> Duration {
        Duration::from_secs(self.startup_grace_secs)
    }

    pub fn restart_backoff_initial(&self) -> Duration {
        Duration::from_secs(self.restart_backoff_initial_secs)
    }

    pub fn restart_backoff_max(&self) -> Duration {
        Duration::from_secs(self.restart_backoff_max_secs)
    }
}

/// Where provisioning events go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Syslog with tag `ZTPS`, facility local0.
    pub syslog: bool,
    /// POST each event as JSON here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// A file holding the webhook URL (keeps tokens out of the config);
    /// it must be readable by its owner only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url_file: Option<PathBuf>,
    /// PEM certificates trusted for an https webhook besides the system's
    /// roots (a private CA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_ca_file: Option<PathBuf>,
    /// JSON-lines log; off when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_log: Option<PathBuf>,
    /// The log is rotated once (to `<path>.1`) when it reaches this size.
    pub json_log_max_bytes: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            syslog: true,
            webhook_url: None,
            webhook_url_file: None,
            webhook_ca_file: None,
            json_log: None,
            json_log_max_bytes: 1_048_576,
        }
    }
}

/// The status endpoint (`/status`, `/leases`, `/metrics`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusConfig {
    pub enable: bool,
    /// Must be a loopback address: the endpoint has no authentication.
    pub listen: SocketAddr,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            enable: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8087)),
        }
    }
}

impl AgentConfig {
    /// An agent config with every section and every default, for a bridge
    /// address and bootstrap URL.
    pub fn new(bridge_address: Ipv4Net, bootstrap_url: impl Into<String>) -> Self {
        AgentConfig {
            bridge: Some(BridgeConfig {
                name: default_bridge_name(),
                address: bridge_address,
            }),
            forwarding: ForwardingConfig::default(),
            eapi: Some(EapiConfig::default()),
            dhcp: DhcpConfig::with_bootstrap_url(bootstrap_url),
            vm: Some(VmConfig::default()),
            events: EventsConfig::default(),
            status: StatusConfig::default(),
            leaves: Vec::new(),
            timeline: TimelineConfig::default(),
        }
    }

    /// The health URL the VM supervisor polls; the bootstrap URL unless
    /// `[vm]` names another.
    pub fn vm_health_url(&self) -> &str {
        self.vm
            .as_ref()
            .and_then(|vm| vm.health_url.as_deref())
            .unwrap_or(&self.dhcp.bootstrap_url)
    }

    /// The TOML text of this config.
    pub fn to_toml(&self) -> Result<String, crate::Error> {
        toml::to_string(self).map_err(crate::Error::Serialize)
    }

    /// The expected LLDP neighbour (the leaf's hostname) by the kernel name
    /// of the spine's port.
    pub fn lldp_expected(&self) -> std::collections::BTreeMap<String, String> {
        self.leaves
            .iter()
            .filter_map(|l| Some((kernel_interface_name(&l.interface)?, l.leaf.clone())))
            .collect()
    }

    /// Every rule of the agent config: `check` reports exactly what `run`
    /// would refuse.
    pub(crate) fn check(&self, at: &KeyPath, problems: &mut Problems) {
        if let Some(bridge) = &self.bridge {
            let at = at.key("bridge");
            checks::rule(
                problems,
                at.key("name"),
                rules::linux_interface(&bridge.name),
            );
            checks::host_address(problems, at.key("address"), &bridge.address, "the bridge");
        }
        if let Some(eapi) = &self.eapi {
            check_eapi(eapi, &at.key("eapi"), problems);
        }
        // Before [dhcp]: a fabric reports the include list's problems at the
        // leaves it is derived from, and the leaves' own come first.
        check_leaves(&self.leaves, &at.key("leaves"), problems);
        // The leaf link type is shared with the fabric, where a leaf names
        // its software; the agent installs none.
        for (i, link) in self.leaves.iter().enumerate() {
            for (key, set) in [
                ("image", link.image.is_some()),
                ("extensions", link.extensions.is_some()),
            ] {
                if set {
                    problems.push(
                        at.key("leaves").index(i).key(key),
                        format!("the agent config takes no {key}; name it on the leaf's link in the fabric, which renders the ZTPServer definition from it"),
                    );
                }
            }
        }
        self.check_dhcp(at, problems);
        if let Some(vm) = &self.vm {
            Self::check_vm(vm, &at.key("vm"), problems);
            self.check_vm_needs(vm, at, problems);
        }
        self.check_events(&at.key("events"), problems);
        self.timeline.check(&at.key("timeline"), problems);
        if !self.status.listen.ip().is_loopback() {
            problems.push(
                at.key("status").key("listen"),
                format!(
                    "{} is not a loopback address; the status endpoint has no authentication, so listen on 127.0.0.1 or [::1]",
                    self.status.listen
                ),
            );
        }
    }

    fn check_dhcp(&self, root: &KeyPath, problems: &mut Problems) {
        let at = &root.key("dhcp");
        let dhcp = &self.dhcp;
        checks::url(
            problems,
            at.key("bootstrap_url"),
            &dhcp.bootstrap_url,
            Schemes::HttpOrHttps,
        );
        if dhcp.bootstrap_url.len() > MAX_BOOTSTRAP_URL_BYTES {
            problems.push(
                at.key("bootstrap_url"),
                format!(
                    "is {} bytes; DHCP option 67 carries at most {MAX_BOOTSTRAP_URL_BYTES}, so write a shorter URL",
                    dhcp.bootstrap_url.len()
                ),
            );
        }
        checks::rule(
            problems,
            at.key("vendor_class_prefixes"),
            rules::vendor_class_prefixes(&dhcp.vendor_class_prefixes),
        );
        if dhcp.lease_time_secs < 60 {
            problems.push(
                at.key("lease_time_secs"),
                format!(
                    "{} seconds is too short; use at least 60",
                    dhcp.lease_time_secs
                ),
            );
        }
        let p2p = at.key("auto_p2p");
        for (list, names) in [
            ("include", &dhcp.auto_p2p.include),
            ("exclude", &dhcp.auto_p2p.exclude),
        ] {
            duplicate_interfaces(problems, &p2p.key(list), names);
        }
        let included: std::collections::HashSet<String> = dhcp
            .auto_p2p
            .include
            .iter()
            .map(|n| interface_key(n))
            .collect();
        for (i, name) in dhcp.auto_p2p.exclude.iter().enumerate() {
            if included.contains(&interface_key(name)) {
                problems.push(
                    p2p.key("exclude").index(i),
                    format!("{name} is also in auto_p2p.include; an interface is either served or not, list it once"),
                );
            }
        }
        let mut nets = Vec::new();
        if let Some(bridge) = &self.bridge {
            nets.push((root.key("bridge").key("address"), bridge.address.trunc()));
        }
        for (i, subnet) in dhcp.subnets.iter().enumerate() {
            let path = at.key("subnets").index(i);
            nets.push((path.key("subnet"), subnet.subnet));
            check_subnet(subnet, &path, problems);
        }
        for (i, link) in self.leaves.iter().enumerate() {
            nets.push((
                root.key("leaves").index(i).key("subnet"),
                link.subnet.trunc(),
            ));
        }
        if problems.complete() {
            checks::no_overlaps(problems, &nets);
        }
        let mut seen = Vec::new();
        for (i, subnet) in dhcp.subnets.iter().enumerate() {
            if let Some(name) = &subnet.interface {
                if seen.contains(&interface_key(name)) {
                    problems.push(
                        at.key("subnets").index(i).key("interface"),
                        format!("{name} is already tied to another subnet; an interface serves one subnet"),
                    );
                }
                seen.push(interface_key(name));
            }
        }
    }

    fn check_vm(vm: &VmConfig, at: &KeyPath, problems: &mut Problems) {
        checks::rule(
            problems,
            at.key("name"),
            rules::hostname(&vm.name).map_err(|m| format!("the VM's name: {m}")),
        );
        if let Some(mac) = &vm.mac {
            check_nic_mac(problems, at.key("mac"), mac);
        }
        if let Some(url) = &vm.health_url {
            checks::url(problems, at.key("health_url"), url, Schemes::Http);
        }
        if vm.restart_backoff_initial_secs == 0 {
            problems.push(
                at.key("restart_backoff_initial_secs"),
                "0 would restart in a tight loop; use at least 1",
            );
        }
        if vm.restart_backoff_initial_secs > vm.restart_backoff_max_secs {
            problems.push(
                at.key("restart_backoff_max_secs"),
                format!(
                    "{} is below restart_backoff_initial_secs ({}); the maximum must be at least the initial backoff",
                    vm.restart_backoff_max_secs, vm.restart_backoff_initial_secs
                ),
            );
        }
        if vm.health_interval_secs == 0 {
            problems.push(
                at.key("health_interval_secs"),
                "0 would poll in a tight loop; use at least 1",
            );
        }
        if !vm.docker_socket.is_absolute() {
            problems.push(
                at.key("docker_socket"),
                format!(
                    "{} is relative; give the absolute path of Docker's socket, like {DEFAULT_DOCKER_SOCKET}",
                    vm.docker_socket.display()
                ),
            );
        }
        if let Some(container) = &vm.container {
            let at = at.key("container");
            checks::rule(
                problems,
                at.key("image"),
                rules::image_reference(&container.image),
            );
            checks::rule(
                problems,
                at.key("network"),
                rules::hostname(&container.network)
                    .map_err(|m| format!("the Docker network's name: {m}")),
            );
            checks::host_address(
                problems,
                at.key("address"),
                &container.address,
                "the container",
            );
            for (key, path) in [
                ("archive", container.archive.as_ref()),
                ("seed_dir", container.seed_dir.as_ref()),
            ] {
                if let Some(path) = path
                    && !path.is_absolute()
                {
                    problems.push(
                        at.key(key),
                        format!("{} is relative; give an absolute path", path.display()),
                    );
                }
            }
        }
    }

    /// What a supervised VM needs from the rest of the config.
    fn check_vm_needs(&self, vm: &VmConfig, root: &KeyPath, problems: &mut Problems) {
        if !vm.manage {
            return;
        }
        let at = root.key("vm");
        match &self.bridge {
            None => problems.push(
                at.key("manage"),
                "the VM is supervised through its tap on the bridge, but [bridge] is absent; add [bridge], or set manage = false",
            ),
            Some(bridge) if vm.mac.is_none() => problems.push(
                at.key("mac"),
                format!(
                    "is missing: the agent recognises the VM's tap on {} by the VM's MAC; add mac = \"52:54:00:..\" (the MAC in the VM's domain XML), or set manage = false",
                    bridge.name
                ),
            ),
            Some(_) => {}
        }
        if vm.backend == VmBackend::Container && vm.container.is_none() {
            problems.push(
                at.key("backend"),
                "backend \"container\" needs [vm.container] (image, network, address); add it, or use another backend",
            );
        }
        if vm.backend == VmBackend::Eos && self.eapi.is_none() {
            problems.push(
                at.key("backend"),
                "backend \"eos\" restarts the VM through eAPI, but [eapi] is absent; add [eapi], or use backend = \"libvirt\"",
            );
        }
        // The health check speaks plain HTTP; without a health_url of its
        // own it polls the bootstrap URL.
        if vm.health_url.is_none()
            && rules::url(&self.dhcp.bootstrap_url, Schemes::HttpOrHttps).is_ok()
            && let Ok(url) = url::Url::parse(&self.dhcp.bootstrap_url)
            && url.scheme() != "http"
        {
            problems.push(
                root.key("dhcp").key("bootstrap_url"),
                format!(
                    "uses {}, but the VM's health check (which polls this URL when vm.health_url is not set) speaks only http; set vm.health_url to an http:// URL of the ZTPServer",
                    url.scheme()
                ),
            );
        }
    }

    fn check_events(&self, at: &KeyPath, problems: &mut Problems) {
        let events = &self.events;
        if events.webhook_url.is_some() && events.webhook_url_file.is_some() {
            problems.push(
                at.key("webhook_url_file"),
                "both webhook_url and webhook_url_file are set; give one of them",
            );
        }
        if let Some(url) = &events.webhook_url {
            checks::url(problems, at.key("webhook_url"), url, Schemes::HttpOrHttps);
        }
        if events.json_log.is_some() && events.json_log_max_bytes < 4096 {
            problems.push(
                at.key("json_log_max_bytes"),
                format!(
                    "{} bytes would rotate on every event; use at least 4096",
                    events.json_log_max_bytes
                ),
            );
        }
    }
}

fn check_subnet(subnet: &SubnetConfig, at: &KeyPath, problems: &mut Problems) {
    let net = subnet.subnet;
    if net.addr() != net.network() {
        problems.push(
            at.key("subnet"),
            format!(
                "{net} has host bits set; write the network address, {}",
                net.trunc()
            ),
        );
    }
    if let Some(router) = subnet.router
        && !checks::is_host_of(&net, router)
    {
        problems.push(
            at.key("router"),
            format!("{router} is not a host address of {}", net.trunc()),
        );
    }
    for (i, range) in subnet.ranges.iter().enumerate() {
        let path = at.key("ranges").index(i);
        for (key, addr) in [("start", range.start), ("end", range.end)] {
            if !checks::is_host_of(&net, addr) {
                problems.push(
                    path.key(key),
                    format!(
                        "{addr} is outside {}; a range must lie within its subnet's host addresses",
                        net.trunc()
                    ),
                );
            }
        }
        if range.start > range.end {
            problems.push(
                path.key("end"),
                format!(
                    "{} comes before start {}; a range runs from start up to end",
                    range.end, range.start
                ),
            );
        }
    }
    for (i, reservation) in subnet.reservations.iter().enumerate() {
        let path = at.key("reservations").index(i);
        if !checks::is_host_of(&net, reservation.address) {
            problems.push(
                path.key("address"),
                format!(
                    "{} is outside {}; a reservation must lie within its subnet",
                    reservation.address,
                    net.trunc()
                ),
            );
        }
        let ids = [
            reservation.mac.is_some(),
            reservation.client_id.is_some(),
            reservation.serial.is_some(),
        ];
        if ids.iter().filter(|&&set| set).count() != 1 {
            problems.push(
                path.clone(),
                "give exactly one of mac, client_id or serial to say whom this address is for",
            );
        }
        if let Some(serial) = &reservation.serial {
            checks::rule(problems, path.key("serial"), rules::serial_number(serial));
        }
        if let Some(id) = &reservation.client_id
            && !is_hex_bytes(id)
        {
            problems.push(
                path.key("client_id"),
                format!("{id:?} is not a client identifier; write hex bytes separated by ':', like 01:08:00:27:85:0c:f8"),
            );
        }
    }
}

fn is_hex_bytes(text: &str) -> bool {
    !text.is_empty()
        && text
            .split(':')
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()))
}

pub(crate) fn check_nic_mac(problems: &mut Problems, path: KeyPath, mac: &MacAddr) {
    if mac.is_zero() {
        problems.push(path, format!("{mac} is all zeros; give the MAC the VM's NIC is configured with, like 08:00:27:85:0c:f8"));
    } else if mac.is_multicast() {
        problems.push(
            path,
            format!("{mac} is a multicast address (lowest bit of the first byte set); a NIC needs a unicast MAC, like 08:00:27:85:0c:f8"),
        );
    }
}

pub(crate) fn check_eapi(eapi: &EapiConfig, at: &KeyPath, problems: &mut Problems) {
    if let Some(url) = &eapi.url {
        checks::url(problems, at.key("url"), url, Schemes::Https);
    }
    if eapi.transport == EapiTransport::Https {
        match &eapi.url {
            Some(_) => {}
            None => problems.push(
                at.key("transport"),
                "transport \"https\" needs url (like https://127.0.0.1/command-api) and credentials_file",
            ),
        }
        if eapi.credentials_file.is_none() {
            problems.push(
                at.key("transport"),
                "transport \"https\" needs credentials_file (a file holding username:password)",
            );
        }
    }
    if eapi.transport == EapiTransport::HttpLocalhost && eapi.port == 0 {
        problems.push(
            at.key("port"),
            "port 0 is not a port; EOS's default for http localhost is 8080",
        );
    }
    if eapi.poll_interval_secs == 0 {
        problems.push(
            at.key("poll_interval_secs"),
            "0 would poll in a tight loop; use at least 1",
        );
    }
    if eapi.timeout_secs == 0 {
        problems.push(
            at.key("timeout_secs"),
            "0 would fail every request; use at least 1",
        );
    }
}

pub(crate) fn duplicate_interfaces(problems: &mut Problems, at: &KeyPath, names: &[String]) {
    let mut first_seen = std::collections::HashMap::new();
    for (i, name) in names.iter().enumerate() {
        if let Some(first) = first_seen.get(&interface_key(name)) {
            problems.push(
                at.index(i),
                format!(
                    "{name} is listed twice (first at index {first}); list each interface once"
                ),
            );
        } else {
            first_seen.insert(interface_key(name), i);
        }
    }
}

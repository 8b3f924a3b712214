//! EOS startup-config: the lines that make a spine host the ZTPServer VM and
//! run the agent.

use std::fmt::Write as _;

use ztps_config::{ApplianceBackend, DEFAULT_AGENT_CONFIG_PATH, EapiTransport, Spine, VmSpec};

/// Where the Day-1 seed folder is mounted inside the appliance container
/// (the appliance reads it there instead of a seed disk).
pub const CONTAINER_SEED_DIR: &str = "/etc/ztps/seed";

/// The domain XML's file name on flash, as `virtual-machine` refers to it.
pub const DOMAIN_XML_FILE: &str = "ztps.xml";

/// Which form of startup-config to render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartupForm {
    /// A whole config for a fresh spine (hostname, `end`).
    Full,
    /// Only the ZTP-related sections, to paste into an existing config.
    Snippet,
}

/// Renders the startup-config for `spine` in the given form.
pub fn startup_config(spine: &Spine, form: StartupForm) -> String {
    let mut out = String::with_capacity(256 + spine.leaves.len() * 96);
    match form {
        StartupForm::Full => {
            let _ = writeln!(
                out,
                "! startup-config for {}, rendered by ztps-agent from the fabric description",
                spine.name
            );
            if let Some(serial) = &spine.serial {
                let _ = writeln!(out, "! serial number {serial}");
            }
            out.push_str("!\n");
            let _ = writeln!(out, "hostname {}", spine.name);
            out.push_str("!\n");
        }
        StartupForm::Snippet => {
            let _ = writeln!(
                out,
                "! ztps-eos: only the lines ztps-eos adds to the config of {}.",
                spine.name
            );
            out.push_str(
                "! Apart from `no protocol https` (see below), nothing here removes\n\
                 ! a line: the interfaces named below get these addresses, and the\n\
                 ! rest of the config stays as it is.\n\
                 ! Apply them (a merge into the running config), check, then save:\n\
                 !   copy flash:startup-config.snippet running-config\n\
                 !   show running-config section ztps\n\
                 !   write memory\n!\n",
            );
        }
    }
    out.push_str("ip routing\n!\n");
    for link in &spine.leaves {
        let _ = writeln!(out, "interface {}", link.interface);
        match &link.leaf_interface {
            Some(peer) => {
                let _ = writeln!(out, "   description {} {peer}", link.leaf);
            }
            None => {
                let _ = writeln!(out, "   description {}", link.leaf);
            }
        }
        if let Some(speed) = &link.speed {
            let _ = writeln!(out, "   speed {speed}");
        }
        out.push_str("   no switchport\n");
        let _ = writeln!(out, "   ip address {}", link.spine_address());
        out.push_str("!\n");
    }
    if let Some(loopback) = &spine.loopback {
        let _ = writeln!(out, "interface {}", loopback.name);
        out.push_str("   description ZTPServer VM subnet\n");
        let _ = writeln!(out, "   ip address {}", loopback.address);
        out.push_str("!\n");
    }
    if !spine.is_host() {
        // A spine that only takes part in the fabric: no eAPI for an
        // agent, no agent, no VM.
        bgp(&mut out, spine);
        if form == StartupForm::Full {
            out.push_str("end\n");
        }
        return out;
    }

    out.push_str("management api http-commands\n");
    match spine.eapi.transport {
        // HTTPS eAPI is on by default and listens on every routed port, leaf
        // links included; the agent needs only the socket.
        EapiTransport::UnixSocket => {
            if form == StartupForm::Snippet {
                out.push_str(
                    "   ! turns off eAPI over HTTPS: drop the next line if anything else uses it\n",
                );
            }
            out.push_str("   protocol unix-socket\n   no protocol https\n");
        }
        EapiTransport::HttpLocalhost if spine.eapi.port == 8080 => {
            out.push_str("   protocol http localhost\n")
        }
        EapiTransport::HttpLocalhost => {
            let _ = writeln!(out, "   protocol http localhost port {}", spine.eapi.port);
        }
        EapiTransport::Https => out.push_str("   protocol https\n"),
    }
    out.push_str("   no shutdown\n!\n");

    out.push_str("daemon ztps\n");
    let _ = writeln!(
        out,
        "   exec {} run --config {DEFAULT_AGENT_CONFIG_PATH}",
        spine.agent_path()
    );
    out.push_str("   no shutdown\n!\n");

    if let Some(vm) = &spine.vm {
        match vm.backend {
            ApplianceBackend::Vm => {
                let _ = writeln!(out, "virtual-machine {}", vm.name);
                let _ = writeln!(out, "   config-file flash:/{DOMAIN_XML_FILE}");
                out.push_str("   enable\n!\n");
            }
            ApplianceBackend::Container => container_manager(vm, &mut out),
        }
    }

    bgp(&mut out, spine);
    if form == StartupForm::Full {
        out.push_str("end\n");
    }
    out
}

/// eBGP with every leaf, one neighbour per link, and the VM subnet
/// advertised by the host so every leaf reaches the ZTPServer.
fn bgp(out: &mut String, spine: &Spine) {
    let Some(asn) = spine.bgp_asn else { return };
    let _ = writeln!(out, "router bgp {asn}");
    if let Some(loopback) = &spine.loopback {
        let _ = writeln!(out, "   router-id {}", loopback.address.addr());
    }
    out.push_str("   maximum-paths 4 ecmp 4\n");
    for link in &spine.leaves {
        let Some(leaf_asn) = spine.leaf_asns.get(&link.leaf.to_ascii_lowercase()) else {
            continue;
        };
        let peer = link.leaf_address();
        let _ = writeln!(out, "   neighbor {peer} remote-as {leaf_asn}");
        let _ = writeln!(out, "   neighbor {peer} description {}", link.leaf);
        if !spine.is_host() {
            // The VM subnet comes to this spine through a leaf, with the
            // spines' shared ASN already in its path.
            let _ = writeln!(out, "   neighbor {peer} allowas-in 1");
        }
    }
    if let Some(subnet) = spine.vm_subnet() {
        let _ = writeln!(out, "   network {subnet}");
    }
    out.push_str("!\n");
}

/// The appliance as an EOS `container-manager` container: on the Docker
/// network that the agent creates on the bridge, at the VM's address and
/// MAC, with the seed folder mounted read-only, started at boot. Docker
/// itself cannot load an archive from this config, so the agent loads
/// the archive on flash when the image is missing (docs/configuration.md
/// says which of these lines are checked against Arista's documentation).
fn container_manager(vm: &VmSpec, out: &mut String) {
    let container = &vm.container;
    out.push_str("container-manager\n");
    let _ = writeln!(
        out,
        "   ! image {} is loaded by ztps-agent from flash:{} when Docker lacks it",
        container.image, container.archive
    );
    let _ = writeln!(out, "   container {}", vm.name);
    let _ = writeln!(out, "      image {}", container.image);
    let _ = writeln!(
        out,
        "      options --network={} --ip={} --mac-address={} --mount=type=bind,source={},target={CONTAINER_SEED_DIR},readonly",
        container.network,
        vm.address.addr(),
        vm.mac,
        container.seed_dir.display()
    );
    out.push_str("      on-boot\n!\n");
}

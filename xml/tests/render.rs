//! Properties of the rendered files that must hold for any fabric, checked
//! on the example, a fabric with every option on, and variations of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use ztps_config::{
    AgentInstall, DiskFormat, EapiTransport, NicModel, Spine, load_fabric, parse_agent_config,
};
use ztps_render::{
    Artifact, StartupForm, boot_config, boot_extensions, domain_xml, render, startup_config,
};

fn spines() -> Vec<Spine> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for file in ["../examples/fabric.toml", "tests/fabrics/full.toml"] {
        all.extend(
            load_fabric(&[root.join(file)])
                .unwrap()
                .spines
                .into_values()
                // The host's files; the other spines have golden files.
                .filter(Spine::is_host),
        );
    }
    all
}

/// The example spine with each option changed one at a time.
fn variations() -> Vec<Spine> {
    let base = spines().remove(0);
    let mut out = vec![base.clone()];
    let mut s = base.clone();
    s.vm.as_mut().unwrap().disk_format = DiskFormat::Qcow2;
    s.vm.as_mut().unwrap().nic_model = NicModel::Virtio;
    out.push(s);
    let mut s = base.clone();
    s.vm.as_mut().unwrap().vnc = true;
    s.vm.as_mut().unwrap().seed_disk = Some("/mnt/flash/seed.iso".into());
    out.push(s);
    let mut s = base.clone();
    s.vm.as_mut().unwrap().name = "a<b>&'c\"".into();
    s.vm.as_mut().unwrap().disk = "/mnt/usb1/<odd> & 'name'.vmdk".into();
    out.push(s);
    let mut s = base;
    s.leaves.clear();
    s.bgp_asn = None;
    out.push(s);
    out.extend(spines());
    out
}

#[test]
fn domain_xml_never_carries_live_state_or_reserved_names() {
    for spine in variations() {
        let xml = domain_xml(&spine).unwrap();
        for forbidden in [" id=", "<alias", "/dev/pts", "vnet", "0.0.0.0"] {
            assert!(!xml.contains(forbidden), "{forbidden:?} in:\n{xml}");
        }
        let driver = format!(
            "type=\"{}\"",
            spine.vm.as_ref().unwrap().disk_format.as_str()
        );
        assert!(
            xml.contains(&driver),
            "disk driver must match the format:\n{xml}"
        );
        assert!(xml.contains(&format!(
            "<mac address=\"{}\"/>",
            spine.vm.as_ref().unwrap().mac
        )));
        assert!(xml.contains(&format!(
            "<source bridge=\"{}\"/>",
            spine.bridge.as_ref().unwrap().name
        )));
        assert_eq!(xml.contains("<graphics"), spine.vm.as_ref().unwrap().vnc);
        if spine.vm.as_ref().unwrap().vnc {
            assert!(xml.contains("listen=\"127.0.0.1\""));
        }
        let read_only = usize::from(spine.vm.as_ref().unwrap().seed_disk.is_some())
            + usize::from(spine.data_disk_path().is_some());
        assert_eq!(xml.matches("<readonly/>").count(), read_only, "{xml}");
        if let Some(data) = spine.data_disk_path() {
            let name = data.file_name().unwrap().to_string_lossy().into_owned();
            assert!(xml.contains(&format!("{name}\"/>")), "{xml}");
            assert!(xml.contains("<target dev=\"hdc\" bus=\"ide\"/>"), "{xml}");
        }
    }
}

#[test]
fn special_characters_are_escaped() {
    let spine = variations().remove(3);
    let xml = domain_xml(&spine).unwrap();
    assert!(
        xml.contains("<name>a&lt;b&gt;&amp;&apos;c&quot;</name>"),
        "{xml}"
    );
    assert!(
        xml.contains("&lt;odd&gt; &amp; &apos;name&apos;.vmdk"),
        "{xml}"
    );
}

/// The real libvirt schema is the judge of the domain XML.
#[test]
fn domain_xml_passes_virt_xml_validate() {
    if !ztps_testkit::tools_available(module_path!(), &["virt-xml-validate"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (i, spine) in variations().iter().enumerate() {
        let path = dir.path().join(format!("domain-{i}.xml"));
        std::fs::write(&path, domain_xml(spine).unwrap()).unwrap();
        let out = std::process::Command::new("virt-xml-validate")
            .arg(&path)
            .arg("domain")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "virt-xml-validate rejected variation {i}:\n{}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&path).unwrap()
        );
    }
    // Memory in KiB with no `unit` attribute: older libvirt may ignore it.
    for spine in variations() {
        let xml = domain_xml(&spine).unwrap();
        let kib = u64::from(spine.vm.as_ref().unwrap().memory_mib) * 1024;
        assert!(xml.contains(&format!("<memory>{kib}</memory>")), "{xml}");
        assert!(
            xml.contains(&format!("<currentMemory>{kib}</currentMemory>")),
            "{xml}"
        );
        assert!(!xml.contains("unit="), "{xml}");
    }
    // And it would notice a broken document: the check is not vacuous.
    let broken = dir.path().join("broken.xml");
    std::fs::write(
        &broken,
        "<domain type=\"kvm\"><name>x</name><memory unit=\"MiB\">lots</memory><os><type>hvm</type></os></domain>\n",
    )
    .unwrap();
    let out = std::process::Command::new("virt-xml-validate")
        .arg(&broken)
        .arg("domain")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a domain with a non-numeric memory size must fail validation"
    );
}

#[test]
fn startup_config_sections() {
    for spine in variations() {
        let full = startup_config(&spine, StartupForm::Full);
        let snippet = startup_config(&spine, StartupForm::Snippet);
        assert!(full.starts_with("! startup-config") && full.ends_with("end\n"));
        assert!(full.contains(&format!("hostname {}\n", spine.name)));
        assert!(!snippet.contains("hostname") && !snippet.contains("\nend\n"));
        for text in [&full, &snippet] {
            let daemon = format!(
                "daemon ztps\n   exec {} run --config /mnt/flash/ztps-agent.toml\n   no shutdown\n",
                spine.agent_path()
            );
            assert!(text.contains(&daemon), "{text}");
            assert!(text.contains(&format!(
                "virtual-machine {}\n   config-file flash:/ztps.xml\n   enable\n",
                spine.vm.as_ref().unwrap().name
            )));
            assert!(text.contains(&format!(
                "interface {}\n   description ZTPServer VM subnet\n   ip address {}\n",
                spine.loopback.as_ref().unwrap().name,
                spine.loopback.as_ref().unwrap().address
            )));
            let protocol = match spine.eapi.transport {
                // HTTPS eAPI would otherwise listen on every routed leaf link.
                EapiTransport::UnixSocket => {
                    "protocol unix-socket\n   no protocol https".to_string()
                }
                EapiTransport::HttpLocalhost if spine.eapi.port == 8080 => {
                    "protocol http localhost".to_string()
                }
                EapiTransport::HttpLocalhost => {
                    format!("protocol http localhost port {}", spine.eapi.port)
                }
                EapiTransport::Https => "protocol https".to_string(),
            };
            assert!(
                text.contains("management api http-commands\n")
                    && text.contains(&format!("   {protocol}\n   no shutdown\n")),
                "{text}"
            );
            match spine.bgp_asn {
                Some(asn) => {
                    assert!(text.contains(&format!("router bgp {asn}\n")), "{text}");
                    assert!(
                        text.contains(&format!("   network {}\n", spine.vm_subnet().unwrap())),
                        "{text}"
                    );
                }
                None => assert!(!text.contains("router bgp")),
            }
            for link in &spine.leaves {
                let block = format!("interface {}\n", link.interface);
                let at = text.find(&block).unwrap();
                let section = &text[at..at + text[at..].find("!\n").unwrap()];
                assert!(section.contains("   no switchport\n"), "{section}");
                assert!(
                    section.contains(&format!("   ip address {}\n", link.spine_address())),
                    "{section}"
                );
            }
        }
    }
}

#[test]
fn boot_files() {
    for spine in spines() {
        assert_eq!(
            boot_config(&spine),
            format!("SWI=flash:{}\n", spine.eos_image)
        );
        let ext = boot_extensions(&spine);
        match spine.agent.install {
            AgentInstall::Swix => assert_eq!(ext, format!("{}\n", spine.agent.swix_file)),
            AgentInstall::Flash => assert_eq!(ext, ""),
        }
    }
}

#[test]
fn agent_config_loads_back_as_the_derived_config() {
    for spine in spines() {
        let text = render(Artifact::AgentConfig, &spine).unwrap();
        let loaded = parse_agent_config("ztps-agent.toml", &text).unwrap();
        assert_eq!(loaded, spine.agent_config());
    }
}

/// Both ends of every link and of every BGP session agree: each leaf peers
/// with every spine on every uplink with the spine's ASN, each spine with
/// the leaf's address and ASN, and the host advertises the VM subnet, so a
/// leaf reaches the ZTPServer through any spine.
#[test]
fn leaf_and_spine_configs_agree_on_every_link() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fabric = load_fabric(&[root.join("../examples/fabric-2spine.toml")]).unwrap();
    let spine_configs: std::collections::BTreeMap<String, String> = fabric
        .spines
        .values()
        .map(|s| (s.name.clone(), startup_config(s, StartupForm::Full)))
        .collect();
    let host = fabric.host_spine().unwrap();
    let vm_subnet = host.vm_subnet().unwrap();
    assert!(spine_configs[&host.name].contains(&format!("   network {vm_subnet}\n")));
    for plan in fabric.leaf_plans() {
        let leaf = ztps_render::leaf_config(&fabric, &plan);
        assert!(
            leaf.contains("service routing protocols model multi-agent\n"),
            "{leaf}"
        );
        assert!(
            leaf.contains(&format!("router bgp {}\n", plan.asn)),
            "{leaf}"
        );
        assert_eq!(plan.uplinks.len(), fabric.spines.len(), "{}", plan.hostname);
        for uplink in &plan.uplinks {
            let spine = fabric.spine(Some(&uplink.peer)).unwrap();
            let asn = spine.bgp_asn.unwrap();
            assert!(
                leaf.contains(&format!(
                    "interface {}\n   description uplink to {} {}\n   speed 100g\n   no switchport\n   ip address {}\n",
                    uplink.interface, uplink.peer, uplink.peer_interface, uplink.address
                )),
                "{leaf}"
            );
            assert!(
                leaf.contains(&format!("   neighbor {} remote-as {asn}\n", uplink.peer_ip)),
                "{leaf}"
            );
            let spine_config = &spine_configs[&uplink.peer];
            assert!(
                spine_config.contains(&format!(
                    "interface {}\n   description {} {}\n   speed 100g\n   no switchport\n   ip address {}\n",
                    uplink.peer_interface, plan.hostname, uplink.interface, uplink.peer_address
                )),
                "{spine_config}"
            );
            let leaf_ip = uplink.address.split('/').next().unwrap();
            assert!(
                spine_config.contains(&format!("   neighbor {leaf_ip} remote-as {}\n", plan.asn)),
                "{spine_config}"
            );
            if !spine.is_host() {
                // The VM subnet reaches this spine through a leaf, past the
                // spines' shared ASN.
                assert!(spine_config.contains(&format!("   neighbor {leaf_ip} allowas-in 1\n")));
            }
        }
    }
}

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use ztps_config::{Error, parse_fabric};

fn example() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fabric.toml"),
    )
    .unwrap()
}

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

/// The diagnostics of a load that must fail, one string each.
fn problems(list: &[(&str, &str)]) -> Vec<String> {
    match parse_fabric(&files(list)) {
        Ok(_) => panic!("expected the fabric to be rejected"),
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[test]
fn the_example_fabric_is_valid() {
    let fabric = parse_fabric(&files(&[("examples/fabric.toml", &example())])).unwrap();
    let spine = fabric.spine(None).unwrap();
    assert_eq!(spine.name, "spine1");
    assert_eq!(spine.leaves.len(), 4);
    assert_eq!(spine.bootstrap_url(), "http://172.16.130.10:8080/bootstrap");
    assert_eq!(
        spine.vm.as_ref().unwrap().memory_mib,
        2048,
        "taken from [defaults.vm]"
    );
    assert_eq!(spine.leaves[0].spine_address().to_string(), "10.1.1.0/31");
    assert_eq!(spine.leaves[0].leaf_address().to_string(), "10.1.1.1");
    assert_eq!(spine.leaves[2].spine_address().to_string(), "10.1.1.5/30");
    assert_eq!(spine.leaves[2].leaf_address().to_string(), "10.1.1.6");
}

#[test]
fn a_single_host_link_is_reported_at_its_line() {
    let text = example().replace("subnet = \"10.1.1.4/30\"", "subnet = \"10.1.1.4/32\"");
    let line = text
        .lines()
        .position(|l| l.contains("10.1.1.4/32"))
        .unwrap()
        + 1;
    let got = problems(&[("examples/fabric.toml", &text)]);
    assert_eq!(
        got,
        vec![format!(
            "examples/fabric.toml:{line}:10: spines.spine1.leaves[2].subnet: 10.1.1.4/32 is a single host; a leaf link needs a /30 or /31"
        )]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = example()
        .replace("vcpus = 1", "vcpus = 1\ncolour = \"red\"")
        .replace("\"08:00:27:85:0c:f8\"", "\"01:00:5e:00:00:01\"")
        .replace("interface = \"Ethernet4\"", "interface = \"Ethernet3\"")
        .replace("10.1.1.2/31", "10.1.1.0/31")
        .replace("port = 8080", "url = \"ftp://172.16.130.10/bootstrap\"")
        .replace("memory_mib = 2048", "memory_mib = 512");
    let got = problems(&[("f.toml", &text)]);
    let joined = got.join("\n");
    for needle in [
        "defaults.vm.colour: unknown key `colour`; valid keys here:",
        "spines.spine1.vm.mac: 01:00:5e:00:00:01 is a multicast address",
        "spines.spine1.leaves[3].interface: Ethernet3 is already used by leaves[2]",
        "spines.spine1.leaves[1].subnet: 10.1.1.0/31 overlaps 10.1.1.0/31",
        "spines.spine1.ztpserver.url: \"ftp://172.16.130.10/bootstrap\" uses scheme \"ftp\"",
        "defaults.vm.memory_mib: 512 MiB is below the appliance's minimum; give at least 1024",
    ] {
        assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
    }
    assert_eq!(got.len(), 6, "{joined}");
    assert!(got.iter().all(|d| d.starts_with("f.toml:")), "{joined}");
}

#[test]
fn a_later_file_overrides_and_is_blamed_for_its_values() {
    let over = "[spines.spine1.vm]\nmemory_mib = 256\n";
    let got = problems(&[("site.toml", &example()), ("spine1.toml", over)]);
    assert_eq!(
        got,
        vec![
            "spine1.toml:2:14: spines.spine1.vm.memory_mib: 256 MiB is below the appliance's minimum; give at least 1024"
        ]
    );
    let over = "[spines.spine1.vm]\nmemory_mib = 4096\n[[spines.spine1.leaves]]\ninterface = \"Ethernet9\"\nleaf = \"x\"\nleaf_interface = \"Ethernet49\"\nsubnet = \"10.9.9.0/31\"\n";
    let fabric = parse_fabric(&files(&[("site.toml", &example()), ("spine1.toml", over)])).unwrap();
    let spine = fabric.spine(Some("spine1")).unwrap();
    assert_eq!(spine.vm.as_ref().unwrap().memory_mib, 4096);
    assert_eq!(spine.leaves.len(), 1, "arrays are replaced, not appended");
    assert_eq!(
        spine.vm.as_ref().unwrap().disk.to_str(),
        Some("/mnt/usb1/ztps.vmdk"),
        "tables merge deeply"
    );
}

#[test]
fn type_errors_and_missing_keys_are_located() {
    let text = example()
        .replace("vcpus = 1", "vcpus = \"one\"")
        .replace("mac = \"08:00:27:85:0c:f8\"", "")
        .replace("transport = \"unix-socket\"", "transport = \"telnet\"");
    let got = problems(&[("f.toml", &text)]);
    let joined = got.join("\n");
    assert!(
        joined.contains("defaults.vm.vcpus: invalid type: string \"one\""),
        "{joined}"
    );
    assert!(joined.contains("spines.spine1.eapi.transport: \"telnet\" is not allowed here; write one of \"unix-socket\", \"http-localhost\", \"https\""), "{joined}");
    assert!(
        joined.contains("spines.spine1.vm.mac: this key is required but missing"),
        "{joined}"
    );
}

#[test]
fn syntax_errors_in_every_file_are_reported() {
    let got = problems(&[("a.toml", "x = = 1\n"), ("b.toml", "\n[y\n")]);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("a.toml:1:"), "{got:?}");
    assert!(got[1].starts_with("b.toml:2:"), "{got:?}");
}

#[test]
fn spine_selection_names_the_choices() {
    // A second spine that only takes part in the fabric: no VM, its own
    // link to each leaf.
    let mut second = String::from("[spines.spine2]\nbgp_asn = 65000\n");
    for i in 1..=4 {
        second.push_str(&format!(
            "[[spines.spine2.leaves]]\ninterface = \"Ethernet{i}\"\nleaf = \"leaf{i}\"\nleaf_interface = \"Ethernet50\"\nsubnet = \"10.2.2.{}/31\"\n",
            2 * (i - 1)
        ));
    }
    let fabric = parse_fabric(&files(&[("a.toml", &example()), ("b.toml", &second)])).unwrap();
    assert_eq!(
        fabric.spine(None).unwrap().name,
        "spine1",
        "without --spine: the host"
    );
    let err = fabric.spine(Some("spine9")).unwrap_err().to_string();
    assert!(
        err.contains("spine9") && err.contains("spine1, spine2"),
        "{err}"
    );
    let spine2 = fabric.spine(Some("spine2")).unwrap();
    assert!(!spine2.is_host() && spine2.vm.is_none());
    assert_eq!(fabric.leaf_plans()[0].uplinks.len(), 2);
}

#[test]
fn derived_agent_config_matches_the_fabric() {
    let fabric = parse_fabric(&files(&[("f.toml", &example())])).unwrap();
    let spine = fabric.spine(None).unwrap();
    let agent = spine.agent_config();
    assert_eq!(agent.dhcp.bootstrap_url, spine.bootstrap_url());
    assert_eq!(
        agent.bridge.as_ref().unwrap().address.to_string(),
        "172.16.130.254/24"
    );
    assert_eq!(
        agent.dhcp.auto_p2p.include,
        ["Ethernet1", "Ethernet2", "Ethernet3", "Ethernet4"]
    );
    assert_eq!(
        agent.vm.as_ref().unwrap().mac,
        Some(spine.vm.as_ref().unwrap().mac)
    );
    // What the renderer writes for the switch loads back as the same config.
    let text = agent.to_toml().unwrap();
    assert_eq!(
        ztps_config::parse_agent_config("ztps-agent.toml", &text).unwrap(),
        agent
    );
}

#[test]
fn a_vm_disk_must_persist_and_match_its_format() {
    // /tmp is rebuilt at every boot of EOS: the VM would lose its disk.
    let text = example().replace(
        "disk = \"/mnt/usb1/ztps.vmdk\"",
        "disk = \"/tmp/ztps.vmdk\"",
    );
    let got = problems(&[("f.toml", &text)]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("f.toml:")
            && got[0].contains("spines.spine1.vm.disk: /tmp/ztps.vmdk is not kept across a reboot")
            && got[0].contains("under /mnt/flash, /mnt/usb1, /mnt/drive"),
        "{got:?}"
    );
    // A .vmdk declared qcow2: the domain XML would give qemu the wrong driver.
    let text = example().replace("disk_format = \"vmdk\"", "disk_format = \"qcow2\"");
    let got = problems(&[("f.toml", &text)]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("spines.spine1.vm.disk: /mnt/usb1/ztps.vmdk is named as a vmdk disk but disk_format is \"qcow2\""),
        "{got:?}"
    );
    // Both right: no problem.
    let text = example()
        .replace(
            "disk = \"/mnt/usb1/ztps.vmdk\"",
            "disk = \"/mnt/drive/ztps.qcow2\"",
        )
        .replace("disk_format = \"vmdk\"", "disk_format = \"qcow2\"");
    assert!(parse_fabric(&files(&[("f.toml", &text)])).is_ok());
}

fn container_fabric(vm_extra: &str) -> String {
    example()
        .replace("disk = \"/mnt/usb1/ztps.vmdk\"\n", "")
        .replace(
            "nic_model = \"e1000\"             # or \"virtio\"\n",
            &format!("backend = \"container\"\n{vm_extra}"),
        )
}

#[test]
fn a_container_backend_needs_no_disk_and_takes_defaults() {
    let text = container_fabric("");
    let fabric = parse_fabric(&files(&[("f.toml", &text)])).unwrap();
    let spine = fabric.spine(None).unwrap();
    assert_eq!(
        spine.vm.as_ref().unwrap().backend,
        ztps_config::ApplianceBackend::Container
    );
    assert_eq!(
        spine.vm.as_ref().unwrap().container.image,
        "ztps-appliance:latest"
    );
    let vm = spine.agent_config().vm.unwrap();
    assert_eq!(vm.backend, ztps_config::VmBackend::Container);
    assert_eq!(
        vm.container.unwrap().archive.unwrap().to_str(),
        Some("/mnt/flash/ztps-appliance.tar")
    );
}

#[test]
fn bad_container_settings_are_located() {
    let text = container_fabric(
        "disk = \"/mnt/usb1/ztps.vmdk\"\n[spines.spine1.vm.container]\nimage = \"ZTPS Appliance\"\narchive = \"ztps.tgz\"\nseed_dir = \"/tmp/seed\"\n",
    );
    let got = problems(&[("f.toml", &text)]);
    let line = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let joined = got.join("\n");
    assert!(
        joined.contains(&format!(
            "f.toml:{}:9: spines.spine1.vm.container.image: \"ZTPS Appliance\" is not an image reference",
            line("ZTPS Appliance")
        )),
        "{joined}"
    );
    assert!(
        joined.contains(
            "spines.spine1.vm.container.archive: \"ztps.tgz\" is not a file name on flash"
        ),
        "{joined}"
    );
    assert!(
        joined
            .contains("spines.spine1.vm.container.seed_dir: /tmp/seed is not kept across a reboot"),
        "{joined}"
    );
    assert!(
        joined.contains(&format!(
            "f.toml:{}:8: spines.spine1.vm.disk: is a VM setting, but backend = \"container\"",
            line("disk = ")
        )),
        "{joined}"
    );
    assert_eq!(got.len(), 4, "{joined}");
}

#[test]
fn a_vm_backend_still_needs_its_disk() {
    let text = example().replace("disk = \"/mnt/usb1/ztps.vmdk\"\n", "");
    let got = problems(&[("f.toml", &text)]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains(
            "spines.spine1.vm.disk: this key is required but missing for backend = \"vm\""
        ),
        "{got:?}"
    );
}

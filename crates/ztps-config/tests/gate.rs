//! `check` is the one gate: each rule reports a located problem, every
//! problem of a file comes out in one run, and nothing that `check` accepts
//! carries a control character, credentials or a name EOS would not take.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use ztps_config::{Error, parse_agent_config, parse_fabric};

fn example() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fabric.toml"),
    )
    .unwrap()
}

fn fabric_problems(text: &str) -> Vec<String> {
    match parse_fabric(&[("f.toml".into(), text.into())]) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

fn agent_problems(text: &str) -> Vec<String> {
    match parse_agent_config("a.toml", text) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// The 1-based line of the first line holding `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn a_missing_section_and_a_bad_url_come_out_together() {
    // No [spines.spine1.vm] and no [defaults.vm] to fill it from.
    let example = example();
    let cut = |text: &str, from: &str, to: &str| {
        let start = text.find(from).unwrap();
        let end = text.find(to).unwrap();
        format!("{}{}", &text[..start], &text[end..])
    };
    let text = cut(&example, "[defaults.vm]", "# The first spine");
    let text = cut(&text, "# The ZTPServer appliance.", "# The bootstrap URL");
    let text =
        format!("{text}[spines.spine1.agent.events]\nwebhook_url = \"ftp://hooks.example/x\"\n");
    let got = fabric_problems(&text);
    let hook = line_of(&text, "ftp://");
    let spine = line_of(&text, "[spines.spine1]");
    assert_eq!(
        got,
        [
            format!(
                "f.toml:{spine}:1: spines.spine1.vm: is missing: spine spine1 has the VM's bridge or loopback, so it hosts the ZTPServer and needs a [spines.spine1.vm] table"
            ),
            format!(
                "f.toml:{hook}:15: spines.spine1.agent.events.webhook_url: \"ftp://hooks.example/x\" uses scheme \"ftp\"; it must be an http:// or https:// URL with a host, like http://172.16.130.10:8080/bootstrap"
            ),
        ],
        "{got:#?}"
    );
}

#[test]
fn missing_keys_do_not_stop_the_other_checks() {
    let text = example()
        .replace(
            "address = \"172.16.130.10/24\"    # the VM's own address: the VM subnet\n",
            "",
        )
        .replace("leaf = \"leaf2\"", "leaf = \"leaf two\"")
        .replace("eos_image = \"EOS.swi\"", "eos_image = \"EOS.bin\"");
    let got = fabric_problems(&text).join("\n");
    for needle in [
        "spines.spine1.vm.address: this key is required but missing",
        "spines.spine1.leaves[1].leaf: the leaf's hostname: \"leaf two\" is not a host name",
        "defaults.eos_image: \"EOS.bin\" is not a file name on flash",
    ] {
        assert!(got.contains(needle), "missing {needle:?} in:\n{got}");
    }
    // Nothing about the placeholder standing in for the address.
    assert_eq!(got.lines().count(), 3, "{got}");
}

#[test]
fn a_leaf_port_used_twice_is_refused_where_the_second_is_written() {
    // Several links may lead to one leaf, but not from one leaf port.
    let text = example().replace("leaf = \"leaf3\"", "leaf = \"LEAF1\"");
    let line = line_of(&text, "\"LEAF1\"") + 1;
    let first = line_of(&text, "leaf = \"leaf1\"") + 1;
    assert_eq!(
        fabric_problems(&text),
        [format!(
            "f.toml:{line}:18: spines.spine1.leaves[2].leaf_interface: LEAF1 Ethernet49 already carries a link; each leaf port carries one link (first at f.toml:{first}:18)"
        )]
    );
}

#[test]
fn vendor_class_prefixes_allow_the_empty_prefix_alone() {
    let base = "[dhcp]\nbootstrap_url = \"http://192.0.2.1/bootstrap\"\n";
    let config =
        parse_agent_config("a.toml", &format!("{base}vendor_class_prefixes = [\"\"]\n")).unwrap();
    assert_eq!(config.dhcp.vendor_class_prefixes, [""]);
    let got = agent_problems(&format!(
        "{base}vendor_class_prefixes = [\"Arista\", \"\"]\n"
    ));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(
            "a.toml:3:25: dhcp.vendor_class_prefixes: an empty prefix matches every client"
        ),
        "{got:?}"
    );
    // In the fabric too, reported where the fabric wrote it.
    let text = format!(
        "{}\n[spines.spine1.dhcp]\nvendor_class_prefixes = [\"\", \"Arista\"]\n",
        example()
    );
    let line = line_of(&text, "[\"\", \"Arista\"]");
    let got = fabric_problems(&text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(&format!(
            "f.toml:{line}:25: spines.spine1.dhcp.vendor_class_prefixes: an empty prefix"
        )),
        "{got:?}"
    );
}

#[test]
fn every_mac_field_takes_the_eos_dotted_form() {
    let text = example().replace("\"08:00:27:85:0c:f8\"", "\"0800.2785.0cf8\"");
    let text = text.replacen(
        "[spines.spine1]\n",
        "[spines.spine1]\nsystem_mac = \"444C.A800.1101\"\n",
        1,
    );
    let fabric = parse_fabric(&[("f.toml".into(), text)]).unwrap();
    let spine = fabric.spine(None).unwrap();
    assert_eq!(
        spine.vm.as_ref().unwrap().mac.to_string(),
        "08:00:27:85:0c:f8"
    );
    assert_eq!(spine.system_mac.unwrap().to_string(), "44:4c:a8:00:11:01");
    let agent = parse_agent_config(
        "a.toml",
        "[dhcp]\nbootstrap_url = \"http://192.0.2.1/b\"\n[[dhcp.subnets]]\nsubnet = \"10.0.0.0/24\"\nreservations = [{ address = \"10.0.0.5\", mac = \"0800.2785.0c01\" }]\n",
    )
    .unwrap();
    assert_eq!(
        agent.dhcp.subnets[0].reservations[0]
            .mac
            .unwrap()
            .to_string(),
        "08:00:27:85:0c:01"
    );
    let got = agent_problems(
        "[dhcp]\nbootstrap_url = \"http://192.0.2.1/b\"\n[vm]\nmanage = false\nmac = \"0800.2785\"\n",
    );
    assert!(
        got[0].starts_with("a.toml:5:7: vm.mac: \"0800.2785\" is not a MAC address"),
        "{got:?}"
    );
}

#[test]
fn control_characters_are_refused_in_values_and_keys() {
    let got = agent_problems(
        "[dhcp]\nbootstrap_url = \"http://192.0.2.1/b\"\nlease_file = \"/mnt/flash/l\\u001b[2J\"\n[\"ev\\til\"]\n",
    );
    assert_eq!(
        got,
        [
            "a.toml:3:14: dhcp.lease_file: contains the control character U+001B (escape); write the value on one line, without control characters",
            // Reported once: not again as an unknown key.
            "a.toml:4:2: \"ev\\til\": the key contains the control character U+0009 (tab); write the value on one line, without control characters",
        ]
    );
}

#[test]
fn credentials_are_refused_in_every_url_without_echoing_them() {
    let base = "[bridge]\naddress = \"172.16.130.254/24\"\n[dhcp]\nbootstrap_url = \"http://u:p4ss@192.0.2.1/b\"\n[eapi]\ntransport = \"https\"\nurl = \"https://admin:p4ss@127.0.0.1/command-api\"\ncredentials_file = \"/c\"\n[vm]\nmac = \"52:54:00:00:00:01\"\nhealth_url = \"http://admin@192.0.2.1/\"\n[events]\nwebhook_url = \"https://:p4ss@hooks.example/x\"\n";
    let got = agent_problems(base);
    let keys: Vec<&str> = got.iter().map(|g| g.split(": ").nth(1).unwrap()).collect();
    assert_eq!(
        keys,
        [
            "eapi.url",
            "dhcp.bootstrap_url",
            "vm.health_url",
            "events.webhook_url"
        ],
        "{got:#?}"
    );
    for g in &got {
        assert!(g.contains("credentials file") && !g.contains("p4ss"), "{g}");
    }
}

#[test]
fn deep_nesting_and_huge_text_are_refused_before_parsing() {
    let deep = format!("a = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let got = agent_problems(&deep);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("a.toml:1:69: arrays and tables nest more than 64 deep"),
        "{got:?}"
    );
    let deep_tables = format!("a = {}1{}\n", "{b = ".repeat(100_000), "}".repeat(100_000));
    assert!(parse_agent_config("a.toml", &deep_tables).is_err());
    // Brackets inside strings and comments do not count.
    let quoted = format!(
        "# {}\n[dhcp]\nbootstrap_url = \"http://192.0.2.1/b\"\nlease_file = \"/tmp/{}\"\n",
        "[".repeat(100),
        "{".repeat(100)
    );
    parse_agent_config("a.toml", &quoted).unwrap();
    let huge = "#".repeat(5 * 1024 * 1024);
    let err = parse_agent_config("a.toml", &huge).unwrap_err().to_string();
    assert!(err.contains("at most 4194304 bytes"), "{err}");
}

#[test]
fn unreasonable_files_are_refused_before_reading() {
    for (path, why) in [
        ("/dev/zero", "is a character device, not a regular file"),
        ("/", "is a directory, not a regular file"),
    ] {
        let err = ztps_config::load_agent_config(Path::new(path)).unwrap_err();
        assert!(matches!(err, Error::Unreasonable { .. }), "{err}");
        assert_eq!(err.to_string(), format!("{path}: {why}; give a TOML file"));
        let err = ztps_config::load_fabric(&[path]).unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; 4 * 1024 * 1024 + 1]).unwrap();
    let err = ztps_config::load_fabric(&[&big]).unwrap_err().to_string();
    assert!(
        err.contains(
            "is 4194305 bytes; a configuration file may have at most 4194304 bytes (4 MiB)"
        ),
        "{err}"
    );
    let latin1 = dir.path().join("latin1.toml");
    std::fs::write(&latin1, b"a = \"\xe9\"\n").unwrap();
    let err = ztps_config::load_fabric(&[&latin1])
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not UTF-8 text (byte 5"), "{err}");
}

#[test]
fn a_derived_problem_is_reported_at_the_fabric_key_that_causes_it() {
    // An https bootstrap URL: the VM health check (http only) would poll it.
    let text = example().replace("port = 8080", "url = \"https://ztp.example.net/bootstrap\"");
    let line = line_of(&text, "https://ztp.example.net");
    let got = fabric_problems(&text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(&format!(
            "f.toml:{line}:7: spines.spine1.ztpserver.url: uses https, but the VM's health check"
        )),
        "{got:?}"
    );
    // A bootstrap URL too long for option 67, from the VM address.
    let long = format!("url = \"http://172.16.130.10:8080/{}\"", "b".repeat(250));
    let got = fabric_problems(&example().replace("port = 8080", &long));
    assert!(
        got[0].contains("ztpserver.url: is 276 bytes; DHCP option 67 carries at most 255"),
        "{got:?}"
    );
}

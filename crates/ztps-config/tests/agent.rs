#![allow(clippy::unwrap_used, clippy::expect_used)]

use ztps_config::{EapiTransport, Error, VmBackend, parse_agent_config};

const MINIMAL: &str = "[bridge]\naddress = \"172.16.130.254/24\"\n[dhcp]\nbootstrap_url = \"http://172.16.130.10:8080/bootstrap\"\n";

fn problems(text: &str) -> Vec<String> {
    match parse_agent_config("a.toml", text) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

fn assert_has(got: &[String], needle: &str) {
    assert!(
        got.iter().any(|g| g.contains(needle)),
        "missing {needle:?} in:\n{}",
        got.join("\n")
    );
}

#[test]
fn minimal_config_takes_every_default() {
    let config = parse_agent_config(
        "a.toml",
        &format!("{MINIMAL}[eapi]\n[vm]\nmac = \"52:54:00:00:00:01\"\n"),
    )
    .unwrap();
    assert_eq!(config.bridge.as_ref().unwrap().name, "br0");
    assert!(config.forwarding.enable);
    let eapi = config.eapi.as_ref().unwrap();
    assert_eq!(eapi.transport, EapiTransport::UnixSocket);
    assert_eq!(eapi.socket_path.to_str(), Some("/var/run/command-api.sock"));
    assert_eq!(eapi.port, 8080);
    assert_eq!(eapi.poll_interval().as_secs(), 5);
    assert_eq!(config.dhcp.vendor_class_prefixes, ["Arista"]);
    assert!(config.dhcp.auto_p2p.enable);
    assert!(config.dhcp.lease_file.starts_with("/mnt/flash"));
    let vm = config.vm.as_ref().unwrap();
    assert_eq!(vm.backend, VmBackend::Eos);
    assert!(vm.manage);
    assert_eq!(
        config.vm_health_url(),
        "http://172.16.130.10:8080/bootstrap"
    );
    assert!(config.status.listen.ip().is_loopback());
}

#[test]
fn absent_sections_turn_their_features_off() {
    let text = "[dhcp]\nbootstrap_url = \"http://192.0.2.1/bootstrap\"\n";
    let config = parse_agent_config("a.toml", text).unwrap();
    assert_eq!(config.bridge, None);
    assert_eq!(config.eapi, None);
    assert_eq!(config.vm, None);
    assert!(config.forwarding.enable, "[forwarding] keeps its default");
    assert_eq!(config.vm_health_url(), "http://192.0.2.1/bootstrap");
    // Written back, the absent sections stay absent.
    let written = config.to_toml().unwrap();
    assert!(!written.contains("[bridge]"), "{written}");
    assert!(!written.contains("[eapi]"), "{written}");
    assert!(!written.contains("[vm]"), "{written}");
    assert_eq!(parse_agent_config("b.toml", &written).unwrap(), config);
}

#[test]
fn a_present_section_is_still_checked() {
    let got = problems(
        "[dhcp]\nbootstrap_url = \"http://192.0.2.1/\"\n[eapi]\npoll_interval_secs = 0\n[vm]\nhealth_interval_secs = 0\n",
    );
    assert_has(
        &got,
        "eapi.poll_interval_secs: 0 would poll in a tight loop",
    );
    assert_has(
        &got,
        "vm.health_interval_secs: 0 would poll in a tight loop",
    );
}

#[test]
fn required_keys_are_named() {
    let got = problems("[bridge]\naddress = \"172.16.130.254/24\"\n");
    assert_eq!(got, ["a.toml:1:1: dhcp: this key is required but missing"]);
    let got = problems("[bridge]\n[dhcp]\nbootstrap_url = \"http://x/\"\n");
    assert_eq!(
        got,
        ["a.toml:1:1: bridge.address: this key is required but missing"]
    );
}

#[test]
fn subnet_problems_are_all_found() {
    let text = format!(
        "{MINIMAL}
[[dhcp.subnets]]
subnet = \"10.20.0.0/24\"
router = \"10.21.0.1\"
ranges = [{{ start = \"10.20.0.10\", end = \"10.20.1.20\" }}, {{ start = \"10.20.0.50\", end = \"10.20.0.40\" }}]
reservations = [{{ address = \"10.20.0.5\", mac = \"08:00:27:00:00:01\", serial = \"JPE1\" }}, {{ address = \"10.20.0.6\", client_id = \"zz\" }}]

[[dhcp.subnets]]
subnet = \"10.20.0.128/25\"

[[dhcp.subnets]]
subnet = \"172.16.130.0/25\"
"
    );
    let got = problems(&text);
    assert_has(
        &got,
        "dhcp.subnets[0].router: 10.21.0.1 is not a host address of 10.20.0.0/24",
    );
    assert_has(
        &got,
        "dhcp.subnets[0].ranges[0].end: 10.20.1.20 is outside 10.20.0.0/24",
    );
    assert_has(
        &got,
        "dhcp.subnets[0].ranges[1].end: 10.20.0.40 comes before start 10.20.0.50",
    );
    assert_has(
        &got,
        "dhcp.subnets[0].reservations[0]: give exactly one of mac, client_id or serial",
    );
    assert_has(
        &got,
        "dhcp.subnets[0].reservations[1].client_id: \"zz\" is not a client identifier",
    );
    assert_has(
        &got,
        "dhcp.subnets[1].subnet: 10.20.0.128/25 overlaps 10.20.0.0/24",
    );
    assert_has(
        &got,
        "dhcp.subnets[2].subnet: 172.16.130.0/25 overlaps 172.16.130.0/24 (bridge.address)",
    );
    assert_eq!(got.len(), 7, "{}", got.join("\n"));
}

#[test]
fn section_problems_are_all_found() {
    let text = "[bridge]
name = \"a/very/long/bridge/name\"
address = \"172.16.130.255/24\"
[eapi]
transport = \"https\"
[dhcp]
bootstrap_url = \"not a url\"
vendor_class_prefixes = []
[dhcp.auto_p2p]
include = [\"Ethernet3\", \"Ethernet1/1\"]
exclude = [\"et3\"]
[vm]
restart_backoff_initial_secs = 100
restart_backoff_max_secs = 10
[events]
webhook_url = \"http://hooks.example/x\"
webhook_url_file = \"/mnt/flash/hook\"
[status]
listen = \"0.0.0.0:8087\"
";
    let got = problems(text);
    for needle in [
        "bridge.name: \"a/very/long/bridge/name\" is not a Linux interface name",
        "bridge.address: 172.16.130.255 is the broadcast address of 172.16.130.0/24",
        "eapi.transport: transport \"https\" needs url",
        "eapi.transport: transport \"https\" needs credentials_file",
        "dhcp.bootstrap_url: \"not a url\" is not a URL",
        "dhcp.vendor_class_prefixes: an empty list answers no client",
        "dhcp.auto_p2p.exclude[0]: et3 is also in auto_p2p.include",
        "vm.restart_backoff_max_secs: 10 is below restart_backoff_initial_secs (100)",
        "events.webhook_url_file: both webhook_url and webhook_url_file are set",
        "status.listen: 0.0.0.0:8087 is not a loopback address",
        "a.toml:12:1: vm.mac: is missing: the agent recognises the VM's tap",
    ] {
        assert_has(&got, needle);
    }
    assert_eq!(got.len(), 11, "{}", got.join("\n"));
}

#[test]
fn unknown_sections_and_bad_values_are_located() {
    let text = format!("{MINIMAL}[dhcpd]\nx = 1\n[vm]\nbackend = \"xen\"\nmac = \"zz\"\n");
    let got = problems(&text);
    assert_has(
        &got,
        "a.toml:5:2: dhcpd: unknown key `dhcpd`; valid keys here: bridge, forwarding, eapi, dhcp, vm, events, status",
    );
    assert_has(
        &got,
        "a.toml:8:11: vm.backend: \"xen\" is not allowed here; write one of \"eos\", \"libvirt\", \"container\"",
    );
    assert_has(&got, "a.toml:9:7: vm.mac: \"zz\" is not a MAC address");
}

#[test]
fn bad_list_elements_and_addresses_are_explained() {
    let text = MINIMAL
        .replace("172.16.130.254/24", "172.16.130.254")
        .replace(
            "[dhcp]\n",
            "[dhcp]\ndns_servers = [\"1.2.3\", \"10.0.0.1\"]\nlease_time_secs = 30\n",
        );
    let got = problems(&text);
    assert_eq!(
        got,
        [
            "a.toml:2:11: bridge.address: \"172.16.130.254\" is not an IPv4 address with prefix; write the prefix length too, like 10.1.1.0/31 or 172.16.130.254/24",
            "a.toml:4:16: dhcp.dns_servers[0]: not an IPv4 address; write one like 10.1.1.1",
            "a.toml:5:19: dhcp.lease_time_secs: 30 seconds is too short; use at least 60",
        ],
        "a required value lost to a type error still lets the other values be checked"
    );
}

#[test]
fn hostile_input_gives_errors_not_panics() {
    for text in [
        "",
        "\u{0}",
        "[[bridge]]\n",
        "bridge = 1\ndhcp = []\n",
        "[dhcp.subnets]\n",
        "a.b.c.d.e = 1\n",
        &"[x]\n".repeat(500),
    ] {
        assert!(parse_agent_config("a.toml", text).is_err(), "{text:?}");
    }
    let many_unknown: String = (0..1000).map(|i| format!("k{i} = 1\n")).collect();
    let err = parse_agent_config("a.toml", &many_unknown).unwrap_err();
    assert!(err.diagnostics().unwrap().len() <= 200);
}

//! `[spines.NAME.agent.*]`: agent settings a fabric cannot derive, laid over
//! the derived agent config, with mistakes reported where they were written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use ztps_config::{Error, VmBackend, parse_fabric};

fn example() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fabric.toml"),
    )
    .unwrap()
}

fn load(extra: &str) -> Result<ztps_config::Fabric, Error> {
    parse_fabric(&[
        ("fabric.toml".into(), example()),
        ("agent.toml".into(), extra.into()),
    ])
}

fn problems(extra: &str) -> Vec<String> {
    match load(extra) {
        Ok(_) => panic!("expected {extra:?} to be rejected"),
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

const SETTINGS: &str = r#"[spines.spine1.agent.dhcp]
lease_file = "/mnt/flash/leases.json"

[spines.spine1.agent.status]
listen = "127.0.0.1:9000"

[spines.spine1.agent.events]
syslog = false
webhook_url_file = "/mnt/flash/webhook"
json_log = "/mnt/flash/events.jsonl"

[spines.spine1.agent.vm]
backend = "libvirt"
libvirt_uri = "qemu+unix:///system"
startup_grace_secs = 120
restart_backoff_initial_secs = 5
restart_backoff_max_secs = 60
max_restarts_per_hour = 3
health_interval_secs = 2
"#;

#[test]
fn set_keys_replace_the_derived_values_and_the_rest_stays_derived() {
    let fabric = load(SETTINGS).unwrap();
    let spine = fabric.spine(None).unwrap();
    let config = spine.agent_config();
    assert_eq!(config.dhcp.lease_file, Path::new("/mnt/flash/leases.json"));
    assert_eq!(config.status.listen.to_string(), "127.0.0.1:9000");
    assert!(!config.events.syslog);
    assert_eq!(
        config.events.webhook_url_file.as_deref(),
        Some(Path::new("/mnt/flash/webhook"))
    );
    assert_eq!(
        config.events.json_log.as_deref(),
        Some(Path::new("/mnt/flash/events.jsonl"))
    );
    assert_eq!(config.vm.as_ref().unwrap().backend, VmBackend::Libvirt);
    assert_eq!(
        config.vm.as_ref().unwrap().libvirt_uri,
        "qemu+unix:///system"
    );
    assert_eq!(config.vm.as_ref().unwrap().startup_grace_secs, 120);
    assert_eq!(config.vm.as_ref().unwrap().restart_backoff_initial_secs, 5);
    assert_eq!(config.vm.as_ref().unwrap().restart_backoff_max_secs, 60);
    assert_eq!(config.vm.as_ref().unwrap().max_restarts_per_hour, 3);
    assert_eq!(config.vm.as_ref().unwrap().health_interval_secs, 2);
    // Derived values are untouched.
    assert_eq!(
        config.dhcp.bootstrap_url,
        "http://172.16.130.10:8080/bootstrap"
    );
    assert_eq!(config.vm.as_ref().unwrap().name, "ztps");
    assert!(config.status.enable);

    // And the rendered agent config, read back by the agent's own loader, agrees.
    let text = config.to_toml().unwrap();
    let reread = ztps_config::parse_agent_config("ztps-agent.toml", &text).unwrap();
    assert_eq!(reread, config);
}

#[test]
fn without_settings_the_agent_config_is_the_derived_one() {
    let plain = parse_fabric(&[("fabric.toml".into(), example())]).unwrap();
    let config = plain.spine(None).unwrap().agent_config();
    assert_eq!(
        config.dhcp.lease_file,
        Path::new("/mnt/flash/ztps-leases.journal")
    );
    assert_eq!(config.vm.as_ref().unwrap().backend, VmBackend::Eos);
    assert_eq!(config.vm.as_ref().unwrap().startup_grace_secs, 300);
}

#[test]
fn unknown_keys_and_bad_types_are_located_in_the_file_that_wrote_them() {
    let found = problems(
        "[spines.spine1.agent.vm]\nstartup_grace = 5\nbackend = \"virsh\"\n[spines.spine1.agent.status]\nlisten = \"localhost\"\n",
    );
    assert!(
        found.iter().any(|p| p.starts_with(
            "agent.toml:2:1: spines.spine1.agent.vm.startup_grace: unknown key `startup_grace`; valid keys here: "
        ) && p.contains("startup_grace_secs")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|p| p.starts_with(
            "agent.toml:3:11: spines.spine1.agent.vm.backend: \"virsh\" is not allowed here; write one of \"eos\""
        )),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("agent.toml:5:10: spines.spine1.agent.status.listen:")),
        "{found:?}"
    );
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn bad_values_are_reported_at_the_fabric_key_that_set_them() {
    let found = problems(
        "[spines.spine1.agent.vm]\nrestart_backoff_initial_secs = 100\nrestart_backoff_max_secs = 50\n\
         [spines.spine1.agent.status]\nlisten = \"0.0.0.0:8087\"\n\
         [spines.spine1.agent.events]\nwebhook_url = \"ftp://hooks.example/x\"\n",
    );
    let expect = [
        "agent.toml:3:28: spines.spine1.agent.vm.restart_backoff_max_secs: 50 is below restart_backoff_initial_secs (100)",
        "agent.toml:5:10: spines.spine1.agent.status.listen: 0.0.0.0:8087 is not a loopback address",
        "agent.toml:7:15: spines.spine1.agent.events.webhook_url:",
    ];
    for line in expect {
        assert!(
            found.iter().any(|p| p.starts_with(line)),
            "missing {line:?} in {found:?}"
        );
    }
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn a_bad_ssh_key_is_reported_and_a_good_one_is_kept() {
    let found = problems("[spines.spine1.vm]\nssh_authorized_key = \"not a key\"\n");
    assert!(
        found[0].starts_with(
            "agent.toml:2:22: spines.spine1.vm.ssh_authorized_key: not an OpenSSH public key line"
        ),
        "{found:?}"
    );
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw5bKq0i3Bp ops@example";
    let fabric = load(&format!(
        "[spines.spine1.vm]\nssh_authorized_key = \"{key}\"\n"
    ))
    .unwrap();
    assert_eq!(
        fabric
            .spine(None)
            .unwrap()
            .vm
            .as_ref()
            .unwrap()
            .ssh_authorized_key
            .as_deref(),
        Some(key)
    );
}

#[test]
fn the_ztpserver_url_is_the_bootstrap_url_without_its_path() {
    let fabric = load("").unwrap();
    assert_eq!(
        fabric.spine(None).unwrap().ztpserver_url(),
        "http://172.16.130.10:8080"
    );
    let fabric =
        load("[spines.spine1.ztpserver]\nurl = \"https://ztp.example.net/bootstrap\"\n[spines.spine1.agent.vm]\nhealth_url = \"http://172.16.130.10:8080/bootstrap\"\n").unwrap();
    assert_eq!(
        fabric.spine(None).unwrap().ztpserver_url(),
        "https://ztp.example.net"
    );
}

#[test]
fn dhcp_can_be_turned_off_from_the_fabric() {
    let on = load("").unwrap();
    let config = on.spine(Some("spine1")).unwrap().agent_config();
    assert!(config.dhcp.enabled);
    // Default on: the rendered config does not even mention it.
    assert!(!config.to_toml().unwrap().contains("enabled = false"));

    let off = load("[spines.spine1.agent.dhcp]\nenabled = false\n").unwrap();
    let config = off.spine(Some("spine1")).unwrap().agent_config();
    assert!(!config.dhcp.enabled);
    let text = config.to_toml().unwrap();
    let dhcp = &text[text.find("[dhcp]").unwrap()..];
    assert!(dhcp.contains("enabled = false"), "{text}");

    let err = problems("[spines.spine1.agent.dhcp]\nenabled = \"no\"\n").join("\n");
    assert!(
        err.contains("agent.toml:2") && err.contains("enabled"),
        "{err}"
    );
}

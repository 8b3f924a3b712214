//! The agent's life on a switch in service, as docs/operations.md tells it:
//! upgraded in place (leases kept), removed (nothing it set up is torn
//! down), and told to stop serving DHCP once the fabric is built.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_common::{Lab, VM_MAC};
use nix::sys::signal::Signal;

const OLD: &str = env!("CARGO_PKG_VERSION");

/// A newer build: a copy of the agent whose version string says `new`. The
/// agent keeps its version in one marked string (src/version.rs), which is
/// what is patched: a bare version may share its bytes with other strings.
fn newer_build(dir: &Path, new: &str) -> PathBuf {
    assert_eq!(new.len(), OLD.len(), "the patch keeps every offset");
    let mut bytes = std::fs::read(agent_common::agent_bin()).unwrap();
    let old = format!("ztps-agent-version={OLD};").into_bytes();
    let replacement = format!("ztps-agent-version={new};").into_bytes();
    let mut patched = 0;
    let mut i = 0;
    while i + old.len() <= bytes.len() {
        if bytes[i..i + old.len()] == old[..] {
            bytes[i..i + old.len()].copy_from_slice(&replacement);
            patched += 1;
            i += old.len();
        } else {
            i += 1;
        }
    }
    assert!(patched > 0, "no version string found to patch");
    let path = dir.join("ztps-agent-new");
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

fn journal_version(path: &Path) -> Option<u16> {
    let data = std::fs::read(path).unwrap();
    (data.get(..8)? == b"ZTPSLJNL").then(|| u16::from_le_bytes([data[8], data[9]]))
}

fn forwarding(lab: &Lab) -> String {
    let out = lab
        .spine
        .command("cat")
        .arg("/proc/sys/net/ipv4/ip_forward")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn an_upgrade_keeps_the_leases_and_serves_each_leaf_its_old_address() {
    ztps_testkit::require_netns!("busybox", "curl");
    let lab = Lab::new(2);
    lab.link_up(1);
    lab.link_up(2);
    let config = lab.write_config("agent.toml", "manage = false", "");
    let mut old = lab.start_agent(&config);
    let status = lab.wait_status(&old, "old build up", Duration::from_secs(20), |s| {
        s["dhcp"]["running"] == true
    });
    assert_eq!(status["version"], OLD, "{status}");
    assert_eq!(lab.dhcp(1).unwrap()["ip"], "10.1.1.1");
    assert_eq!(lab.dhcp(2).unwrap()["ip"], "10.1.2.1");
    old.signal(Signal::SIGTERM);
    assert_eq!(
        old.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        old.log()
    );
    // The journal says which format it is in, so a later build knows.
    assert_eq!(journal_version(&lab.path("leases")), Some(2));

    // The daemon restarted from the new binary (what `extension` and
    // `daemon ztps` / `shutdown` / `no shutdown` do), same config, same flash.
    let new_bin = newer_build(lab.dir.path(), "9.9.9");
    let version = std::process::Command::new(&new_bin)
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        "ztps-agent 9.9.9"
    );
    let new = lab.start_agent_from(&new_bin, &config);
    let status = lab.wait_status(&new, "new build up", Duration::from_secs(20), |s| {
        s["dhcp"]["running"] == true
    });
    assert_eq!(status["version"], "9.9.9", "{status}");
    // Before any leaf asks again, the leases are back from the journal.
    let mut known: Vec<&str> = status["dhcp"]["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ip"].as_str().unwrap())
        .collect();
    known.sort_unstable();
    assert_eq!(known, ["10.1.1.1", "10.1.2.1"], "{status}");
    assert_eq!(lab.dhcp(2).unwrap()["ip"], "10.1.2.1");
    assert_eq!(lab.dhcp(1).unwrap()["ip"], "10.1.1.1");
}

#[test]
fn a_journal_of_the_first_format_is_read_by_the_current_build() {
    // Format 1 had no header: the same records from the first byte. A v2
    // journal with its header cut off is exactly such a file.
    ztps_testkit::require_netns!("busybox", "curl");
    let lab = Lab::new(1);
    lab.link_up(1);
    let config = lab.write_config("agent.toml", "manage = false", "");
    let mut first = lab.start_agent(&config);
    lab.wait_status(&first, "up", Duration::from_secs(20), |s| {
        s["dhcp"]["running"] == true
    });
    assert_eq!(lab.dhcp(1).unwrap()["ip"], "10.1.1.1");
    first.signal(Signal::SIGTERM);
    assert_eq!(
        first.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        first.log()
    );
    let journal = std::fs::read(lab.path("leases")).unwrap();
    assert_eq!(&journal[..8], b"ZTPSLJNL");
    std::fs::write(lab.path("leases"), &journal[12..]).unwrap();
    assert_eq!(journal_version(&lab.path("leases")), None);

    let second = lab.start_agent(&config);
    let status = lab.wait_status(
        &second,
        "up on the old journal",
        Duration::from_secs(20),
        |s| s["dhcp"]["running"] == true,
    );
    assert_eq!(status["dhcp"]["leases"][0]["ip"], "10.1.1.1", "{status}");
    assert_eq!(lab.dhcp(1).unwrap()["ip"], "10.1.1.1");
}

#[test]
fn removal_leaves_the_bridge_forwarding_and_vm_as_they_were() {
    ztps_testkit::require_netns!("busybox", "curl");
    let mut lab = Lab::new(1);
    lab.add_vm();
    lab.link_up(1);
    let _sim = lab.start_eos_sim(&[
        "--vm-restart-cmd",
        "ip link set vmtap master br0 && ip link set vmtap up",
    ]);
    let _ztpserver = lab.start_ztpserver();
    let vm = format!("mac = \"{VM_MAC}\"\nhealth_interval_secs = 1\nstartup_grace_secs = 60");
    let config = lab.write_config("agent.toml", &vm, "");
    let mut agent = lab.start_agent(&config);
    lab.wait_status(&agent, "bridge up", Duration::from_secs(20), |s| {
        s["bridge"]["state"] == "ok"
    });
    lab.attach_vm();
    lab.wait_status(&agent, "VM healthy", Duration::from_secs(45), |s| {
        s["vm"]["health"] == "healthy"
    });
    let bridge = lab.ifindex("br0").unwrap();
    let addresses = lab.spine.ip(&["-4", "-o", "addr", "show", "br0"]);
    assert!(addresses.contains("172.16.130.254/24"), "{addresses}");
    assert_eq!(forwarding(&lab), "1");

    // `no daemon ztps`: ProcMgr sends SIGTERM.
    agent.signal(Signal::SIGTERM);
    assert_eq!(
        agent.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        agent.log()
    );
    assert!(
        agent
            .log()
            .contains("stopped; the bridge, IPv4 forwarding and the VM are left as they are"),
        "{}",
        agent.log()
    );
    assert_eq!(
        lab.ifindex("br0"),
        Some(bridge),
        "the bridge was re-created or removed"
    );
    assert_eq!(
        lab.spine.ip(&["-4", "-o", "addr", "show", "br0"]),
        addresses
    );
    assert!(lab.spine.ip(&["link", "show", "br0"]).contains("state UP"));
    let tap = lab.spine.ip(&["link", "show", "vmtap"]);
    assert!(
        tap.contains("master br0") && tap.contains("state UP"),
        "{tap}"
    );
    assert_eq!(forwarding(&lab), "1");
    assert!(lab.sim_restarts().is_empty(), "the VM was restarted");
    // The VM still answers through the bridge.
    let bootstrap = lab.curl(&["-sf", "http://172.16.130.10:8080/bootstrap"]);
    assert!(
        bootstrap.is_some_and(|b| b.contains("SERVER")),
        "the VM is not reachable after removal"
    );
}

#[test]
fn dhcp_off_stops_answering_and_everything_else_keeps_running() {
    ztps_testkit::require_netns!("busybox", "curl");
    let lab = Lab::new(1);
    lab.link_up(1);
    let config = lab.write_config("agent.toml", "manage = false", "");
    let mut agent = lab.start_agent(&config);
    lab.wait_status(&agent, "up", Duration::from_secs(20), |s| {
        s["dhcp"]["running"] == true
    });
    assert_eq!(lab.dhcp(1).unwrap()["ip"], "10.1.1.1");
    let bridge = lab.ifindex("br0").unwrap();

    lab.write_config("agent.toml", "manage = false", "enabled = false");
    agent.signal(Signal::SIGHUP);
    let status = lab.wait_status(&agent, "reload applied", Duration::from_secs(10), |s| {
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "config_reloaded")
    });
    // Once the reload is reported, nothing answers any more.
    assert_eq!(status["dhcp"]["running"], false, "{status}");
    assert!(
        lab.dhcp(1).is_none(),
        "a DHCP answer after dhcp.enabled = false"
    );
    assert!(agent.alive(), "{}", agent.log());
    assert!(agent.log().contains("DHCP turned off"), "{}", agent.log());
    let status = lab.status().unwrap();
    assert_eq!(status["bridge"]["state"], "ok", "{status}");
    assert_eq!(status["forwarding"]["state"], "ok", "{status}");
    assert_eq!(lab.ifindex("br0"), Some(bridge));
    assert_eq!(forwarding(&lab), "1");
    assert!(lab.metrics().contains("ztps_config_reloads_total 1"));

    // Turned on again, the leaf gets its old address back.
    lab.write_config("agent.toml", "manage = false", "");
    agent.signal(Signal::SIGHUP);
    lab.wait_status(&agent, "DHCP back", Duration::from_secs(10), |s| {
        s["dhcp"]["running"] == true
    });
    assert_eq!(lab.dhcp(1).unwrap()["ip"], "10.1.1.1");
}

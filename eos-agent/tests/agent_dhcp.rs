//! `ztps-agent run` as the DHCP server of a spine, for real: namespaces,
//! veth links named like EOS interfaces, busybox udhcpc as the leaf.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_common;

use std::time::Duration;

use agent_common::{BOOTSTRAP_URL, Lab};
use nix::sys::signal::Signal;

#[test]
fn serves_a_link_that_comes_up_after_start_and_stops_with_leases_durable() {
    ztps_testkit::require_netns!("busybox", "curl");
    let lab = Lab::new(2);
    lab.link_up(1);
    let config = lab.write_config("agent.toml", "manage = false", "");
    let mut agent = lab.start_agent(&config);
    let status = lab.wait_status(&agent, "agent up", Duration::from_secs(20), |s| {
        s["dhcp"]["running"] == true
    });

    // Bridge and forwarding, as DESIGN.md's first steps.
    assert_eq!(status["bridge"]["state"], "ok", "{status}");
    assert!(
        lab.spine
            .ip(&["-4", "addr", "show", "br0"])
            .contains("172.16.130.254/24")
    );
    let forward = lab
        .spine
        .command("cat")
        .arg("/proc/sys/net/ipv4/ip_forward")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&forward.stdout).trim(), "1");
    assert_eq!(status["forwarding"]["state"], "ok");
    // No eos-sim: eAPI down is normal, not fatal.
    assert_eq!(status["eapi"]["reachable"], false, "{status}");
    assert!(
        agent
            .log()
            .contains("ignoring arguments added by the process manager"),
        "{}",
        agent.log()
    );

    let lease = lab.dhcp(1).expect("leaf 1 gets a lease");
    assert_eq!(lease["ip"], "10.1.1.1");
    assert_eq!(lease["router"], "10.1.1.0");
    assert_eq!(lease["bootfile"], BOOTSTRAP_URL);

    // et2 comes up while the agent runs: served at once, nothing restarted.
    lab.link_up(2);
    let lease = lab.dhcp(2).expect("leaf 2, cabled later, gets a lease");
    assert_eq!(lease["ip"], "10.1.2.1");
    assert!(!agent.log().contains("restarting the DHCP server"));

    let status = lab.status().unwrap();
    let served: Vec<&str> = status["dhcp"]["served_interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["interface"].as_str().unwrap())
        .collect();
    assert_eq!(served, ["et1", "et2"]);
    let leases = lab
        .curl(&[&format!("{}/leases", agent_common::STATUS)])
        .unwrap();
    assert!(
        leases.contains("10.1.1.1") && leases.contains("10.1.2.1"),
        "{leases}"
    );
    let metrics = lab.metrics();
    assert!(metrics.contains("ztps_dhcp_sent_ack_total 2"), "{metrics}");

    // The table view of the same endpoint, as an operator would run it.
    let table = lab
        .spine
        .command(agent_common::agent_bin())
        .arg("status")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("10.1.2.1") && table.contains("served interfaces"),
        "{table}"
    );

    agent.signal(Signal::SIGTERM);
    assert_eq!(
        agent.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        agent.log()
    );
    assert!(
        agent.log().contains("leases are durable"),
        "{}",
        agent.log()
    );
    let journal = std::fs::metadata(lab.path("leases")).unwrap();
    assert!(journal.len() > 0);
    // The JSON-lines sink got the story, flushed at shutdown.
    let kinds: Vec<String> = lab
        .events()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    for kind in ["bridge_created", "discover_seen", "lease_acked", "link_up"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing from {kinds:?}"
        );
    }
}

#[test]
fn sighup_with_a_broken_config_keeps_the_running_one_and_a_valid_one_applies() {
    ztps_testkit::require_netns!("busybox", "curl");
    let lab = Lab::new(1);
    lab.link_up(1);
    let config = lab.write_config("agent.toml", "manage = false", "lease_time_secs = 600");
    let mut agent = lab.start_agent(&config);
    lab.wait_status(&agent, "agent up", Duration::from_secs(20), |s| {
        s["dhcp"]["running"] == true
    });
    assert_eq!(lab.dhcp(1).unwrap()["lease"], "600");

    std::fs::write(
        &config,
        "[bridge]\naddress = \"172.16.130.254/24\"\n[dhcp]\nbootstrap_url = 5\n",
    )
    .unwrap();
    agent.signal(Signal::SIGHUP);
    let status = lab.wait_status(&agent, "rejection reported", Duration::from_secs(10), |s| {
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "config_rejected")
    });
    let rejected = status["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "config_rejected")
        .unwrap();
    // The reason names the file, line and key.
    let reason = rejected["reason"].as_str().unwrap();
    assert!(
        reason.contains("agent.toml:4") && reason.contains("bootstrap_url"),
        "{reason}"
    );
    assert!(agent.alive());
    assert!(lab.metrics().contains("ztps_config_rejected_total 1"));
    let lease = lab.dhcp(1).expect("still serving with the old config");
    assert_eq!(lease["lease"], "600");

    // A valid config with another lease time is applied without a restart.
    lab.write_config("agent.toml", "manage = false", "lease_time_secs = 900");
    agent.signal(Signal::SIGHUP);
    lab.wait_status(&agent, "reload reported", Duration::from_secs(10), |s| {
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "config_reloaded")
    });
    let lease = lab.dhcp(1).expect("serving with the new config");
    assert_eq!(lease["lease"], "900");
    assert_eq!(
        lease["ip"], "10.1.1.1",
        "the lease survived the server restart"
    );
    assert!(agent.alive());
}

#[test]
fn a_fatal_misconfiguration_exits_non_zero_with_file_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[bridge]\naddress = \"172.16.130.254/24\"\n[dhcp]\nbootstrap_url = \"http://x/\"\nlease_tim = 5\n").unwrap();
    let out = std::process::Command::new(agent_common::agent_bin())
        .args(["run", "--no-syslog", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:5") && stderr.contains("lease_tim"),
        "{stderr}"
    );

    // Valid TOML the agent cannot run: a managed VM without its MAC.
    std::fs::write(
        &path,
        "[bridge]\naddress = \"172.16.130.254/24\"\n[dhcp]\nbootstrap_url = \"http://x/\"\n[vm]\n",
    )
    .unwrap();
    let out = std::process::Command::new(agent_common::agent_bin())
        .args(["run", "--no-syslog", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:5:1: vm.mac: is missing") && stderr.contains("manage = false"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("error:").count(),
        1,
        "the chain is printed once: {stderr}"
    );
}

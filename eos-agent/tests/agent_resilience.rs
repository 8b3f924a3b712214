//! Resilience of `ztps-agent run` against a real eos-sim with injected
//! faults, a ZTPServer stand-in that may not answer, and kill -9.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_common;

use std::time::{Duration, Instant};

use agent_common::{Lab, VM_MAC};
use nix::sys::signal::Signal;

/// A `[vm]` table with short timings, so that the policy shows in seconds.
fn vm_section(grace: u64) -> String {
    format!(
        "mac = \"{VM_MAC}\"\nhealth_interval_secs = 1\nstartup_grace_secs = {grace}\n\
         restart_backoff_initial_secs = 2\nrestart_backoff_max_secs = 4\nmax_restarts_per_hour = 3"
    )
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
}

#[test]
fn eapi_down_at_boot_is_waited_out_with_backoff_while_dhcp_serves() {
    ztps_testkit::require_netns!("busybox", "curl");
    let lab = Lab::new(1);
    lab.link_up(1);
    let config = lab.write_config("agent.toml", "manage = false", "");
    let mut agent = lab.start_agent(&config);
    lab.wait_status(&agent, "agent up", Duration::from_secs(20), |s| {
        s["eapi"]["reachable"] == false
    });
    let down_since = Instant::now();
    assert_eq!(
        lab.dhcp(1).expect("DHCP does not wait for eAPI")["ip"],
        "10.1.1.1"
    );

    // EOS's eAPI stays away for the first 30 s, as it can while EOS boots.
    std::thread::sleep(Duration::from_secs(30).saturating_sub(down_since.elapsed()));
    assert!(agent.alive(), "{}", agent.log());
    let polls = metric(&lab.metrics(), "ztps_eapi_polls_total");
    // Retries after 1, 2, 4, then every 6 s (6 x the 1 s poll interval): about
    // seven in 30 s, not thirty. A loaded machine makes fewer, never more, so
    // only the upper bound is the backoff's; the lower one says it retried.
    assert!((2.0..=10.0).contains(&polls), "{polls} polls in 30 s");
    let _sim = lab.start_eos_sim(&[]);
    // The backoff caps the wait at 6 s (unit-tested in ztps-eapi's retry
    // policy); the bound here is only for a broken agent.
    let status = lab.wait_status(&agent, "eAPI reachable", Duration::from_secs(60), |s| {
        s["eapi"]["reachable"] == true
    });
    assert_eq!(
        status["eapi"]["connected_interfaces"][0], "Ethernet1",
        "{status}"
    );
    let log = agent.log();
    assert_eq!(
        log.matches("eAPI not reachable yet").count(),
        1,
        "logged once:\n{log}"
    );
    assert_eq!(log.matches("eAPI reachable").count(), 1, "{log}");
    assert!(
        status["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "eapi_reachable")
    );
}

#[test]
fn eapi_answering_1005_is_reported_once_and_recovers() {
    ztps_testkit::require_netns!("busybox", "curl");
    let lab = Lab::new(1);
    lab.link_up(1);
    let faults = lab.path("faults.json");
    std::fs::write(&faults, r#"{"error": {"code": 1005}}"#).unwrap();
    let _sim = lab.start_eos_sim(&["--faults-file", faults.to_str().unwrap()]);
    let config = lab.write_config("agent.toml", "manage = false", "");
    let mut agent = lab.start_agent(&config);
    let status = lab.wait_status(&agent, "eAPI refused", Duration::from_secs(20), |s| {
        s["eapi"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("1005"))
    });
    assert_eq!(status["eapi"]["reachable"], false);
    std::thread::sleep(Duration::from_secs(5));
    assert!(agent.alive());
    assert!(metric(&lab.metrics(), "ztps_eapi_errors_total") >= 2.0);
    assert_eq!(
        agent.log().matches("eAPI not reachable yet").count(),
        1,
        "{}",
        agent.log()
    );
    assert!(lab.dhcp(1).is_some(), "DHCP serves regardless");

    std::fs::remove_file(&faults).unwrap();
    let status = lab.wait_status(&agent, "eAPI back", Duration::from_secs(15), |s| {
        s["eapi"]["reachable"] == true
    });
    assert!(status["eapi"].get("last_error").is_none(), "{status}");
    assert_eq!(metric(&lab.metrics(), "ztps_eapi_reachable"), 1.0);
}

#[test]
fn an_unhealthy_ztpserver_is_restarted_bounded_and_backed_off() {
    ztps_testkit::require_netns!("busybox", "curl");
    let mut lab = Lab::new(1);
    lab.add_vm();
    // EOS's `virtual-machine ztps restart`: the VM's tap joins br0 again;
    // the ZTPServer inside never answers.
    let _sim = lab.start_eos_sim(&[
        "--vm-restart-cmd",
        "ip link set vmtap master br0 && ip link set vmtap up",
    ]);
    let config = lab.write_config("agent.toml", &vm_section(2), "");
    let agent = lab.start_agent(&config);
    lab.wait_status(&agent, "agent up", Duration::from_secs(20), |s| {
        s["dhcp"]["running"] == true
    });
    std::thread::sleep(Duration::from_secs(16));

    let restarts = lab.sim_restarts();
    assert_eq!(
        restarts.len(),
        3,
        "the hourly cap of 3 holds: {restarts:?}\n{}",
        agent.log()
    );
    let gaps: Vec<f64> = restarts.windows(2).map(|w| w[1] - w[0]).collect();
    // Grace 2 s; then spaced by the backoff: 2 s, then 4 s.
    assert!(
        gaps[0] >= 1.5 && gaps[1] >= 3.5 && gaps[1] > gaps[0],
        "{gaps:?}"
    );
    let status = lab.status().unwrap();
    let vm = &status["vm"];
    assert_eq!(vm["attachment"], "attached", "{vm}");
    assert!(
        vm["health"].as_str().unwrap().starts_with("unhealthy"),
        "{vm}"
    );
    assert!(vm["decision"].as_str().unwrap().contains("holding"), "{vm}");
    assert_eq!(vm["restarts_last_hour"], 3);
    assert_eq!(metric(&lab.metrics(), "ztps_vm_restarts_total"), 3.0);
    assert!(
        status["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "vm_restarted")
    );
}

#[test]
fn kill_9_and_restart_keeps_leases_and_bridge_and_leaves_a_healthy_vm_alone() {
    ztps_testkit::require_netns!("busybox", "curl");
    let mut lab = Lab::new(1);
    lab.add_vm();
    lab.link_up(1);
    let _sim = lab.start_eos_sim(&[
        "--vm-restart-cmd",
        "ip link set vmtap master br0 && ip link set vmtap up",
    ]);
    let _ztpserver = lab.start_ztpserver();
    // A generous grace: a loaded CI machine can take many seconds to start
    // the Python ZTPServer, and this test is about kill -9, not about grace.
    let config = lab.write_config("agent.toml", &vm_section(60), "");
    let first = lab.start_agent(&config);
    lab.wait_status(&first, "bridge up", Duration::from_secs(20), |s| {
        s["bridge"]["state"] == "ok"
    });
    // The VM starts once br0 exists, as EOS starts it.
    lab.attach_vm();
    lab.wait_status(&first, "VM healthy", Duration::from_secs(45), |s| {
        s["vm"]["health"] == "healthy"
    });
    assert_eq!(lab.dhcp(1).unwrap()["ip"], "10.1.1.1");
    let bridge = lab.ifindex("br0").unwrap();

    first.signal(Signal::SIGKILL);
    drop(first);
    let second = lab.start_agent(&config);
    let status = lab.wait_status(&second, "VM healthy again", Duration::from_secs(45), |s| {
        s["vm"]["attachment"] == "attached" && s["vm"]["health"] == "healthy"
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        lab.ifindex("br0"),
        Some(bridge),
        "the bridge was not re-created"
    );
    let kinds: Vec<&str> = status["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.contains(&"bridge_created"), "{kinds:?}");
    assert!(
        lab.sim_restarts().is_empty(),
        "no restart of a healthy VM:\n{}",
        second.log()
    );
    assert_eq!(
        status["dhcp"]["leases"][0]["ip"], "10.1.1.1",
        "leases survive kill -9: {status}"
    );
    assert_eq!(lab.dhcp(1).unwrap()["ip"], "10.1.1.1");
    assert_eq!(lab.status().unwrap()["vm"]["restarts_total"], 0);
}

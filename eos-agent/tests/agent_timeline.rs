//! The per-leaf timeline of the real agent, in namespaces: the leaves'
//! bootstrap logs arrive over UDP on the bridge address (as ZTPServer's
//! bootstrap sends them), and a leaf that stops moving is reported stuck
//! once, with its cause and the next step, in `/status`, the event stream
//! and `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_common;

use std::fs;
use std::time::Duration;

use agent_common::Lab;
use serde_json::Value;

/// Sends one datagram from leaf `i`'s namespace, as Python's SysLogHandler
/// does (the bridge address, UDP 514).
fn send_log(lab: &Lab, i: usize, line: &str) {
    let status = lab.leaves[i - 1]
        .command("bash")
        .args([
            "-c",
            "printf '%s\\0' \"$1\" > /dev/udp/172.16.130.254/514",
            "send",
            line,
        ])
        .status()
        .unwrap();
    assert!(status.success(), "cannot send from leaf {i}");
}

fn leaf<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["leaves"]
        .as_array()
        .and_then(|a| a.iter().find(|l| l["leaf"] == name))
        .unwrap_or(&Value::Null)
}

fn stuck_events(status: &Value, name: &str) -> usize {
    status["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["kind"] == "leaf_stuck" && e["leaf"] == name)
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn bootstrap_logs_move_leaves_and_a_stuck_leaf_is_reported_once_with_its_cause() {
    ztps_testkit::require_netns!("busybox", "curl", "bash");
    let lab = Lab::new(2);
    lab.link_up(1);
    lab.link_up(2);
    let config = lab.write_config("agent.toml", "manage = false", "");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[timeline]\nspine = \"spine1\"\nbootstrap_deadline_secs = 2\n\n\
         [[leaves]]\ninterface = \"Ethernet1\"\nleaf = \"leaf1\"\nleaf_interface = \"Ethernet49\"\nsubnet = \"10.1.1.0/31\"\n\n\
         [[leaves]]\ninterface = \"Ethernet2\"\nleaf = \"leaf2\"\nleaf_interface = \"Ethernet49\"\nsubnet = \"10.1.2.0/31\"\n",
    );
    fs::write(&config, text).unwrap();
    let agent = lab.start_agent(&config);
    lab.wait_status(&agent, "agent up", Duration::from_secs(20), |s| {
        s["dhcp"]["running"] == true
    });
    assert_eq!(lab.dhcp(1).expect("leaf1 leases")["ip"], "10.1.1.1");
    assert_eq!(lab.dhcp(2).expect("leaf2 leases")["ip"], "10.1.2.1");

    // leaf2 applies its lease and runs a bootstrap that ZTPServer refuses.
    let l2 = &lab.leaves[1];
    l2.ip(&["addr", "add", "10.1.2.1/31", "dev", "et49"]);
    l2.ip(&["route", "add", "default", "via", "10.1.2.0"]);
    send_log(
        &lab,
        2,
        "<14>ZTPS - INFO: ZTPSTEST0002: Collecting node information",
    );
    send_log(
        &lab,
        2,
        "<14>ZTPS - INFO: ZTPSTEST0002: Server response to POST nodes: status=400, location=None",
    );
    send_log(
        &lab,
        2,
        "<11>ZTPS - ERROR: ZTPSTEST0002: Bootstrap process failed: node not found on server (status=400)",
    );

    // leaf1 never sends a bootstrap log (its bootstrap cannot reach
    // ZTPServer): past the 2 s deadline it is stuck at "acked".
    let status = lab.wait_status(&agent, "both leaves stuck", Duration::from_secs(30), |s| {
        leaf(s, "leaf1")["stuck"].is_string() && leaf(s, "leaf2")["stuck"].is_string()
    });
    let l1 = leaf(&status, "leaf1");
    assert_eq!(l1["stage"], "acked", "{l1}");
    assert_eq!(l1["address"], "10.1.1.1", "{l1}");
    let why1 = l1["stuck"].as_str().unwrap();
    assert!(why1.contains("no bootstrap log arrived"), "{why1}");
    assert!(why1.contains("route"), "{why1}");
    let l2v = leaf(&status, "leaf2");
    assert_eq!(l2v["stage"], "bootstrap_running", "{l2v}");
    assert_eq!(l2v["serial"], "ZTPSTEST0002", "{l2v}");
    let why2 = l2v["stuck"].as_str().unwrap();
    assert!(
        why2.contains("the bootstrap failed: \"node not found on server (status=400)\""),
        "{why2}"
    );
    assert!(why2.contains("no neighbordb pattern matched"), "{why2}");

    // Once per leaf and stage, however long it stays stuck: the deadline
    // check runs every second; three more seconds add nothing.
    std::thread::sleep(Duration::from_secs(3));
    let status = lab.status().unwrap();
    assert_eq!(stuck_events(&status, "leaf1"), 1, "{}", status["events"]);
    assert_eq!(stuck_events(&status, "leaf2"), 1, "{}", status["events"]);
    assert_eq!(status["bootstrap_logs"]["accepted"], 3, "{status}");

    let metrics = lab.metrics();
    for line in [
        "ztps_leaf_stuck{leaf=\"leaf1\",interface=\"Ethernet1\"} 1",
        "ztps_leaf_stage{leaf=\"leaf2\",interface=\"Ethernet2\",stage=\"bootstrap_running\"} 1",
        "ztps_bootstrap_log_datagrams_total{outcome=\"accepted\"} 3",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

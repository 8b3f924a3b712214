//! LLDP for real: Debian's lldpd in each namespace, eos-sim telling it what
//! to advertise (EOS names) and answering `show lldp neighbors` from it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{SimProcess, sim_binary};
use serde_json::Value;
use ztps_testkit::{Netns, require_netns, veth, wait_for};

/// lldpd in a namespace, stopped (by its PID) when dropped.
struct Lldpd(Child);

impl Lldpd {
    fn start(ns: &Netns, dir: &Path, name: &str) -> (Self, String) {
        let socket = dir.join(format!("{name}-lldpd.sock"));
        let conf = dir.join(format!("{name}-lldpd.conf"));
        // A lab pace: a frame a second, instead of every 30 s.
        std::fs::write(&conf, "configure lldp tx-interval 1\n").unwrap();
        let log = dir.join(format!("{name}-lldpd.log"));
        let child = ns
            .command("lldpd")
            .args(["-d", "-I", "et*", "-u"])
            .arg(&socket)
            .arg("-O")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let lldpd = Self(child);
        // lldpd starts paused and resumes once it has read its
        // configuration; a `configure` sent before then (eos-sim's, racing
        // it) can leave Debian's lldpd 1.0.16 never transmitting, as the
        // lab found (ci/lab/run waits the same way).
        wait_for(
            "lldpd to resume operations",
            Duration::from_secs(20),
            || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                text.contains("resume operations").then_some(())
            },
        );
        (lldpd, socket.to_str().unwrap().to_string())
    }
}

impl Drop for Lldpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fastcli(sim: &SimProcess, script: &str) -> String {
    let out = Command::new(sim_binary())
        .args(["fastcli", "--socket"])
        .arg(sim.socket())
        .args(["-p", "15", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `show lldp neighbors` (JSON) through the simulator's eAPI.
fn neighbors(sim: &SimProcess, detail: bool) -> Value {
    let cmd = if detail {
        "show lldp neighbors detail"
    } else {
        "show lldp neighbors"
    };
    let body = format!(
        r#"{{"jsonrpc": "2.0", "method": "runCmds", "params": {{"version": 1, "cmds": ["{cmd}"]}}, "id": 1}}"#
    );
    let (status, reply) = sim.control("POST", "/command-api", &body);
    assert_eq!(status, 200, "{reply}");
    let v: Value = serde_json::from_str(&reply).unwrap();
    v["result"][0].clone()
}

#[test]
fn each_side_sees_the_other_under_eos_names_and_a_new_hostname_shows() {
    require_netns!("ip", "lldpd", "lldpcli");
    let dir = tempfile::tempdir().unwrap();
    // lldpcli is setuid _lldpd: it must be able to reach the sockets in here.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    let spine = Netns::new("lsp");
    let leaf = Netns::new("llf");
    veth(&spine, "et3", Some(&leaf), "et49");
    spine.ip(&["link", "set", "et3", "up"]);
    leaf.ip(&["link", "set", "et49", "up"]);

    let (_spine_lldpd, spine_socket) = Lldpd::start(&spine, dir.path(), "spine");
    let (_leaf_lldpd, leaf_socket) = Lldpd::start(&leaf, dir.path(), "leaf");
    let spine_sim = SimProcess::start(
        Some(&spine),
        &["--hostname", "spine1", "--lldpd-socket", &spine_socket],
    );
    let leaf_sim = SimProcess::start(
        Some(&leaf),
        &["--hostname", "localhost", "--lldpd-socket", &leaf_socket],
    );

    // The leaf hears the spine's EOS port name, not lldpd's `et3`.
    let seen = wait_for("the leaf to hear spine1", Duration::from_secs(60), || {
        let v = neighbors(&leaf_sim, false);
        let list = v["lldpNeighbors"].as_array().cloned().unwrap_or_default();
        list.into_iter().find(|n| n["neighborDevice"] == "spine1")
    });
    assert_eq!(seen["port"], "Ethernet49", "{seen}");
    assert_eq!(seen["neighborPort"], "Ethernet3", "{seen}");
    assert!(seen["ttl"].as_u64().unwrap() > 0, "{seen}");

    // A hostname set on the leaf reaches the spine under that name.
    fastcli(
        &leaf_sim,
        "configure\nhostname leaf3\ninterface Ethernet49\ndescription uplink to spine1 Ethernet3\nend",
    );
    let detail = wait_for("the spine to hear leaf3", Duration::from_secs(60), || {
        let v = neighbors(&spine_sim, true);
        let info = v["lldpNeighbors"]["Ethernet3"]["lldpNeighborInfo"][0].clone();
        let described =
            info["neighborInterfaceInfo"]["interfaceDescription"] == "uplink to spine1 Ethernet3";
        (info["systemName"] == "leaf3" && described).then_some(info)
    });
    let port = &detail["neighborInterfaceInfo"];
    assert_eq!(port["interfaceId_v2"], "Ethernet49", "{detail}");
    assert_eq!(port["interfaceId"], "\"Ethernet49\"", "{detail}");
    // EOS writes chassis IDs as dotted MACs.
    let chassis = detail["chassisId"].as_str().unwrap();
    assert_eq!(chassis.len(), 14, "{detail}");
    assert_eq!(chassis.matches('.').count(), 2, "{detail}");
    assert!(
        detail["systemDescription"]
            .as_str()
            .unwrap()
            .starts_with("Arista Networks EOS version"),
        "{detail}"
    );
    let text = fastcli(&spine_sim, "show lldp neighbors | include leaf3");
    assert!(text.starts_with("Et3 "), "{text}");

    // With a domain, EOS advertises its FQDN.
    fastcli(&leaf_sim, "configure\ndns domain dc1.example\nend");
    assert_eq!(
        fastcli(&leaf_sim, "show hostname | include FQDN"),
        "FQDN:     leaf3.dc1.example\n"
    );
    wait_for(
        "the spine to hear leaf3.dc1.example",
        Duration::from_secs(60),
        || {
            let v = neighbors(&spine_sim, false);
            let list = v["lldpNeighbors"].as_array().cloned().unwrap_or_default();
            list.into_iter()
                .find(|n| n["neighborDevice"] == "leaf3.dc1.example" && n["port"] == "Ethernet3")
        },
    );
}

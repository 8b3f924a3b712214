//! The end-to-end lab (`ci/lab/run`, what `ci/demo` shows), as a test: a
//! spine running eos-sim, lldpd and this agent, the real ZTPServer behind
//! the agent's bridge, and three leaves, each a switch in ZTP mode (its own
//! eos-sim, flash and lldpd) in its own network namespace. Each leaf must
//! lease its point-to-point address over DHCP (busybox udhcpc with an
//! Arista vendor class), get the spine as router and the bootstrap URL, run
//! ZTPServer's own bootstrap unmodified, be matched by LLDP to its own
//! definition, end with the rendered startup-config on its flash, and once
//! rebooted into it be seen by the spine under its planned name on its
//! planned port, running the EOS image the fabric's catalogue names (a 1 MiB
//! stand-in that ZTPServer's `install_image` put on its flash).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn three_leaves_provision_through_the_spine() {
    ztps_testkit::require_netns!("busybox", "curl", "lldpd", "lldpcli", "unshare");
    if ztps_testkit::venv_program("ztps").is_none()
        && !ztps_testkit::skip_or_fail(
            "lab",
            "ZTPServer is not installed in $ZTPS_VENV (ci/test installs it)",
        )
    {
        return;
    }
    let agent = Path::new(env!("CARGO_BIN_EXE_ztps-agent"));
    let bin_dir = agent.parent().unwrap();
    // eos-sim is another package's binary: a workspace build (ci/test) makes it.
    assert!(
        bin_dir.join("eos-sim").is_file(),
        "{} is missing: build it with `cargo build -p eos-sim`",
        bin_dir.join("eos-sim").display()
    );
    let root = ztps_testkit::workspace_root();
    let results = tempfile::NamedTempFile::new().unwrap();
    let flash_out = tempfile::tempdir().unwrap();

    let out = Command::new(root.join("ci/lab/run"))
        .arg("--results")
        .arg(results.path())
        .arg("--flash-out")
        .arg(flash_out.path())
        .env("ZTPS_BIN", bin_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lab failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.path()).unwrap()).unwrap();
    // What ci/lab/fabric.toml promises each leaf: (link, leaf address, spine address).
    let expected = [
        ("et1", "10.1.1.1", "10.1.1.0"),
        ("et2", "10.1.1.3", "10.1.1.2"),
        ("et3", "10.1.1.6", "10.1.1.5"),
    ];
    // The image every leaf must run, as ci/lab/fabric.toml's catalogue
    // describes it (loaded here, not taken from the lab's report).
    let fabric = ztps_config::load_fabric(&[root.join("ci/lab/fabric.toml")]).unwrap();
    let image_name = fabric
        .software
        .image
        .clone()
        .expect("the lab fabric names no [software] image");
    let want_image = fabric.images[&image_name].clone();
    let want_file = want_image
        .file
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(
        want_image.version, "4.33.2F",
        "the stand-in's version must differ from the leaves' own, or install_image does nothing"
    );
    // Only the process-mode ZTPServer serves the stand-in (the appliance's
    // would come from a data disk the lab does not build).
    let image_checked = report["image"]["checked"] == true;
    if image_checked {
        assert_eq!(report["image"]["file"], want_file.as_str(), "{report}");
        let check = report["image"]["fabric_check"].as_str().unwrap_or_default();
        assert!(
            check.starts_with("OK:") && check.ends_with(" valid"),
            "ztps-agent check on the lab fabric with its image: {check}"
        );
    } else {
        eprintln!(
            "lab: LAB_VM_MODE={:?}: the leaves installed no image; the image checks are skipped",
            std::env::var("LAB_VM_MODE").unwrap_or_default()
        );
        assert!(
            std::env::var("LAB_VM_MODE").is_ok_and(|m| m != "process"),
            "the process-mode lab skipped its image check: {report}"
        );
    }
    let leaves = report["leaves"].as_array().unwrap();
    assert_eq!(leaves.len(), expected.len(), "{report}");
    for (leaf, (link, address, router)) in leaves.iter().zip(expected) {
        let name = leaf["leaf"].as_str().unwrap();
        assert_eq!(leaf["link"], link, "{name}: {stdout}");
        assert_eq!(leaf["address"], address, "{name}: {stdout}");
        assert_eq!(leaf["router"], router, "{name}: {stdout}");
        assert_eq!(
            leaf["bootfile"], "http://172.16.130.10:8080/bootstrap",
            "{name}"
        );
        // ZTPServer substitutes its server_url into the script it serves.
        assert_eq!(
            leaf["server"], "http://172.16.130.10:8080",
            "{name}: {stdout}"
        );
        assert_eq!(
            leaf["definition"],
            format!("files/configs/{name}"),
            "{name} did not get its own definition: {stdout}"
        );
        assert_eq!(leaf["bootstrap_completed"], true, "{name}: {stdout}");
        assert_eq!(leaf["startup_config_matches"], true, "{name}: {stdout}");
        assert_eq!(leaf["seen_by_spine"], true, "{name}: {stdout}");
        // Its config, applied at the reload, set its uplink to the second
        // spine too, and that spine (booted from its own rendered config)
        // answers across it.
        let n = name.trim_start_matches("leaf").parse::<u32>().unwrap();
        assert_eq!(
            leaf["uplink2_address"],
            format!("10.1.2.{}/31", 2 * n - 1),
            "{name}: {stdout}"
        );
        assert_eq!(leaf["spine2_reachable"], true, "{name}: {stdout}");
        // install_image downloaded the catalogue's image to its flash, byte
        // for byte, and pointed boot-config at it: after the reload it runs it.
        let image = &leaf["image"];
        if image_checked {
            assert_eq!(image["version"], want_image.version, "{name}: {image}");
            assert_eq!(
                image["boot_config"],
                format!("SWI=flash:{want_file}"),
                "{name}: {image}"
            );
            assert_eq!(
                image["flash_sha256"].as_str().unwrap_or_default(),
                want_image.sha256.to_ascii_lowercase(),
                "{name}: {image}"
            );
        }
        // Every stage was reached, in order.
        let stages = &leaf["stages"];
        let times: Vec<f64> = ["leased", "bootstrap", "applied", "reloaded", "lldp_planned"]
            .iter()
            .map(|s| {
                stages[s]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{name}: no time for stage {s}: {leaf}"))
            })
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{name}: {leaf}");
        // The agent's own timeline reached the same verdict, through every
        // stage: the bootstrap's milestones came in its syslog (UDP 514).
        assert_eq!(leaf["agent_stage"], "provisioned", "{name}: {stdout}");
        let agent = &leaf["agent_stages"];
        let times: Vec<f64> = [
            "discover_seen",
            "acked",
            "bootstrap_running",
            "definition_applied",
            "reloading",
            "lldp_on_plan",
            "provisioned",
        ]
        .iter()
        .map(|s| {
            agent[s]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: the agent recorded no time for {s}: {leaf}"))
        })
        .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{name}: {leaf}");
    }
    // The https webhook (a test CA, its URL in a root-only file) got every
    // stage of every leaf exactly once, Slack's `text` on each record, though
    // its first POST was answered 500 and retried.
    let webhook = &report["webhook"];
    assert_eq!(webhook["complete"], true, "{webhook}: {stdout}");
    assert_eq!(webhook["duplicates"], 0, "{webhook}");
    assert_eq!(webhook["leaf_stage_messages"], 3 * 8, "{webhook}");
    assert_eq!(webhook["with_text"], webhook["records"], "{webhook}");
    assert!(
        webhook["agent_attempt_failures"].as_u64().unwrap_or(0) >= 1,
        "the agent's status shows no failed attempt: {webhook}"
    );
    // leaf2's cable moved to Ethernet4 (leaf4's in the plan): one "move the
    // cable" message naming both ports; moved back, leaf2 is seen on its
    // planned port and stays provisioned.
    let cabling = &report["cabling"];
    assert_eq!(cabling["report"]["events"], 1, "{cabling}: {stdout}");
    assert_eq!(
        cabling["report"]["message"],
        "leaf2 Ethernet49 is cabled to spine1 Ethernet4; the plan puts leaf2 Ethernet49 on spine1 Ethernet2: move the cable, or update the plan",
        "{cabling}"
    );
    assert_eq!(cabling["moved_back_seen"], true, "{cabling}");
    assert_eq!(cabling["leaf2_stage"], "provisioned", "{cabling}");
    // Then the ZTPServer stopped and leaf3 was replaced by a new switch: its
    // lease came, no bootstrap log did, and the agent said so once, naming
    // the cause and where to look.
    let stuck = &report["stuck"];
    assert_eq!(stuck["events"], 1, "{stuck}: {stdout}");
    assert_eq!(stuck["stage"], "acked", "{stuck}");
    assert_eq!(stuck["serial"], "LAB00000033", "{stuck}");
    let why = stuck["stuck"].as_str().unwrap_or_default();
    assert!(why.contains("no bootstrap log arrived"), "{stuck}");
    assert!(why.contains("dhcp.bootstrap_url answers"), "{stuck}");
    // A real Prometheus scraped the agent and its HTTP API answered with the
    // agent's per-leaf stage series.
    assert_eq!(report["prometheus_provisioned"], 3, "{stdout}");
    assert!(
        stdout.contains("PASS: 3/3 leaves provisioned"),
        "no verdict line: {stdout}"
    );
    // Independently of the lab's own sha256 check: each leaf's flash holds,
    // byte for byte, the startup-config this agent renders for it.
    let rendered = tempfile::tempdir().unwrap();
    let status = Command::new(agent)
        .args(["render", "ztpserver", "--fabric"])
        .arg(root.join("ci/lab/fabric.toml"))
        .arg("--out")
        .arg(rendered.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    for (i, _) in expected.iter().enumerate() {
        let name = format!("leaf{}", i + 1);
        let flash =
            std::fs::read_to_string(flash_out.path().join(format!("{name}.startup-config")))
                .unwrap_or_else(|e| {
                    panic!("{name}: no startup-config on its flash ({e}): {stdout}")
                });
        let want =
            std::fs::read_to_string(rendered.path().join("files/configs").join(&name)).unwrap();
        assert_eq!(flash, want, "{name}'s flash startup-config");
        assert!(flash.contains(&format!("hostname {name}\n")), "{flash}");
    }
    // The VM starts detached from the bridge (the bridge did not exist yet)
    // and not serving: its tap is put back without a restart, then exactly
    // one restart starts its ZTPServer, and a healthy VM is not restarted again.
    assert_eq!(report["vm_restarts"], 1, "{stdout}");
}

//! Runs the built `ztps-agent` binary as an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ztps-agent"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const THREE_MISTAKES: &str = r#"[bridge]
address = "172.16.130.254/24"

[dhcp]
bootstrap_url = "tftp://172.16.130.10/bootstrap"
lease_tme_secs = 600

[vm]
mac = "01:00:5e:00:00:01"
"#;

#[test]
fn check_prints_all_three_mistakes_with_positions_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ztps-agent.toml");
    std::fs::write(&file, THREE_MISTAKES).unwrap();
    let out = agent(&["check", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let name = file.display().to_string();
    let expected = [
        format!("{name}:6:1: dhcp.lease_tme_secs: unknown key `lease_tme_secs`; valid keys here: "),
        format!(
            "{name}:5:17: dhcp.bootstrap_url: \"tftp://172.16.130.10/bootstrap\" uses scheme \"tftp\""
        ),
        format!("{name}:9:7: vm.mac: 01:00:5e:00:00:01 is a multicast address"),
    ];
    for line in &expected {
        assert!(
            stderr.lines().any(|l| l.starts_with(line.as_str())),
            "missing {line:?} in:\n{stderr}"
        );
    }
    assert!(stderr.contains("3 problems found"), "{stderr}");
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn check_accepts_a_good_config() {
    let out = agent(&["check", "--config", "examples/ztps-agent.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "OK: examples/ztps-agent.toml valid\n");
}

#[test]
fn check_validates_fabric_files() {
    let out = agent(&["check", "--fabric", "examples/fabric.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let over = dir.path().join("over.toml");
    std::fs::write(
        &over,
        "[spines.spine1.vm]\nmemory_mib = 512\nmac = \"00:00:00:00:00:00\"\n",
    )
    .unwrap();
    let out = agent(&[
        "check",
        "--fabric",
        "examples/fabric.toml",
        "--fabric",
        over.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let name = over.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{name}:2:14: spines.spine1.vm.memory_mib: 512 MiB"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{name}:3:7: spines.spine1.vm.mac: 00:00:00:00:00:00 is all zeros"
        )),
        "{stderr}"
    );
    let out = agent(&[
        "check",
        "--fabric",
        "examples/fabric.toml",
        "--spine",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no spine named \"nope\"; it has: spine1"));
}

#[test]
fn check_reports_an_unreadable_file() {
    let out = agent(&["check", "--config", "/nonexistent/ztps-agent.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error: cannot read /nonexistent/ztps-agent.toml"));
}

#[test]
fn render_writes_each_artifact_as_the_golden_files_say() {
    for (kind, file) in [
        ("domain-xml", "ztps.xml"),
        ("startup-config", "startup-config"),
        ("startup-config-snippet", "startup-config.snippet"),
        ("boot-config", "boot-config"),
        ("boot-extensions", "boot-extensions"),
        ("agent-config", "ztps-agent.toml"),
    ] {
        let out = agent(&["render", kind, "--fabric", "examples/fabric.toml"]);
        assert_eq!(out.status.code(), Some(0), "{kind}: {}", text(&out.stderr));
        let golden =
            std::fs::read_to_string(repo().join("xml/tests/golden/example").join(file)).unwrap();
        assert_eq!(text(&out.stdout), golden, "{kind}");
    }
}

#[test]
fn render_needs_a_spine_when_there_are_several() {
    let full = "xml/tests/fabrics/full.toml";
    let out = agent(&["render", "boot-config", "--fabric", full]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--spine") && stderr.contains("dc1-spine1, dc1-spine2"),
        "{stderr}"
    );
    let out = agent(&[
        "render",
        "boot-config",
        "--fabric",
        full,
        "--spine",
        "dc1-spine2",
    ]);
    assert_eq!(text(&out.stdout), "SWI=flash:EOS-4.33.1F.swi\n");
}

#[test]
fn render_refuses_an_invalid_fabric_and_an_unknown_kind() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let example = std::fs::read_to_string(repo().join("examples/fabric.toml")).unwrap();
    std::fs::write(&bad, example.replace("10.1.1.8/30", "10.1.1.8/32")).unwrap();
    let out = agent(&[
        "render",
        "startup-config",
        "--fabric",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).is_empty(),
        "nothing is rendered from an invalid fabric"
    );
    assert!(text(&out.stderr).contains("leaves[3].subnet: 10.1.1.8/32 is a single host"));
    let out = agent(&["render", "dhcpd-conf", "--fabric", "examples/fabric.toml"]);
    assert_eq!(out.status.code(), Some(2), "clap rejects an unknown kind");
}

#[test]
fn help_shows_an_example_for_each_command() {
    for command in ["check", "render"] {
        let out = agent(&[command, "--help"]);
        assert!(out.status.success());
        let help = text(&out.stdout);
        assert!(help.contains("Examples:"), "{help}");
        assert!(
            help.contains(&format!("\n  ztps-agent {command} ")),
            "{help}"
        );
    }
}

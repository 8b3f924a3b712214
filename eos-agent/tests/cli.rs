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
        // What `run` would refuse, `check` reports: the VM is restarted
        // through eAPI, and [eapi] is absent.
        format!("{name}:8:1: vm.backend: backend \"eos\" restarts the VM through eAPI"),
    ];
    for line in &expected {
        assert!(
            stderr.lines().any(|l| l.starts_with(line.as_str())),
            "missing {line:?} in:\n{stderr}"
        );
    }
    assert!(stderr.contains("4 problems found"), "{stderr}");
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
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("cannot read /nonexistent/ztps-agent.toml: No such file"),
        "{stderr}"
    );
    assert!(stderr.ends_with("1 problem found\n"), "{stderr}");
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
fn render_is_for_the_host_spine_unless_another_is_named() {
    let full = "xml/tests/fabrics/full.toml";
    let out = agent(&["render", "startup-config", "--fabric", full]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("hostname dc1-spine1\n"));
    // The other spine has no VM: its domain XML does not exist.
    let out = agent(&[
        "render",
        "domain-xml",
        "--fabric",
        full,
        "--spine",
        "dc1-spine2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("spine dc1-spine2 does not host the ZTPServer"),
        "{}",
        text(&out.stderr)
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

/// The example fabric with `from` replaced by `to` (or `to` appended when
/// `from` is empty), written to a file, and
/// `FILE:LINE:COL` of the value on the line that holds `marker`.
fn hostile_fabric(from: &str, to: &str, marker: &str) -> (tempfile::TempDir, String, String) {
    let example = std::fs::read_to_string(repo().join("examples/fabric.toml")).unwrap();
    // An empty `from` appends (new tables go last, where they end no other).
    let text = if from.is_empty() {
        format!("{example}{to}")
    } else {
        assert!(example.contains(from), "{from:?} is not in the example");
        example.replacen(from, to, 1)
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostile.toml");
    std::fs::write(&file, &text).unwrap();
    let (line, content) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(marker))
        .unwrap();
    let value_at = content.find(" = ").unwrap() + 3;
    let name = file.display().to_string();
    let position = format!("{name}:{}:{}", line + 1, value_at + 1);
    (dir, name, position)
}

/// `check` rejects the hostile fabric with the problem at its position, and
/// the consumer refuses it with the very same lines and writes nothing of it.
fn rejected_everywhere(
    from: &str,
    to: &str,
    marker: &str,
    key: &str,
    problem: &str,
    consumer: &[&str],
) {
    let (dir, file, position) = hostile_fabric(from, to, marker);
    let check = agent(&["check", "--fabric", &file]);
    let check_err = text(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{check_err}");
    let expected = format!("{position}: {key}: ");
    let line = check_err
        .lines()
        .find(|l| l.starts_with(&expected))
        .unwrap_or_else(|| panic!("no {expected:?} in:\n{check_err}"));
    assert!(line.contains(problem), "{line}");
    assert!(check_err.ends_with("\n1 problem found\n"), "{check_err}");
    assert!(!check_err.contains("\nusername"), "{check_err}");

    let out = dir.path().join("out");
    let mut args: Vec<&str> = consumer.to_vec();
    args.extend(["--fabric", &file]);
    let out_arg = out.display().to_string();
    if consumer
        .iter()
        .any(|a| ["bundle", "ztpserver", "seed"].contains(a))
    {
        args.extend(["--out", &out_arg]);
    }
    let consumed = agent(&args);
    let consumed_err = text(&consumed.stderr);
    assert_eq!(
        consumed.status.code(),
        Some(1),
        "{consumer:?}: {consumed_err}"
    );
    for problem in check_err.lines().filter(|l| l.starts_with(&file)) {
        assert!(
            consumed_err.contains(problem),
            "{consumer:?} does not say {problem:?}:\n{consumed_err}"
        );
    }
    assert!(
        text(&consumed.stdout).is_empty(),
        "{consumer:?} wrote output"
    );
    assert!(!out.exists(), "{consumer:?} wrote {}", out.display());
}

const NEWLINE: &str = "contains the control character U+000A (line feed)";

#[test]
fn hostile_leaf_names_never_reach_the_startup_config() {
    rejected_everywhere(
        "leaf = \"leaf1\"",
        "leaf = \"leaf1\\nusername evil privilege 15 nopassword\"",
        "evil",
        "spines.spine1.leaves[0].leaf",
        NEWLINE,
        &["render", "startup-config"],
    );
    rejected_everywhere(
        "leaf = \"leaf1\"",
        "leaf = \"leaf1 username evil privilege 15 nopassword\"",
        "evil",
        "spines.spine1.leaves[0].leaf",
        "is not a host name",
        &["render", "startup-config-snippet"],
    );
    rejected_everywhere(
        "[spines.spine1]\n",
        "[spines.spine1]\nserial = \"JPE1\\nusername evil privilege 15 nopassword\"\n",
        "evil",
        "spines.spine1.serial",
        NEWLINE,
        &["render", "startup-config"],
    );
    rejected_everywhere(
        "interface = \"Ethernet1\"",
        "interface = \"Ethernet1\\r\\nusername evil\"",
        "evil",
        "spines.spine1.leaves[0].interface",
        "U+000D (carriage return)",
        &["render", "startup-config"],
    );
}

#[test]
fn hostile_image_names_never_reach_the_boot_config() {
    rejected_everywhere(
        "eos_image = \"EOS.swi\"",
        "eos_image = \"EOS.swi\\nSWI=flash:evil.swi\"",
        "evil",
        "defaults.eos_image",
        NEWLINE,
        &["render", "boot-config"],
    );
    rejected_everywhere(
        "eos_image = \"EOS.swi\"",
        "eos_image = \"../evil.swi\"",
        "evil",
        "defaults.eos_image",
        "is not a file name on flash",
        &["render", "boot-config"],
    );
}

#[test]
fn hostile_swix_names_never_reach_boot_extensions_or_the_manifest() {
    rejected_everywhere(
        "",
        "\n[spines.spine1.agent]\ninstall = \"swix\"\nswix_file = \"ztps-agent.swix\\nevil.swix\"\n",
        "evil",
        "spines.spine1.agent.swix_file",
        NEWLINE,
        &["render", "boot-extensions"],
    );
    rejected_everywhere(
        "",
        "\n[spines.spine1.agent]\nswix_file = \"ztps-agent.swix\\n0000  evil.swix\"\n",
        "evil",
        "spines.spine1.agent.swix_file",
        NEWLINE,
        &["bundle"],
    );
    rejected_everywhere(
        "",
        "\n[spines.spine1.agent]\nswix_file = \"../../evil.swix\"\n",
        "evil",
        "spines.spine1.agent.swix_file",
        "is not a file name on flash",
        &["bundle"],
    );
}

#[test]
fn hostile_vm_names_never_reach_the_domain_xml() {
    rejected_everywhere(
        "name = \"ztps\"",
        "name = \"ztps</name><evil/>\"",
        "evil",
        "spines.spine1.vm.name",
        "is not a host name",
        &["render", "domain-xml"],
    );
    rejected_everywhere(
        "nic_model = \"e1000\"",
        "nic_model = \"e1000\"\nmachine = \"pc\\u0000evil\"",
        "evil",
        "spines.spine1.vm.machine",
        "U+0000 (NUL)",
        &["render", "domain-xml"],
    );
}

#[test]
fn hostile_urls_never_reach_the_agent_config_or_option_67() {
    rejected_everywhere(
        "port = 8080",
        "url = \"http://172.16.130.10:8080/bootstrap\\nevil\"",
        "evil",
        "spines.spine1.ztpserver.url",
        NEWLINE,
        &["render", "agent-config"],
    );
    // The URL parser would encode the space; option 67 would carry it raw.
    rejected_everywhere(
        "port = 8080",
        "url = \"http://172.16.130.10:8080/boot strap/evil\"",
        "evil",
        "spines.spine1.ztpserver.url",
        "is not written the way it parses",
        &["render", "agent-config"],
    );
    rejected_everywhere(
        "",
        "\n[spines.spine1.agent.events]\nwebhook_url = \"https://admin:evilpw@hooks.example/x\"\n",
        "evil",
        "spines.spine1.agent.events.webhook_url",
        "takes no credentials",
        &["render", "agent-config"],
    );
    rejected_everywhere(
        "transport = \"unix-socket\"",
        "transport = \"https\"\nurl = \"https://admin:evilpw@127.0.0.1/command-api\"\ncredentials_file = \"/mnt/flash/c\"",
        "evil",
        "spines.spine1.eapi.url",
        "credentials file",
        &["render", "agent-config"],
    );
}

#[test]
fn hostile_leaf_ports_never_reach_the_ztpserver_data() {
    rejected_everywhere(
        "leaf_interface = \"Ethernet49\"",
        "leaf_interface = \"Ethernet49\\\": \\\"evil\"",
        "evil",
        "spines.spine1.leaves[0].leaf_interface",
        "is not an EOS Ethernet port",
        &["render", "ztpserver"],
    );
    rejected_everywhere(
        "leaf = \"leaf2\"",
        "leaf = \"../../etc/evil\"",
        "evil",
        "spines.spine1.leaves[1].leaf",
        "is not a host name",
        &["render", "seed"],
    );
    rejected_everywhere(
        "leaf = \"leaf2\"\nleaf_interface = \"Ethernet49\"",
        "leaf = \"leaf1\"\nleaf_interface = \"Ethernet49\" # evil",
        "evil",
        "spines.spine1.leaves[1].leaf_interface",
        "leaf1 Ethernet49 already carries a link",
        &["render", "ztpserver"],
    );
}

#[test]
fn unreasonable_files_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "#".repeat(5 * 1024 * 1024)).unwrap();
    let fifo_s = fifo.display().to_string();
    let big_s = big.display().to_string();
    let dir_s = dir.path().display().to_string();
    for (file, why) in [
        ("/dev/zero", "is a character device, not a regular file"),
        (fifo_s.as_str(), "is a FIFO, not a regular file"),
        (dir_s.as_str(), "is a directory, not a regular file"),
        (
            big_s.as_str(),
            "bytes; a configuration file may have at most 4194304 bytes (4 MiB)",
        ),
    ] {
        for args in [
            vec!["check", "--fabric", file],
            vec!["check", "--config", file],
            vec!["render", "boot-config", "--fabric", file],
        ] {
            let out = agent(&args);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(
                stderr.contains(&format!("{file}: ")) && stderr.contains(why),
                "{args:?}: {stderr}"
            );
        }
    }
}

#[test]
fn check_reports_every_input_in_one_run() {
    // A bad agent config and a bad fabric: both are reported.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("a.toml");
    std::fs::write(
        &config,
        "[dhcp]\nbootstrap_url = \"http://x/\"\nlease_time_secs = 1\n",
    )
    .unwrap();
    let out = agent(&[
        "check",
        "--config",
        config.to_str().unwrap(),
        "--fabric",
        "/dev/zero",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("a.toml:3:19: dhcp.lease_time_secs: 1 seconds is too short"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/dev/zero: is a character device"),
        "{stderr}"
    );
    assert!(stderr.ends_with("2 problems found\n"), "{stderr}");
}

#[test]
fn check_json_reports_each_problem_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("three.toml");
    std::fs::write(&file, THREE_MISTAKES).unwrap();
    let path = file.to_str().unwrap();
    let out = agent(&["check", "--json", "--config", path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["checked"], serde_json::json!([path]));
    let problems = report["problems"].as_array().unwrap();
    assert!(problems.len() >= 3, "{report:#}");
    let typo = problems
        .iter()
        .find(|p| p["key"] == "dhcp.lease_tme_secs")
        .unwrap_or_else(|| panic!("no lease_tme_secs problem in {report:#}"));
    assert_eq!(typo["file"], path);
    assert_eq!(typo["line"], 6);
    assert!(typo["column"].as_u64().unwrap() >= 1);
    assert!(
        typo["message"].as_str().unwrap().contains("unknown"),
        "{typo}"
    );

    let good = agent(&["check", "--json", "--fabric", "examples/fabric.toml"]);
    assert_eq!(good.status.code(), Some(0), "{}", text(&good.stderr));
    let report: serde_json::Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["problems"], serde_json::json!([]));
}

#[test]
fn completions_and_man_page_come_from_the_cli_itself() {
    for (shell, marker) in [
        ("bash", "complete -F _ztps__agent"),
        ("zsh", "#compdef ztps-agent"),
        ("fish", "complete -c ztps-agent"),
    ] {
        let out = agent(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        // The options of the real parser, not a hand-written list.
        assert!(
            script.contains("current-flash") && script.contains("dry-run"),
            "{shell}"
        );
    }
    let bash = text(&agent(&["completions", "bash"]).stdout);
    let syntax = Command::new("bash")
        .args(["-n", "-c", &bash])
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));
    assert_eq!(agent(&["completions", "tcsh"]).status.code(), Some(2));

    let man = text(&agent(&["man"]).stdout);
    assert!(
        man.starts_with(".ie") || man.contains(".TH ztps-agent 1"),
        "{man}"
    );
    assert!(
        man.contains("bundle") && man.contains("completions"),
        "{man}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = agent(&["man", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(dir.path().join("ztps-agent-bundle.1")).unwrap();
    assert!(page.contains("current\\-flash"), "{page}");
    if ztps_testkit::tools_available("man page renders", &["man"]) {
        let shown = Command::new("man")
            .arg("-l")
            .arg(dir.path().join("ztps-agent.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        assert!(shown.status.success(), "{}", text(&shown.stderr));
        assert!(text(&shown.stdout).contains("ztps-agent"));
    }
}

#[test]
fn a_64_bit_kernel_under_linux32_is_not_refused() {
    // setarch i686 makes uname say i686, as on an EOS image with a 32-bit
    // userland; the kernel is still 64-bit, so `run` goes on to read its
    // config (and fails there) instead of refusing the kernel.
    if !ztps_testkit::tools_available("a_64_bit_kernel_under_linux32_is_not_refused", &["setarch"])
    {
        return;
    }
    let out = Command::new("setarch")
        .arg("i686")
        .arg(env!("CARGO_BIN_EXE_ztps-agent"))
        .args([
            "run",
            "--no-syslog",
            "--config",
            "/nonexistent/ztps-agent.toml",
        ])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("32-bit kernel"), "{err}");
    assert!(err.contains("/nonexistent/ztps-agent.toml"), "{err}");
}

/// A fabric whose leaves' configs are the operator's files, in a folder
/// like AVD's intended/configs: one leaf's file is missing and one leaf
/// configures another address on an uplink than the fabric plans.
#[test]
fn check_names_a_missing_leaf_file_and_a_wrong_uplink_address() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(repo().join("examples/fabric-2spine.toml")).unwrap();
    let fabric = dir.path().join("fabric.toml");
    std::fs::write(
        &fabric,
        example.replace(
            "source = \"built-in\"",
            "source = \"files\"\ndir = \"intended/configs\"",
        ),
    )
    .unwrap();
    let configs = dir.path().join("intended/configs");
    std::fs::create_dir_all(&configs).unwrap();
    for n in 1..=8 {
        if n == 5 {
            continue;
        }
        let golden = std::fs::read_to_string(
            repo().join(format!("xml/tests/golden/2spine-leaves/leaf{n}.cfg")),
        )
        .unwrap();
        let text = if n == 3 {
            golden.replace("ip address 10.1.2.5/31", "ip address 10.1.2.9/31")
        } else {
            golden
        };
        std::fs::write(configs.join(format!("leaf{n}.cfg")), text).unwrap();
    }
    let out = agent(&["check", "--fabric", fabric.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let leaf3 = configs.join("leaf3.cfg").display().to_string();
    let line = std::fs::read_to_string(configs.join("leaf3.cfg"))
        .unwrap()
        .lines()
        .position(|l| l.contains("10.1.2.9/31"))
        .unwrap()
        + 1;
    let leaf5 = configs.join("leaf5.cfg").display().to_string();
    assert_eq!(
        stderr,
        format!(
            "{leaf3}:{line}: interface Ethernet50: ip address 10.1.2.9/31, but the fabric plans 10.1.2.5/31 (uplink to spine2 Ethernet3); the leaf's DHCP lease and the spine's side use the planned one\n\
             {leaf5}: missing: leaf leaf5 is planned with config source \"files\"; put its config here (AVD writes intended/configs/leaf5.cfg)\n\
             2 problems found\n"
        )
    );
    // Rendering refuses with the same problems and writes nothing.
    let data = dir.path().join("data");
    let out = agent(&[
        "render",
        "ztpserver",
        "--fabric",
        fabric.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("{leaf5}: missing")),
        "{}",
        text(&out.stderr)
    );
    assert!(!data.exists());
}

/// A template with a mistake: `check` names the template's file and line
/// once (not once per leaf); the example template renders every leaf.
#[test]
fn check_reports_a_template_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(repo().join("examples/fabric-2spine.toml")).unwrap();
    let fabric = dir.path().join("fabric.toml");
    std::fs::write(
        &fabric,
        example.replace(
            "source = \"built-in\"",
            "source = \"template\"\ntemplate = \"leaf.j2\"",
        ),
    )
    .unwrap();
    let template = dir.path().join("leaf.j2");
    std::fs::copy(repo().join("examples/templates/leaf.j2"), &template).unwrap();
    let out = agent(&["check", "--fabric", fabric.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    std::fs::write(
        &template,
        "hostname {{ hostname }}\nrouter bgp {{ bgp_asn }}\n",
    )
    .unwrap();
    let out = agent(&["check", "--fabric", fabric.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("{}:2: undefined value", template.display()))
            && stderr.ends_with("\n1 problem found\n"),
        "{stderr}"
    );
}

/// `render ztpserver` writes each leaf's config from its own source: the
/// fabric's (built in) or the one its `[leaves.NAME]` names (a template).
#[test]
fn render_ztpserver_takes_each_leafs_config_from_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(repo().join("examples/fabric-2spine.toml")).unwrap();
    let fabric = dir.path().join("fabric.toml");
    std::fs::write(
        &fabric,
        example.replace(
            "source = \"built-in\"",
            "source = \"built-in\"\ntemplate = \"leaf.j2\"\n\n[leaves.leaf2]\nconfig = \"template\"",
        ),
    )
    .unwrap();
    std::fs::copy(
        repo().join("examples/templates/leaf.j2"),
        dir.path().join("leaf.j2"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = agent(&[
        "render",
        "ztpserver",
        "--fabric",
        fabric.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let config =
        |leaf: &str| std::fs::read_to_string(data.join("files/configs").join(leaf)).unwrap();
    assert_eq!(
        config("leaf1"),
        std::fs::read_to_string(repo().join("xml/tests/golden/2spine-leaves/leaf1.cfg")).unwrap()
    );
    assert!(config("leaf2").contains("from examples/templates/leaf.j2"));
    assert!(config("leaf2").contains("   ip address 10.1.2.3/31\n"));
    let neighbordb = std::fs::read_to_string(data.join("neighbordb")).unwrap();
    assert!(
        neighbordb.contains("\"Ethernet49\": \"spine1:Ethernet8\""),
        "{neighbordb}"
    );
}

//! The rendered ZTPServer data, loaded into the real ztpserver 2.1.0 (PyPI,
//! in the project's venv) and served to leaves through its WSGI application.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use ztps_appliance::ztpserver::{self, server_conf};
use ztps_appliance::{LeafLink, NodeIdentifier, ZtpsFabric};

fn venv_python() -> Option<std::path::PathBuf> {
    let venv = std::env::var("ZTPS_VENV").unwrap_or_else(|_| "/var/cache/ztps-eos/venv".into());
    let python = Path::new(&venv).join("bin/python");
    let ok = python.is_file()
        && Command::new(&python)
            .args(["-c", "import ztpserver.app"])
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    let why =
        format!("ztpserver is not installed in {venv} (ci/test installs ci/python/image.txt)");
    if ztps_testkit::netns_required() {
        panic!("{why}, and ZTPS_REQUIRE_NETNS=1 forbids skipping");
    }
    eprintln!("SKIPPED ztpserver_real: {why}");
    None
}

fn leaf(name: &str, spine_if: &str, leaf_if: &str, n: u8, serial: Option<&str>) -> LeafLink {
    LeafLink {
        interface: spine_if.into(),
        leaf: name.into(),
        leaf_interface: Some(leaf_if.into()),
        subnet: format!("10.0.0.{}/31", 2 * n).parse().unwrap(),
        serial: serial.map(Into::into),
        system_mac: None,
        image: None,
        extensions: None,
        speed: None,
    }
}

/// Writes the rendered files plus the wheel's stock actions into a data root.
fn data_root(python: &Path, fabric: &ZtpsFabric, dir: &Path) -> std::path::PathBuf {
    let root = dir.join("data");
    let site = Command::new(python)
        .args([
            "-c",
            "import ztpserver, os; print(os.path.dirname(os.path.dirname(ztpserver.__file__)))",
        ])
        .output()
        .unwrap();
    let site = String::from_utf8(site.stdout).unwrap();
    let stock = Path::new(site.trim()).join("usr/share/ztpserver");
    let copy = Command::new("cp")
        .arg("-a")
        .arg(stock.join("."))
        .arg(&root)
        .status();
    std::fs::create_dir_all(&root).unwrap();
    assert!(copy.is_ok(), "copy stock data from {}", stock.display());
    for file in ztpserver::render(fabric).unwrap() {
        let path = root.join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, file.contents).unwrap();
    }
    std::fs::create_dir_all(root.join("nodes")).unwrap();
    let conf = server_conf("http://192.0.2.10:8080", fabric.identifier)
        .unwrap()
        .replace(
            "data_root = /usr/share/ztpserver",
            &format!("data_root = {}", root.display()),
        );
    let conf_path = dir.join("ztpserver.conf");
    std::fs::write(&conf_path, conf).unwrap();
    conf_path
}

fn run_check(python: &Path, conf: &Path, cases: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ztpserver_check.py");
    let out = Command::new(python)
        .arg(script)
        .arg(conf)
        .arg(cases.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ztpserver check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn lldp(port: &str) -> Value {
    json!({"Ethernet49": [{"device": "spine1", "port": port}]})
}

#[test]
fn each_leaf_receives_its_own_definition_and_config() {
    let Some(python) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Short interface forms in the input, as operators type them.
    let fabric = ZtpsFabric {
        spine: "spine1".into(),
        leaves: vec![
            leaf("leaf1", "Ethernet3", "Ethernet49", 0, None),
            leaf("leaf2", "Ethernet4", "Ethernet49", 1, None),
        ],
        identifier: NodeIdentifier::SerialNumber,
        software: Default::default(),
        configs: Default::default(),
    };
    let conf = data_root(&python, &fabric, dir.path());
    let cases = json!([
        {"serial": "SN-LEAF1", "neighbors": lldp("Ethernet3")},
        {"serial": "SN-LEAF2", "neighbors": lldp("Ethernet4")},
        {"serial": "SN-STRAY", "neighbors": lldp("Ethernet9")},
    ]);
    let result = run_check(&python, &conf, &cases);
    assert_eq!(result["neighbordb_valid"], true, "{result}");
    assert_eq!(result["patterns"], 2, "{result}");
    for (i, name, addr) in [(0, "leaf1", "10.0.0.1/31"), (1, "leaf2", "10.0.0.3/31")] {
        let case = &result["cases"][i];
        assert_eq!(case["post_status"], 201, "{case}");
        assert_eq!(case["get_status"], 200, "{case}");
        assert_eq!(case["definition_name"], name, "{case}");
        assert_eq!(
            case["config_urls"][0],
            format!("files/configs/{name}"),
            "{case}"
        );
        assert_eq!(case["config_status"], 200, "{case}");
        let config = case["config"].as_str().unwrap();
        assert!(config.contains(&format!("hostname {name}\n")), "{config}");
        assert!(config.contains(&format!("ip address {addr}\n")), "{config}");
    }
    // A switch on a port the fabric does not list matches nothing.
    assert_eq!(result["cases"][2]["post_status"], 400, "{result}");
}

#[test]
fn lldp_short_port_names_do_not_match_issue_172() {
    // ZTPServer compares the remote port exactly: a neighbordb written with
    // `Et3` would never match what EOS LLDP reports (`Ethernet3`). Ours is
    // written in the long form, so the long form matches and `Et3` does not.
    let Some(python) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let fabric = ZtpsFabric {
        spine: "spine1".into(),
        leaves: vec![leaf("leaf1", "Ethernet3", "Ethernet49", 0, None)],
        identifier: NodeIdentifier::SerialNumber,
        software: Default::default(),
        configs: Default::default(),
    };
    let conf = data_root(&python, &fabric, dir.path());
    let cases = json!([
        {"serial": "SN-SHORT", "neighbors": lldp("Et3")},
        {"serial": "SN-LONG", "neighbors": lldp("Ethernet3")},
    ]);
    let result = run_check(&python, &conf, &cases);
    assert_eq!(result["cases"][0]["post_status"], 400, "{result}");
    assert_eq!(result["cases"][1]["post_status"], 201, "{result}");
}

#[test]
fn serial_pinned_pattern_serves_only_that_switch() {
    let Some(python) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let fabric = ZtpsFabric {
        spine: "spine1".into(),
        leaves: vec![
            leaf("leaf1", "Ethernet3", "Ethernet49", 0, Some("JPE0001")),
            leaf("leaf2", "Ethernet7", "Ethernet49", 1, Some("JPE0002")),
        ],
        identifier: NodeIdentifier::SerialNumber,
        software: Default::default(),
        configs: Default::default(),
    };
    let conf = data_root(&python, &fabric, dir.path());
    let cases = json!([
        {"serial": "JPE9999", "neighbors": lldp("Ethernet3")},
        {"serial": "JPE0001", "neighbors": lldp("Ethernet3")},
        {"serial": "JPE0002", "neighbors": lldp("Ethernet3")},
    ]);
    let result = run_check(&python, &conf, &cases);
    assert_eq!(result["cases"][0]["post_status"], 400, "{result}");
    // The node folder exists already: ZTPServer answers 409 and serves it.
    assert_eq!(result["cases"][1]["post_status"], 409, "{result}");
    assert_eq!(result["cases"][1]["get_status"], 200, "{result}");
    assert_eq!(result["cases"][1]["definition_name"], "leaf1", "{result}");
    assert_eq!(result["cases"][1]["config_status"], 200, "{result}");
    // Topology validation still applies: the pinned switch on the wrong port is refused.
    assert_eq!(result["cases"][2]["get_status"], 400, "{result}");
}

/// A leaf told to run an EOS image and install an extension: the real
/// ZTPServer loads the definition, has the code of both actions, and serves
/// the files from `files/images/` and `files/extensions/` (on the appliance,
/// the data disk's folders).
#[test]
fn install_image_and_extension_are_served_with_their_files() {
    use ztps_appliance::ztpserver::{ImageInstall, LeafInstall};
    let Some(python) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let fabric = ZtpsFabric {
        spine: "spine1".into(),
        leaves: vec![
            leaf("leaf1", "Ethernet3", "Ethernet49", 0, None),
            leaf("leaf2", "Ethernet4", "Ethernet49", 1, None),
        ],
        identifier: NodeIdentifier::SerialNumber,
        software: [(
            "leaf1".to_string(),
            LeafInstall {
                image: Some(ImageInstall {
                    path: "images/EOS-4.32.2F.swi".into(),
                    version: "4.32.2F".into(),
                }),
                extensions: vec!["extensions/TerminAttr-1.29.0-1.swix".into()],
            },
        )]
        .into(),
        configs: Default::default(),
    };
    let conf = data_root(&python, &fabric, dir.path());
    // The data disk's contents, where the appliance mounts them.
    let files = dir.path().join("data/files");
    std::fs::create_dir_all(files.join("images")).unwrap();
    std::fs::create_dir_all(files.join("extensions")).unwrap();
    std::fs::write(files.join("images/EOS-4.32.2F.swi"), vec![b'x'; 4096]).unwrap();
    std::fs::write(files.join("extensions/TerminAttr-1.29.0-1.swix"), b"swix").unwrap();

    let cases = json!([
        {"serial": "SN-LEAF1", "neighbors": lldp("Ethernet3")},
        {"serial": "SN-LEAF2", "neighbors": lldp("Ethernet4")},
    ]);
    let result = run_check(&python, &conf, &cases);
    let leaf1 = &result["cases"][0];
    assert_eq!(leaf1["get_status"], 200, "{leaf1}");
    let actions: Vec<&str> = leaf1["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["install_image", "install_extension", "replace_config"]
    );
    assert_eq!(
        leaf1["actions"][0]["attributes"],
        json!({"url": "files/images/EOS-4.32.2F.swi", "version": "4.32.2F"})
    );
    assert_eq!(
        leaf1["actions"][1]["attributes"],
        json!({"url": "files/extensions/TerminAttr-1.29.0-1.swix"})
    );
    for action in ["install_image", "install_extension", "replace_config"] {
        assert_eq!(leaf1["action_status"][action], 200, "{leaf1}");
    }
    assert_eq!(
        leaf1["files"]["files/images/EOS-4.32.2F.swi"],
        json!({"status": 200, "length": 4096})
    );
    assert_eq!(
        leaf1["files"]["files/extensions/TerminAttr-1.29.0-1.swix"],
        json!({"status": 200, "length": 4})
    );
    assert_eq!(leaf1["config_status"], 200, "{leaf1}");
    // leaf2 installs nothing: its definition is the config alone.
    let leaf2 = &result["cases"][1];
    assert_eq!(leaf2["actions"].as_array().unwrap().len(), 1, "{leaf2}");
    assert_eq!(leaf2["actions"][0]["action"], "replace_config", "{leaf2}");
}

/// A leaf's config from one source.
type Render<'a> = dyn Fn(&ztps_config::LeafPlan) -> String + 'a;

/// The 2-spine example fabric, its leaves' configs from each source (built
/// in, the operator's files, a template; also one leaf overriding the
/// fabric's source): the real ZTPServer loads every data set and serves
/// each leaf, which LLDP shows cabled to both spines, its own definition and
/// its config with both uplinks.
#[test]
fn every_config_source_of_a_two_spine_fabric_is_served() {
    let Some(python) = venv_python() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fabric = ztps_config::load_fabric(&[root.join("examples/fabric-2spine.toml")]).unwrap();
    let host = fabric.host_spine().unwrap();
    let plans = fabric.leaf_plans();
    let template = std::fs::read_to_string(root.join("examples/templates/leaf.j2")).unwrap();
    let built_in = |plan: &ztps_config::LeafPlan| ztps_render::leaf_config(&fabric, plan);
    let templated = |plan: &ztps_config::LeafPlan| {
        ztps_render::render_template("leaf.j2", &template, &fabric, plan).unwrap()
    };
    // The operator's files: what AVD would have written, checked as
    // `check` does before they are served.
    let files = |plan: &ztps_config::LeafPlan| {
        let text = templated(plan).replace("from examples/templates/leaf.j2", "by AVD");
        assert_eq!(ztps_render::uplink_mismatches(plan, &text), []);
        text
    };
    let mixed = |plan: &ztps_config::LeafPlan| {
        if plan.hostname == "leaf2" {
            files(plan)
        } else {
            built_in(plan)
        }
    };
    let sources: [(&str, &Render<'_>); 4] = [
        ("built-in", &built_in),
        ("files", &files),
        ("template", &templated),
        ("per-leaf", &mixed),
    ];
    for (source, render) in sources {
        let configs = plans
            .iter()
            .map(|p| (p.hostname.clone(), render(p)))
            .collect();
        let data = ZtpsFabric::of_host(host, &plans, configs);
        let dir = tempfile::tempdir().unwrap();
        let conf = data_root(&python, &data, dir.path());
        let cases: Vec<Value> = (1..=8)
            .map(|n| {
                json!({
                    "serial": format!("SN-LEAF{n}"),
                    "neighbors": {
                        "Ethernet49": [{"device": "spine1", "port": format!("Ethernet{n}")}],
                        "Ethernet50": [{"device": "spine2", "port": format!("Ethernet{n}")}],
                    },
                })
            })
            .collect();
        let result = run_check(&python, &conf, &Value::Array(cases));
        assert_eq!(result["neighbordb_valid"], true, "{source}: {result}");
        assert_eq!(result["patterns"], 8, "{source}: {result}");
        for (i, plan) in plans.iter().enumerate() {
            let case = &result["cases"][i];
            assert_eq!(case["post_status"], 201, "{source}: {case}");
            assert_eq!(case["definition_name"], plan.hostname, "{source}: {case}");
            assert_eq!(case["config_status"], 200, "{source}: {case}");
            let served = case["config"].as_str().unwrap();
            assert_eq!(served, render(plan), "{source}: {}", plan.hostname);
            for uplink in &plan.uplinks {
                assert!(
                    served.contains(&format!("   ip address {}\n", uplink.address)),
                    "{source}: {served}"
                );
            }
        }
    }
}

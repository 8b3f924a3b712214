//! Golden tests: every artifact of the example fabric and of a fabric with
//! every option on is compared with a file under tests/golden/. Run with
//! `ZTPS_BLESS=1` to rewrite the files after an intended change, then review
//! the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ztps_config::{Fabric, load_fabric};
use ztps_render::{Artifact, leaf_config, render};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn example_fabric() -> Fabric {
    load_fabric(&[root().join("../examples/fabric.toml")]).unwrap()
}

fn full_fabric() -> Fabric {
    load_fabric(&[root().join("tests/fabrics/full.toml")]).unwrap()
}

fn check_golden(path: &Path, actual: &str) {
    if std::env::var("ZTPS_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        eprintln!("blessed {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with ZTPS_BLESS=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the rendering (ZTPS_BLESS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

fn check_spine(fabric: &Fabric, spine: &str, dir: &str) {
    let spine = fabric.spine(Some(spine)).unwrap();
    for artifact in Artifact::ALL.into_iter().filter(|a| a.applies_to(spine)) {
        let text = render(artifact, spine).unwrap();
        check_golden(
            &root()
                .join("tests/golden")
                .join(dir)
                .join(artifact.file_name()),
            &text,
        );
    }
}

#[test]
fn example_fabric_matches_golden_files() {
    check_spine(&example_fabric(), "spine1", "example");
}

#[test]
fn full_fabric_matches_golden_files() {
    let fabric = full_fabric();
    check_spine(&fabric, "dc1-spine1", "full-spine1");
    check_spine(&fabric, "dc1-spine2", "full-spine2");
}

fn two_spine_fabric() -> Fabric {
    load_fabric(&[root().join("../examples/fabric-2spine.toml")]).unwrap()
}

/// examples/fabric-2spine.toml: both spines' files and every leaf's
/// built-in config, for a reviewer to read.
#[test]
fn two_spine_fabric_matches_golden_files() {
    let fabric = two_spine_fabric();
    check_spine(&fabric, "spine1", "2spine-spine1");
    check_spine(&fabric, "spine2", "2spine-spine2");
    let plans = fabric.leaf_plans();
    assert_eq!(plans.len(), 8);
    for plan in &plans {
        check_golden(
            &root()
                .join("tests/golden/2spine-leaves")
                .join(format!("{}.cfg", plan.hostname)),
            &leaf_config(&fabric, plan),
        );
    }
}

#[test]
fn examples_agent_config_is_what_render_gives() {
    let spine = example_fabric().spine(None).unwrap().clone();
    let text = render(Artifact::AgentConfig, &spine).unwrap();
    check_golden(&root().join("../examples/ztps-agent.toml"), &text);
}

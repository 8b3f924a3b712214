//! The end-to-end lab (`ci/lab/run`, what `ci/demo` shows), as a test: a
//! spine running eos-sim and this agent, the real ZTPServer behind the
//! agent's bridge, and three leaves running busybox udhcpc with an Arista
//! vendor class, each in its own network namespace. Each leaf must lease its
//! point-to-point address, get the spine as router and the bootstrap URL,
//! fetch ZTPServer's bootstrap script through the spine, and be matched by
//! LLDP to its own definition.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn three_leaves_provision_through_the_spine() {
    ztps_testkit::require_netns!("busybox", "curl");
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

    let out = Command::new(root.join("ci/lab/run"))
        .arg("--results")
        .arg(results.path())
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
    }
    // The VM starts detached from the bridge (the bridge did not exist yet):
    // exactly one restart attaches it, and a healthy VM is not restarted again.
    assert_eq!(report["vm_restarts"], 1, "{stdout}");
}

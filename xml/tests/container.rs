//! The container form: a spine whose appliance runs under EOS
//! `container-manager` gets that configuration instead of
//! `virtual-machine`, and an agent config for the container backend.
//! Golden files under tests/golden/container-spine1 (`ZTPS_BLESS=1`
//! rewrites them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ztps_config::{Fabric, VmBackend, load_fabric};
use ztps_render::{Artifact, render};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn fabric() -> Fabric {
    load_fabric(&[root().join("tests/fabrics/container.toml")]).unwrap()
}

fn check_golden(path: &Path, actual: &str) {
    if std::env::var("ZTPS_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (ZTPS_BLESS=1 creates it)", path.display()));
    assert!(
        expected == actual,
        "{} differs (ZTPS_BLESS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

#[test]
fn container_spine_matches_golden_files() {
    let fabric = fabric();
    let spine = fabric.spine(None).unwrap();
    for artifact in [
        Artifact::StartupConfig,
        Artifact::StartupConfigSnippet,
        Artifact::AgentConfig,
    ] {
        let text = render(artifact, spine).unwrap();
        check_golden(
            &root()
                .join("tests/golden/container-spine1")
                .join(artifact.file_name()),
            &text,
        );
    }
}

#[test]
fn container_spine_has_container_manager_and_no_virtual_machine() {
    let fabric = fabric();
    let spine = fabric.spine(None).unwrap();
    let config = render(Artifact::StartupConfig, spine).unwrap();
    assert!(!config.contains("virtual-machine"), "{config}");
    assert!(config.contains("\ncontainer-manager\n   "), "{config}");
    assert!(
        config.contains("\n      image ztps-appliance:2026.12\n"),
        "{config}"
    );
    assert!(
        config.contains("--network=ztps --ip=172.16.130.10 --mac-address=52:54:00:00:00:10"),
        "{config}"
    );
    assert!(config.contains("\n      on-boot\n"), "{config}");
    assert!(
        config.contains("flash:ztps-appliance-2026.12.tar"),
        "{config}"
    );

    let agent = spine.agent_config();
    let vm = agent.vm.unwrap();
    assert_eq!(vm.backend, VmBackend::Container);
    let container = vm.container.unwrap();
    assert_eq!(container.image, "ztps-appliance:2026.12");
    assert_eq!(container.address.to_string(), "172.16.130.10/24");
    assert_eq!(
        container.archive.as_deref(),
        Some(Path::new("/mnt/flash/ztps-appliance-2026.12.tar"))
    );
    // The rendered agent config reads back as the same config.
    let text = render(Artifact::AgentConfig, spine).unwrap();
    let back = ztps_config::parse_agent_config("ztps-agent.toml", &text).unwrap();
    assert_eq!(back.vm.unwrap().container, Some(container));
}

#[test]
fn a_vm_spine_still_renders_virtual_machine() {
    let spine = load_fabric(&[root().join("../examples/fabric.toml")]).unwrap();
    let spine = spine.spine(None).unwrap();
    let config = render(Artifact::StartupConfig, spine).unwrap();
    assert!(config.contains("virtual-machine ztps\n"), "{config}");
    assert!(!config.contains("container-manager"), "{config}");
}

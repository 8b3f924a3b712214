//! The libvirt backend against real libvirt: virsh with the built-in test
//! driver (no daemon). Every virsh call opens a fresh test connection, so
//! state changes do not carry over from one call to the next; the tests
//! use that to see each step succeed or fail as libvirt says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ztps_testkit::tools_available;
use ztps_vm::libvirt::LibvirtVm;
use ztps_vm::{MacAddr, VmControl, VmError, VmInterface, VmState};

macro_rules! require_virsh {
    () => {
        if !tools_available(module_path!(), &["virsh"]) {
            return;
        }
    };
}

/// A test-driver node file with a shut-off domain `ztps` and a running
/// domain `up`, each with a NIC on br0.
struct Node {
    path: PathBuf,
}

impl Node {
    fn new(tag: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("ztps-vm-node-{}-{tag}.xml", std::process::id()));
        std::fs::write(
            &path,
            r#"<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>ztps</name>
    <memory>1048576</memory>
    <os><type>hvm</type></os>
    <devices>
      <interface type='bridge'>
        <source bridge='br0'/>
        <mac address='08:00:27:85:0c:f8'/>
        <model type='virtio'/>
      </interface>
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
  <domain type='test'>
    <name>up</name>
    <memory>1048576</memory>
    <os><type>hvm</type></os>
    <devices>
      <interface type='bridge'>
        <source bridge='br0'/>
        <mac address='52:54:00:ab:cd:ef'/>
        <target dev='ztap1'/>
      </interface>
    </devices>
  </domain>
</node>
"#,
        )
        .unwrap();
        Node { path }
    }

    fn uri(&self) -> String {
        format!("test://{}", self.path.display())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::test]
async fn state_and_interfaces_of_the_default_test_domain() {
    require_virsh!();
    let vm = LibvirtVm::new("test:///default", "test").unwrap();
    assert_eq!(vm.state().await.unwrap(), VmState::Running);
    assert_eq!(
        vm.interfaces().await.unwrap(),
        vec![VmInterface {
            tap: Some("testnet0".into()),
            mac: "aa:bb:cc:dd:ee:ff".parse::<MacAddr>().unwrap(),
            host_ifindex: None
        }]
    );
}

#[tokio::test]
async fn restarting_a_running_domain_destroys_then_starts_it() {
    require_virsh!();
    let vm = LibvirtVm::new("test:///default", "test").unwrap();
    // destroy succeeds; the start runs on a fresh test connection where the
    // domain is running again, so libvirt refuses it: the error is libvirt's.
    let err = vm.restart("test").await.unwrap_err();
    match err {
        VmError::Virsh { command, stderr } => {
            assert!(command.contains(" start test"), "{command}");
            assert!(stderr.contains("already active"), "{stderr}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn restarting_a_shut_off_domain_only_starts_it() {
    require_virsh!();
    let node = Node::new("off");
    let vm = LibvirtVm::new(&node.uri(), "ztps").unwrap();
    assert_eq!(vm.state().await.unwrap(), VmState::ShutOff);
    // Only `start` runs (a `destroy` of a shut-off domain would fail).
    vm.restart("detached").await.unwrap();
    let ifs = vm.interfaces().await.unwrap();
    assert_eq!(ifs.len(), 1);
    assert_eq!(ifs[0].mac.to_string(), "08:00:27:85:0c:f8");
}

#[tokio::test]
async fn a_running_domain_reports_its_tap() {
    require_virsh!();
    let node = Node::new("up");
    let vm = LibvirtVm::new(&node.uri(), "up").unwrap();
    assert_eq!(vm.state().await.unwrap(), VmState::Running);
    assert_eq!(
        vm.interfaces().await.unwrap(),
        vec![VmInterface {
            tap: Some("ztap1".into()),
            mac: "52:54:00:ab:cd:ef".parse().unwrap(),
            host_ifindex: None
        }]
    );
}

#[tokio::test]
async fn an_unknown_domain_is_libvirts_error() {
    require_virsh!();
    let vm = LibvirtVm::new("test:///default", "nope").unwrap();
    let err = vm.state().await.unwrap_err();
    assert!(
        matches!(&err, VmError::Virsh { stderr, .. } if stderr.contains("failed to get domain 'nope'")),
        "{err}"
    );
    let err = vm.restart("x").await.unwrap_err();
    assert!(matches!(err, VmError::Virsh { .. }), "{err}");
}

#[tokio::test]
async fn a_missing_virsh_is_a_spawn_error_with_a_hint() {
    let vm = LibvirtVm::new("test:///default", "test")
        .unwrap()
        .with_program("/nonexistent/virsh");
    let err = vm.state().await.unwrap_err();
    assert!(matches!(err, VmError::VirshSpawn { .. }), "{err}");
    assert!(err.to_string().contains("libvirt-clients"), "{err}");
}

//! The client eos-sim exists for: ZTPServer's own bootstrap script, as the
//! real ZTPServer serves it, run unmodified (ci/lab/leaf-ztp) against an
//! eos-sim in ZTP mode. It must reach "ZTP bootstrap completed
//! successfully!", leave the served startup-config on the flash, and a
//! reload must boot the switch into it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::sim_binary;
use ztps_testkit::{Netns, require_netns, skip_or_fail, venv_program, wait_for, workspace_root};

const STARTUP_CONFIG: &str = "! Day-1 startup-config of leaf1.\n\
hostname leaf1\n\
!\n\
ip routing\n\
!\n\
interface Ethernet49\n   \
   description uplink to spine1 Ethernet1\n   \
   no switchport\n   \
   ip address 10.1.1.1/31\n\
!\n\
ip route 0.0.0.0/0 10.1.1.0\n\
!\n\
end\n";

/// Kills and reaps a child when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The venv's python, if it has what the bootstrap imports and ZTPServer.
fn bootstrap_python() -> Option<PathBuf> {
    let python = venv_program("python")?;
    venv_program("ztps")?;
    let ok = Command::new(&python)
        .args(["-c", "import jsonrpclib, requests, six"])
        .output()
        .ok()?
        .status
        .success();
    ok.then_some(python)
}

/// ZTPServer's data: its shipped bootstrap and actions, plus one leaf
/// matched by LLDP (as ztps-agent renders them).
fn ztpserver_data(python: &Path, dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let site = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .unwrap();
    let site = String::from_utf8(site.stdout).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(format!("{}/usr/share/ztpserver/.", site.trim()))
        .arg(&data)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        data.join("neighbordb"),
        "patterns:\n  - name: \"leaf1\"\n    definition: \"leaf1\"\n    interfaces:\n      - \"Ethernet49\": \"spine1:Ethernet1\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(data.join("definitions")).unwrap();
    std::fs::write(
        data.join("definitions/leaf1"),
        "name: \"leaf1\"\nactions:\n  - name: \"startup-config of leaf1\"\n    action: \"replace_config\"\n    attributes:\n      url: \"files/configs/leaf1\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(data.join("files/configs")).unwrap();
    std::fs::write(data.join("files/configs/leaf1"), STARTUP_CONFIG).unwrap();
    let conf = dir.join("ztpserver.conf");
    std::fs::write(
        &conf,
        format!(
            "[default]\ndata_root = {}\nidentifier = serialnumber\nserver_url = http://127.0.0.1:8080\n\
             logging = True\nconsole_logging = True\ndisable_topology_validation = False\n\n\
             [server]\ninterface = 127.0.0.1\nport = 8080\n\n[bootstrap]\nfilename = bootstrap\n\n\
             [neighbordb]\nfilename = neighbordb\n",
            data.display()
        ),
    )
    .unwrap();
    conf
}

fn fastcli(socket: &Path, script: &str) -> String {
    let out = Command::new(sim_binary())
        .args(["fastcli", "--socket"])
        .arg(socket)
        .args(["-p", "15", "-A", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "FastCli {script:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn ztpservers_bootstrap_completes_and_the_leaf_reloads_into_its_config() {
    require_netns!("ip", "curl", "unshare");
    let Some(python) = bootstrap_python() else {
        skip_or_fail(
            "bootstrap",
            "no venv with ztpserver, jsonrpclib, requests and six (ci/python/image.txt, lab.txt)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let leaf_dir = dir.path().join("leaf");
    let flash = leaf_dir.join("flash");
    std::fs::create_dir_all(&flash).unwrap();
    let socket = leaf_dir.join("eos-sim.sock");
    let conf = ztpserver_data(&python, dir.path());
    let lldp = dir.path().join("lldp.json");
    std::fs::write(
        &lldp,
        r#"{"neighbors": [{"port": "Ethernet49", "system_name": "spine1", "port_id": "Ethernet1"}]}"#,
    )
    .unwrap();

    let ns = Netns::new("zbt");
    ns.ip(&[
        "link", "add", "et49", "type", "veth", "peer", "name", "peer0",
    ]);
    ns.ip(&["link", "set", "et49", "up"]);
    ns.ip(&["link", "set", "peer0", "up"]);
    // What DHCP gave the leaf in ZTP mode; the reload must replace it.
    ns.ip(&["addr", "add", "10.1.1.99/24", "dev", "et49"]);

    let _ztps = Reaped(
        ns.command(venv_program("ztps").unwrap())
            .arg("--conf")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut sim = ns.command(sim_binary());
    sim.args(["--http", "127.0.0.1:80", "--unix-socket"])
        .arg(&socket)
        .arg("--flash")
        .arg(&flash)
        .arg("--lldp-file")
        .arg(&lldp)
        .args([
            "--serial",
            "BOOT0001",
            "--model",
            "DCS-7050SX3-48YC8",
            "--system-mac",
            "00:1c:73:00:00:01",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    let _sim = Reaped(sim.spawn().unwrap());
    wait_for("eos-sim's socket", Duration::from_secs(20), || {
        socket.exists().then_some(())
    });
    // In ZTP mode eAPI is shut down: the bootstrap must turn it on itself.
    assert_eq!(
        fastcli(&socket, "show management api http-commands | grep running"),
        ""
    );
    assert_eq!(
        fastcli(&socket, "show hostname | include Hostname"),
        "Hostname: localhost\n"
    );

    let bin = Path::new(sim_binary()).parent().unwrap();
    let out = ns
        .command(workspace_root().join("ci/lab/leaf-ztp"))
        .arg(&leaf_dir)
        .arg("http://127.0.0.1:8080/bootstrap")
        .env("ZTPS_BIN", bin)
        .env("ZTPS_VENV", python.parent().unwrap().parent().unwrap())
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "bootstrap failed:\n{log}");
    assert!(
        log.contains("BOOT0001: ZTP bootstrap completed successfully!"),
        "{log}"
    );
    // It found eAPI running at its first look (no 3 s wait) and reported LLDP.
    assert!(!log.contains("Waiting for CommandAPI"), "{log}");
    assert!(log.contains("status=201"), "{log}");
    assert_eq!(
        std::fs::read_to_string(flash.join("startup-config")).unwrap(),
        STARTUP_CONFIG
    );
    // The bootstrap took EOS's own path (eAPI on the unix socket, no user),
    // and its config is in the running config, not saved.
    assert!(log.contains("unix:/var/run/command-api.sock"), "{log}");
    let running = fastcli(&socket, "show running-config");
    assert!(!running.contains("username ztps"), "{running}");
    assert!(
        running.contains(
            "management api http-commands\n   no protocol https\n   protocol unix-socket\n   no shutdown\n"
        ),
        "{running}"
    );

    // EOS's ZeroTouch reboots the switch once the bootstrap exits 0.
    std::fs::write(flash.join("boot-config"), "SWI=flash:EOS-4.34.1F.swi\n").unwrap();
    fastcli(&socket, "reload now");
    assert_eq!(
        fastcli(&socket, "show hostname | include Hostname"),
        "Hostname: leaf1\n"
    );
    assert_eq!(
        fastcli(&socket, "show version | include image"),
        "Software image version: 4.34.1F\n"
    );
    let running = fastcli(&socket, "show running-config");
    assert!(!running.contains("username ztps"), "{running}");
    assert!(
        running.contains("interface Ethernet49\n   description uplink to spine1 Ethernet1\n"),
        "{running}"
    );
    let addresses = ns.ip(&["-4", "-o", "addr", "show", "dev", "et49"]);
    assert!(addresses.contains("10.1.1.1/31"), "{addresses}");
    assert!(!addresses.contains("10.1.1.99"), "{addresses}");
    let link = ns.ip(&["link", "show", "dev", "et49"]);
    assert!(link.contains("alias uplink to spine1 Ethernet1"), "{link}");
    let routes = ns.ip(&["route", "show", "default"]);
    assert!(routes.contains("via 10.1.1.0"), "{routes}");
    // After the reboot the startup-config has no eAPI: it is shut down again.
    assert_eq!(
        fastcli(
            &socket,
            "show management api http-commands | include Enabled"
        ),
        "Enabled:            No\n"
    );
}

//! A small lab per test: a spine namespace where `ztps-agent run` (and,
//! when the test wants EOS, `eos-sim`) run as child processes, leaf
//! namespaces on veth pairs named like EOS kernel interfaces, and a real
//! DHCP client (busybox udhcpc) with an Arista vendor class in each leaf.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use serde_json::Value;
use ztps_testkit::{Netns, veth, wait_for};

pub const STATUS: &str = "http://127.0.0.1:8087";
pub const BOOTSTRAP_URL: &str = "http://172.16.130.10:8080/bootstrap";
/// The "VM"'s NIC MAC; its tap on the spine gets `fe` + the last five bytes.
pub const VM_MAC: &str = "52:54:00:7a:70:01";
pub const VM_TAP_MAC: &str = "fe:54:00:7a:70:01";

pub fn agent_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ztps-agent"))
}

/// eos-sim, built into the same target directory when it is not there yet.
pub fn eos_sim_bin() -> PathBuf {
    static BUILD: Once = Once::new();
    let path = agent_bin().with_file_name("eos-sim");
    BUILD.call_once(|| {
        if !path.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-p", "eos-sim"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "cargo build -p eos-sim failed");
        }
    });
    path
}

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal).unwrap();
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the exit and returns the code (None: killed by a signal).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        wait_for("process exit", timeout, || self.child.try_wait().unwrap()).code()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One test's namespaces and files.
#[derive(Debug)]
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub spine: Netns,
    pub leaves: Vec<Netns>,
    pub vm: Option<Netns>,
}

impl Lab {
    /// A spine with `leaves` links et1..etN (10.1.N.0/31 on the spine side),
    /// all down until [`Lab::link_up`].
    pub fn new(leaves: usize) -> Lab {
        let spine = Netns::new("zas");
        let leaves: Vec<Netns> = (1..=leaves)
            .map(|i| {
                let leaf = Netns::new("zal");
                veth(&spine, &format!("et{i}"), Some(&leaf), "et49");
                spine.ip(&[
                    "addr",
                    "add",
                    &format!("10.1.{i}.0/31"),
                    "dev",
                    &format!("et{i}"),
                ]);
                leaf
            })
            .collect();
        Lab {
            dir: tempfile::tempdir().unwrap(),
            spine,
            leaves,
            vm: None,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn link_up(&self, i: usize) {
        self.spine.ip(&["link", "set", &format!("et{i}"), "up"]);
        self.leaves[i - 1].ip(&["link", "set", "et49", "up"]);
    }

    /// Writes the agent config; `vm` is the body of the `[vm]` table and
    /// `dhcp` extra keys of `[dhcp]`.
    pub fn write_config(&self, name: &str, vm: &str, dhcp: &str) -> PathBuf {
        let d = self.dir.path().display();
        let text = format!(
            "[bridge]\naddress = \"172.16.130.254/24\"\n\n\
             [eapi]\nsocket_path = \"{d}/eapi.sock\"\npoll_interval_secs = 1\ntimeout_secs = 2\n\n\
             [dhcp]\nbootstrap_url = \"{BOOTSTRAP_URL}\"\nlease_file = \"{d}/leases\"\n{dhcp}\n\n\
             [vm]\n{vm}\n\n\
             [events]\nsyslog = false\njson_log = \"{d}/events.jsonl\"\n\n\
             [status]\nlisten = \"127.0.0.1:8087\"\n"
        );
        let path = self.path(name);
        fs::write(&path, text).unwrap();
        path
    }

    /// `ztps-agent run` in the spine, with the arguments ProcMgr appends.
    pub fn start_agent(&self, config: &Path) -> Proc {
        self.start_agent_from(&agent_bin(), config)
    }

    /// [`Lab::start_agent`] with another build of the agent (an upgrade).
    pub fn start_agent_from(&self, bin: &Path, config: &Path) -> Proc {
        let log = self.path(&format!("agent-{}.log", ztps_testkit::unique_name("")));
        let child = self
            .spine
            .command(bin)
            .args(["run", "--config"])
            .arg(config)
            .args([
                "--no-syslog",
                "--sysdbfd=6",
                "--agenttitle=ztps",
                "--foo=bar",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Proc { child, log }
    }

    /// `eos-sim` on the unix socket the config names, in the spine.
    pub fn start_eos_sim(&self, extra: &[&str]) -> Proc {
        let log = self.path("eos-sim.log");
        let mut child = self
            .spine
            .command(eos_sim_bin())
            .arg("--unix-socket")
            .arg(self.path("eapi.sock"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // It prints `ready` once its listeners are bound.
        let mut out = child.stdout.take().unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 256];
        while !seen.contains("ready") {
            let n = std::io::Read::read(&mut out, &mut buf).unwrap();
            assert!(
                n > 0,
                "eos-sim exited: {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        Proc { child, log }
    }

    /// curl inside the spine; `None` when the request fails.
    pub fn curl(&self, args: &[&str]) -> Option<String> {
        let out = self
            .spine
            .command("curl")
            .args(["-fsS", "-m", "3"])
            .args(args)
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn status(&self) -> Option<Value> {
        serde_json::from_str(&self.curl(&[&format!("{STATUS}/status")])?).ok()
    }

    pub fn metrics(&self) -> String {
        self.curl(&[&format!("{STATUS}/metrics")])
            .unwrap_or_default()
    }

    /// Waits until `/status` satisfies `check`; panics with the agent's log.
    pub fn wait_status(
        &self,
        agent: &Proc,
        what: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status();
            if let Some(s) = status.as_ref().filter(|s| check(s)) {
                return s.clone();
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; last status {status:?}\nagent log:\n{}",
                agent.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One DHCP exchange from leaf `i` with busybox udhcpc: the variables
    /// it hands its script (`ip`, `router`, `bootfile`, `lease`...).
    pub fn dhcp(&self, i: usize) -> Option<BTreeMap<String, String>> {
        let out = self.path(&format!("leaf{i}.env"));
        let _ = fs::remove_file(&out);
        let script = self.path("udhcpc-script");
        if !script.exists() {
            fs::write(
                &script,
                "#!/bin/sh\n[ \"$1\" = bound ] && env > \"$LEASE_OUT\"\nexit 0\n",
            )
            .unwrap();
            fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let status = self.leaves[i - 1]
            .command("busybox")
            .args([
                "udhcpc", "-i", "et49", "-f", "-q", "-n", "-t", "6", "-T", "1", "-A", "1",
            ])
            .args([
                "-V",
                &format!("Arista;DCS-7050SX3-48YC8;11.00;ZTPSTEST{i:04}"),
            ])
            .arg("-s")
            .arg(&script)
            .env("LEASE_OUT", &out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        if !status.success() {
            return None;
        }
        let text = fs::read_to_string(&out).ok()?;
        Some(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The ZTPServer "VM": a namespace whose NIC's spine end (`vmtap`, with
    /// the tap MAC libvirt would give it) the test attaches to br0.
    pub fn add_vm(&mut self) {
        let vm = Netns::new("zav");
        let status = Command::new("ip")
            .args([
                "-n",
                self.spine.name(),
                "link",
                "add",
                "vmtap",
                "address",
                VM_TAP_MAC,
                "type",
                "veth",
            ])
            .args([
                "peer",
                "name",
                "eth0",
                "address",
                VM_MAC,
                "netns",
                vm.name(),
            ])
            .status()
            .unwrap();
        assert!(status.success());
        vm.ip(&["addr", "add", "172.16.130.10/24", "dev", "eth0"]);
        vm.ip(&["link", "set", "eth0", "up"]);
        self.vm = Some(vm);
    }

    /// What EOS does when the VM starts: its tap joins the bridge.
    pub fn attach_vm(&self) {
        self.spine.ip(&["link", "set", "vmtap", "master", "br0"]);
        self.spine.ip(&["link", "set", "vmtap", "up"]);
    }

    /// The ZTPServer stand-in: busybox httpd serving /bootstrap in the VM.
    pub fn start_ztpserver(&self) -> Proc {
        let root = self.path("www");
        fs::create_dir_all(&root).unwrap();
        fs::write(
            root.join("bootstrap"),
            "#!/usr/bin/env python\nSERVER = \"http://172.16.130.10:8080\"\n",
        )
        .unwrap();
        let log = self.path("httpd.log");
        let child = self
            .vm
            .as_ref()
            .unwrap()
            .command("busybox")
            .args(["httpd", "-f", "-p", "172.16.130.10:8080", "-h"])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Proc { child, log }
    }

    /// The VM restarts eos-sim recorded (Unix times).
    pub fn sim_restarts(&self) -> Vec<f64> {
        let sock = self.path("eapi.sock");
        let text = self
            .curl(&[
                "--unix-socket",
                sock.to_str().unwrap(),
                "http://localhost/sim/status",
            ])
            .unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        doc["vm_restarts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["at"].as_f64().unwrap())
            .collect()
    }

    /// Every event the agent wrote to its JSON-lines log.
    pub fn events(&self) -> Vec<Value> {
        fs::read_to_string(self.path("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn ifindex(&self, name: &str) -> Option<u64> {
        let out = self
            .spine
            .command("ip")
            .args(["-j", "link", "show", name])
            .output()
            .unwrap();
        let links: Value = serde_json::from_slice(&out.stdout).ok()?;
        links[0]["ifindex"].as_u64()
    }
}

//! Namespaces, a server running inside one, and real DHCP clients.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ztps_dhcp::server::SyncHold;
use ztps_dhcp::{Event, Server, ServerConfig, ServerHandle};
use ztps_net::iftable::InterfaceTable;
use ztps_net::watch::Watch;
use ztps_testkit::{Netns, unique_name, veth, wait_for};

pub const ARISTA_VC: &str = "Arista;DCS-7050SX3-48YC8;11.00;JPE12345678";
pub const BOOTSTRAP_URL: &str = "http://10.99.99.1/bootstrap";

/// A spine namespace and a leaf namespace joined by one veth link.
pub struct Lab {
    pub spine: Netns,
    pub leaf: Netns,
    pub spine_if: String,
    pub leaf_if: String,
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// `spine_addr` like `10.0.0.0/31`.
    pub fn new(spine_addr: &str) -> Lab {
        let spine = Netns::new("dsp");
        let leaf = Netns::new("dlf");
        let lab = Lab {
            spine_if: unique_name("et"),
            leaf_if: unique_name("lf"),
            spine,
            leaf,
            dir: tempfile::tempdir().unwrap(),
        };
        lab.link(&lab.spine_if.clone(), &lab.leaf_if.clone(), spine_addr);
        lab
    }

    /// Adds another veth between spine and leaf, addressed on the spine side.
    pub fn link(&self, spine_if: &str, leaf_if: &str, spine_addr: &str) {
        veth(&self.spine, spine_if, Some(&self.leaf), leaf_if);
        self.spine.ip(&["addr", "add", spine_addr, "dev", spine_if]);
        self.spine.ip(&["link", "set", spine_if, "up"]);
        self.leaf.ip(&["link", "set", leaf_if, "up"]);
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config_toml(&self, extra: &str) -> String {
        format!(
            "bootstrap_url = \"{BOOTSTRAP_URL}\"\nlease_file = \"{}\"\nlease_time_secs = 3600\n{extra}",
            self.path("leases").display()
        )
    }

    pub fn config(&self, extra: &str) -> ServerConfig {
        ServerConfig::from_toml(&self.config_toml(extra)).unwrap()
    }

    /// Runs the server in-process, inside the spine namespace.
    pub fn serve(&self, config: ServerConfig) -> Running {
        self.serve_inner(config, false).0
    }

    /// Runs the server with its journal syncs held (as a disk that does
    /// not answer would hold them) until the returned guard is dropped.
    pub fn serve_holding_syncs(&self, config: ServerConfig) -> (Running, SyncHold) {
        let (running, hold) = self.serve_inner(config, true);
        (running, hold.expect("a hold was asked for"))
    }

    fn serve_inner(&self, config: ServerConfig, hold: bool) -> (Running, Option<SyncHold>) {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (event_tx, event_rx) = std::sync::mpsc::channel();
        let thread = self.spine.spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let table = InterfaceTable::new();
                let _watch = Watch::start(table.clone()).await.unwrap();
                let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
                // A previous server of this namespace may have closed its
                // socket while a child that a parallel test was spawning
                // still held a copy (until its exec): port 67 is free again
                // a moment later.
                let mut attempts = 0;
                let server = loop {
                    match Server::new(config.clone(), table.clone(), tx.clone()) {
                        Err(ztps_dhcp::DhcpError::Socket { source, .. })
                            if source.kind() == std::io::ErrorKind::AddrInUse && attempts < 50 =>
                        {
                            attempts += 1;
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        other => break other.unwrap(),
                    }
                };
                let handle = server.handle();
                let held = hold.then(|| server.hold_syncs());
                let serving = handle.clone();
                tokio::spawn(async move {
                    // Ready once the journal is loaded and requests answered.
                    while !serving.is_serving() {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    let _ = ready_tx.send((handle, held));
                });
                tokio::spawn(async move {
                    while let Some(batch) = rx.recv().await {
                        for e in batch {
                            let _ = event_tx.send(e);
                        }
                    }
                });
                server
                    .run(async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let (handle, held) = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server did not start");
        let running = Running {
            handle,
            events: event_rx,
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        (running, held)
    }
}

pub struct Running {
    pub handle: ServerHandle,
    pub events: std::sync::mpsc::Receiver<Event>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread panicked");
        }
    }

    pub fn events_so_far(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.shutdown();
        }
    }
}

/// What a client reported once it had a lease.
#[derive(Debug, Default)]
pub struct Bound {
    pub ip: String,
    pub mask: String,
    pub router: String,
    pub bootfile: String,
}

/// A hook script that appends its environment to `out` (one file per call).
fn hook_script(dir: &Path, out: &Path) -> PathBuf {
    let script = dir.join(format!("{}.sh", unique_name("hook")));
    std::fs::write(
        &script,
        // Write then rename, so that a reader never sees a half-written file.
        format!(
            "#!/bin/sh\nenv > \"{out}.$$.tmp\"\nmv \"{out}.$$.tmp\" \"{out}.$$.${{reason:-$1}}\"\nexit 0\n",
            out = out.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["755"])
        .arg(&script)
        .status()
        .unwrap();
    script
}

/// Reads `KEY=VALUE` lines of the first hook call whose reason is in `reasons`.
fn wait_env(
    dir: &Path,
    prefix: &str,
    reasons: &[&str],
    timeout: Duration,
) -> std::collections::HashMap<String, String> {
    wait_for(
        &format!("a {prefix} hook call with reason {reasons:?}"),
        timeout,
        || {
            std::fs::read_dir(dir).unwrap().flatten().find_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let reason = name.rsplit('.').next()?;
                if !name.starts_with(prefix) || !reasons.contains(&reason) {
                    return None;
                }
                let text = std::fs::read_to_string(entry.path()).ok()?;
                Some(
                    text.lines()
                        .filter_map(|l| l.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                )
            })
        },
    )
}

pub struct ClientProcess(Child);

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_in(ns: &Netns, program: &str, args: &[&str]) -> ClientProcess {
    ClientProcess(
        ns.command(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}")),
    )
}

/// ISC dhclient with the Arista vendor class (or `vendor_class: None`).
pub fn dhclient(
    lab: &Lab,
    iface: &str,
    vendor_class: Option<&str>,
    timeout: Duration,
) -> Option<Bound> {
    let tag = unique_name("dhc");
    let conf = lab.path(&format!("{tag}.conf"));
    let send = vendor_class
        .map(|vc| format!("send vendor-class-identifier \"{vc}\";\n"))
        .unwrap_or_default();
    std::fs::write(
        &conf,
        format!("{send}request subnet-mask, routers, bootfile-name, domain-name-servers;\ntimeout 30;\nretry 1;\n"),
    )
    .unwrap();
    let out = lab.path(&tag);
    let script = hook_script(lab.dir.path(), &out);
    let (lease, pid) = (
        lab.path(&format!("{tag}.leases")),
        lab.path(&format!("{tag}.pid")),
    );
    let _client = spawn_in(
        &lab.leaf,
        "dhclient",
        &[
            "-d",
            "-4",
            "-1",
            "-cf",
            conf.to_str().unwrap(),
            "-lf",
            lease.to_str().unwrap(),
            "-pf",
            pid.to_str().unwrap(),
            "-sf",
            script.to_str().unwrap(),
            iface,
        ],
    );
    let env =
        std::panic::catch_unwind(|| wait_env(lab.dir.path(), &tag, &["BOUND"], timeout)).ok()?;
    Some(Bound {
        ip: env.get("new_ip_address").cloned().unwrap_or_default(),
        mask: env.get("new_subnet_mask").cloned().unwrap_or_default(),
        router: env.get("new_routers").cloned().unwrap_or_default(),
        bootfile: env
            .get("new_bootfile_name")
            .or(env.get("new_filename"))
            .cloned()
            .unwrap_or_default(),
    })
}

/// busybox udhcpc with `-V`.
pub fn udhcpc(
    lab: &Lab,
    iface: &str,
    vendor_class: Option<&str>,
    timeout: Duration,
) -> Option<Bound> {
    let tag = unique_name("udh");
    let out = lab.path(&tag);
    let script = hook_script(lab.dir.path(), &out);
    let mut args = vec![
        "udhcpc",
        "-f",
        "-q",
        "-i",
        iface,
        "-s",
        script.to_str().unwrap(),
        "-O",
        "bootfile",
        "-t",
        "20",
        "-T",
        "1",
    ];
    if let Some(vc) = vendor_class {
        args.extend(["-V", vc]);
    }
    let _client = spawn_in(&lab.leaf, "busybox", &args);
    let env =
        std::panic::catch_unwind(|| wait_env(lab.dir.path(), &tag, &["bound"], timeout)).ok()?;
    Some(Bound {
        ip: env.get("ip").cloned().unwrap_or_default(),
        mask: env.get("subnet").cloned().unwrap_or_default(),
        router: env.get("router").cloned().unwrap_or_default(),
        bootfile: env
            .get("bootfile")
            .or(env.get("boot_file"))
            .cloned()
            .unwrap_or_default(),
    })
}

/// dhcpcd with `nodev`, `noipv4ll` and the vendor class in its conf file.
pub fn dhcpcd(
    lab: &Lab,
    iface: &str,
    vendor_class: Option<&str>,
    timeout: Duration,
) -> Option<Bound> {
    let tag = unique_name("dcd");
    let out = lab.path(&tag);
    let script = hook_script(lab.dir.path(), &out);
    let conf = lab.path(&format!("{tag}.conf"));
    let vc = vendor_class
        .map(|vc| format!("vendorclassid {vc}\n"))
        .unwrap_or_default();
    std::fs::write(
        &conf,
        format!("nodev\nnoipv4ll\nnohook resolv.conf\n{vc}option subnet_mask, routers, bootfile_name\nscript {}\n", script.display()),
    )
    .unwrap();
    let _client = spawn_in(
        &lab.leaf,
        "dhcpcd",
        &[
            "-f",
            conf.to_str().unwrap(),
            "-B",
            "-4",
            "-1",
            "-t",
            "30",
            iface,
        ],
    );
    let env =
        std::panic::catch_unwind(|| wait_env(lab.dir.path(), &tag, &["BOUND"], timeout)).ok()?;
    let bound = Bound {
        ip: env.get("new_ip_address").cloned().unwrap_or_default(),
        mask: env.get("new_subnet_mask").cloned().unwrap_or_default(),
        router: env.get("new_routers").cloned().unwrap_or_default(),
        bootfile: env
            .get("new_bootfile_name")
            .or(env.get("new_filename"))
            .cloned()
            .unwrap_or_default(),
    };
    // dhcpcd forks helpers; stop them so the namespace can go.
    let _ = Command::new("ip")
        .args(["netns", "exec", lab.leaf.name(), "dhcpcd", "-x", iface])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    Some(bound)
}

/// A bare DHCP client socket on port 68 of one interface, built on
/// dhcproto; for what the real clients cannot do (timing, bursts, corpora).
/// Create it inside the client's namespace.
pub struct RawClient {
    sock: std::net::UdpSocket,
}

impl RawClient {
    pub fn new(iface: &str) -> RawClient {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.set_broadcast(true).unwrap();
        s.set_reuse_address(true).unwrap();
        nix::sys::socket::setsockopt(
            &s,
            nix::sys::socket::sockopt::BindToDevice,
            &std::ffi::OsString::from(iface),
        )
        .unwrap();
        s.bind(&std::net::SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 68).into())
            .unwrap();
        RawClient { sock: s.into() }
    }

    pub fn send_raw(&self, bytes: &[u8]) {
        self.sock
            .send_to(bytes, (std::net::Ipv4Addr::BROADCAST, 67))
            .unwrap();
    }

    pub fn send(&self, msg: &dhcproto::v4::Message) {
        use dhcproto::Encodable;
        self.send_raw(&msg.to_vec().unwrap());
    }

    /// The next reply, or `None` after `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<dhcproto::v4::Message> {
        use dhcproto::Decodable;
        self.sock.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = self.sock.recv_from(&mut buf).ok()?;
        dhcproto::v4::Message::decode(&mut dhcproto::Decoder::new(&buf[..n])).ok()
    }
}

/// A client message with the Arista class and the broadcast flag.
pub fn message(kind: dhcproto::v4::MessageType, mac: [u8; 6], xid: u32) -> dhcproto::v4::Message {
    use dhcproto::v4::{DhcpOption, Flags, Message};
    use std::net::Ipv4Addr;
    let z = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(xid, z, z, z, z, &mac);
    m.set_flags(Flags::default().set_broadcast());
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    m.opts_mut()
        .insert(DhcpOption::ClassIdentifier(ARISTA_VC.as_bytes().to_vec()));
    m
}

/// hlen 0/17/255, truncated packets, a bad magic cookie, an option
/// overrunning the packet, and a non-UTF-8 hostname (the last, which is
/// otherwise well-formed).
pub fn malformed_corpus() -> Vec<Vec<u8>> {
    use dhcproto::Encodable;
    let valid = message(
        dhcproto::v4::MessageType::Discover,
        [2, 0, 0, 0, 0, 0xee],
        7,
    )
    .to_vec()
    .unwrap();
    let mut corpus = Vec::new();
    for hlen in [0u8, 17, 255] {
        let mut p = valid.clone();
        p[2] = hlen;
        corpus.push(p);
    }
    corpus.push(valid[..60].to_vec());
    corpus.push(valid[..239].to_vec());
    corpus.push(Vec::new());
    let mut cookie = valid.clone();
    cookie[236..240].copy_from_slice(&[1, 2, 3, 4]);
    corpus.push(cookie);
    let mut overrun = valid[..240].to_vec();
    overrun.extend_from_slice(&[53, 1, 1, 60, 200, b'A', b'r']);
    corpus.push(overrun);
    let mut hostname = valid[..240].to_vec();
    hostname.extend_from_slice(&[53, 1, 1, 12, 4, 0xff, 0xfe, 0xc3, 0x28]);
    hostname.extend_from_slice(&[60, ARISTA_VC.len() as u8]);
    hostname.extend_from_slice(ARISTA_VC.as_bytes());
    hostname.push(255);
    corpus.push(hostname);
    corpus
}

/// The example binary (`cargo test` builds examples next to the tests).
pub fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/ztps-dhcpd");
    assert!(
        path.is_file(),
        "{} is missing: build with `cargo test` (which builds examples)",
        path.display()
    );
    path
}

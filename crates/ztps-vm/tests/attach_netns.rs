//! Attachment check and the whole supervisor against a real bridge in
//! namespaces made per test: a veth whose bridge end carries the tap MAC
//! libvirt would give the VM's NIC stands in for the VM's tap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::Response;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rtnetlink::Handle;
use ztps_testkit::{Netns, require_netns, veth, wait_for};
use ztps_vm::attach::find_attachment;
use ztps_vm::eos::{EosCli, EosVm};
use ztps_vm::{
    Attachment, BridgeInspector, Decision, HttpHealthCheck, MacAddr, NetlinkBridge, PolicyConfig,
    Problem, RestartPolicy, Supervisor, TickReport, VmInterface,
};

const VM_MAC: &str = "52:54:00:12:34:56";
const TAP_MAC: &str = "fe:54:00:12:34:56";

/// Runs `f` with a netlink handle inside `ns`, on a runtime of its own.
fn in_ns<T, F, Fut>(ns: &Netns, f: F) -> T
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = T>,
{
    ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (connection, handle, _) = rtnetlink::new_connection().unwrap();
            tokio::spawn(connection);
            f(handle).await
        })
    })
}

/// br0 (10.88.0.1/24) in `spine` with port `vnet0`, whose peer `vm0` is in
/// `vm` (or in `spine` when `vm` is `None`).
fn bridge_with_tap(spine: &Netns, vm: Option<&Netns>, tap_mac: &str) {
    in_ns(spine, |h| async move {
        ztps_net::bridge::ensure_bridge(&h, "br0", Ipv4Addr::new(10, 88, 0, 1), 24)
            .await
            .unwrap();
    });
    match vm {
        Some(vm) => veth(spine, "vnet0", Some(vm), "vm0"),
        None => {
            spine.ip(&[
                "link", "add", "vnet0", "type", "veth", "peer", "name", "vm0",
            ]);
        }
    }
    spine.ip(&["link", "set", "vnet0", "address", tap_mac]);
    in_ns(spine, |h| async move {
        assert!(
            ztps_net::bridge::add_port(&h, "br0", "vnet0")
                .await
                .unwrap()
        )
    });
    spine.ip(&["link", "set", "vnet0", "up"]);
    let vm_side = vm.unwrap_or(spine);
    vm_side.ip(&["link", "set", "vm0", "address", VM_MAC]);
    vm_side.ip(&["link", "set", "vm0", "up"]);
}

fn vm_nic() -> VmInterface {
    VmInterface {
        tap: None,
        mac: VM_MAC.parse::<MacAddr>().unwrap(),
        host_ifindex: None,
    }
}

fn attachment(spine: &Netns) -> Attachment {
    in_ns(spine, |h| async move {
        let ports = NetlinkBridge::new(h, "br0").ports().await.unwrap();
        find_attachment(&ports, &[vm_nic()])
    })
}

#[test]
fn the_tap_mac_on_a_bridge_port_means_attached() {
    require_netns!("ip");
    let spine = Netns::new("vat");
    bridge_with_tap(&spine, None, TAP_MAC);
    let a = wait_for("vnet0 up", Duration::from_secs(5), || {
        Some(attachment(&spine)).filter(Attachment::is_attached)
    });
    assert_eq!(
        a,
        Attachment::Attached {
            port: "vnet0".into()
        }
    );

    // The VM side going down leaves the tap on the bridge, but down.
    spine.ip(&["link", "set", "vm0", "down"]);
    let a = wait_for("vnet0 down", Duration::from_secs(5), || {
        Some(attachment(&spine)).filter(|a| !a.is_attached())
    });
    assert_eq!(
        a,
        Attachment::PortDown {
            port: "vnet0".into()
        }
    );

    // Off the bridge: detached.
    spine.ip(&["link", "set", "vnet0", "nomaster"]);
    assert_eq!(attachment(&spine), Attachment::Detached);
}

#[test]
fn a_port_with_another_mac_is_not_the_vm() {
    require_netns!("ip");
    let spine = Netns::new("vao");
    bridge_with_tap(&spine, None, "fe:54:00:12:34:57");
    wait_for("vnet0 up", Duration::from_secs(5), || {
        let out = spine.ip(&["-j", "link", "show", "vnet0"]);
        out.contains("\"operstate\":\"UP\"").then_some(())
    });
    assert_eq!(attachment(&spine), Attachment::Detached);
}

/// Records the commands the supervisor sends to EOS.
#[derive(Debug, Default)]
struct RecordingCli(std::sync::Mutex<Vec<Vec<String>>>);

impl EosCli for RecordingCli {
    async fn configure(
        &self,
        cmds: &[String],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.lock().unwrap().push(cmds.to_vec());
        Ok(())
    }
}

/// Serves 200 on every request at 10.88.0.2:8080 inside `vm` until the
/// returned sender is dropped.
fn serve_bootstrap(vm: &Netns) -> std::sync::mpsc::Sender<()> {
    vm.ip(&["addr", "add", "10.88.0.2/24", "dev", "vm0"]);
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    vm.spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("10.88.0.2:8080")
                .await
                .unwrap();
            ready_tx.send(()).unwrap();
            let stop = tokio::task::spawn_blocking(move || {
                let _ = stop_rx.recv();
            });
            let serve = async {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(|_req| async {
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                                b"#!/usr/bin/env python\nSERVER = \"http://10.88.0.2:8080\"\n",
                            ))))
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            };
            tokio::select! {
                _ = stop => {}
                () = serve => {}
            }
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    stop_tx
}

#[test]
fn the_supervisor_leaves_a_healthy_vm_alone_puts_a_loose_tap_back_and_restarts_a_stopped_one() {
    require_netns!("ip");
    let spine = Netns::new("vss");
    let vm = Netns::new("vsv");
    bridge_with_tap(&spine, Some(&vm), TAP_MAC);
    let _server = serve_bootstrap(&vm);

    let spine_ref = &spine;
    let (healthy, after_detach, sent, link) = in_ns(&spine, |h| async move {
        let eos = EosVm::new(
            "ztps",
            RecordingCli::default(),
            vec![VM_MAC.parse().unwrap()],
        )
        .unwrap();
        let health =
            HttpHealthCheck::new("http://10.88.0.2:8080/bootstrap", Duration::from_secs(2))
                .unwrap();
        let policy = RestartPolicy::new(PolicyConfig {
            grace: Duration::from_secs(30),
            backoff_initial: Duration::from_secs(60),
            backoff_max: Duration::from_secs(600),
            max_per_hour: 3,
            reset_after: Duration::from_secs(600),
        });
        let mut sup = Supervisor::new(eos, NetlinkBridge::new(h, "br0"), health, policy);
        let t0 = Instant::now();
        // The tap needs a moment to come up; after that, steady and no restart.
        let mut healthy = Vec::new();
        for i in 0..200u64 {
            match sup.tick(t0 + Duration::from_secs(i)).await {
                TickReport::Decided {
                    decision: Decision::Steady,
                    ..
                } => healthy.push(i),
                TickReport::Decided {
                    decision: Decision::Grace { .. },
                    ..
                } if healthy.is_empty() => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => panic!("tick {i}: {other:?}"),
            }
            if healthy.len() == 20 {
                break;
            }
        }
        // Take the tap off the bridge (and down), as a VM started before
        // the bridge existed would be: it is put back at once, no restart.
        spine_ref.ip(&["link", "set", "vnet0", "nomaster"]);
        spine_ref.ip(&["link", "set", "vnet0", "down"]);
        let t1 = t0 + Duration::from_secs(1000);
        let mut after_detach = vec![sup.tick(t1).await];
        let sent_after_reattach = sup.vm().cli().0.lock().unwrap().len();
        let link = spine_ref.ip(&["-j", "link", "show", "vnet0"]);
        // The VM stops: its tap is gone. Restarted at once, without grace.
        spine_ref.ip(&["link", "del", "vnet0"]);
        after_detach.push(sup.tick(t1 + Duration::from_secs(1)).await);
        let sent = sup.vm().cli().0.lock().unwrap().clone();
        assert_eq!(sent_after_reattach, 0);
        (healthy, after_detach, sent, link)
    });
    assert_eq!(healthy.len(), 20);
    assert!(
        matches!(
            &after_detach[0],
            TickReport::Decided {
                reattached: Some(Ok(tap)),
                restart: None,
                ..
            } if tap == "vnet0"
        ),
        "{:?}",
        after_detach[0]
    );
    assert!(link.contains("\"master\":\"br0\""), "{link}");
    assert!(link.contains("\"UP\""), "set up again: {link}");
    assert!(
        matches!(
            &after_detach[1],
            TickReport::Decided {
                attachment: Attachment::Detached,
                decision: Decision::Restart {
                    problem: Problem::NotRunning,
                    ..
                },
                restart: Some(Ok(())),
                ..
            }
        ),
        "{:?}",
        after_detach[1]
    );
    assert_eq!(sent, vec![vec!["virtual-machine ztps restart".to_string()]]);
}

/// A real tap held open by a process (python's ioctl, as QEMU does): the
/// inspector names that process and a plausible age.
#[test]
fn the_process_holding_a_tap_is_found_through_proc() {
    require_netns!("ip", "python3");
    let spine = Netns::new("vth");
    let script = r#"
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", b"ztap0", 0x0002 | 0x1000))
print("ready", flush=True)
sys.stdin.read()
"#;
    let mut child = spine.run(|| {
        std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    });
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    let found = ztps_vm::attach::tap_holder(std::path::Path::new("/proc"), "ztap0");
    let other = ztps_vm::attach::tap_holder(std::path::Path::new("/proc"), "ztap1");
    drop(child.stdin.take());
    child.wait().unwrap();
    let (pid, age) = found.expect("the python process holds ztap0");
    assert_eq!(pid, child.id());
    assert!(age < Duration::from_secs(600), "{age:?}");
    assert_eq!(other, None);
}

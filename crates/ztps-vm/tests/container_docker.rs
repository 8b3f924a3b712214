//! The container backend against a real Docker engine: `dockerd` started by
//! this test inside the spine's namespace, with its own data root, exec
//! root, pidfile and socket under a temp dir, no iptables and no default
//! bridge, and stopped by its PID. The image is a tiny one (busybox httpd
//! serving a ZTPServer-shaped `/bootstrap`), saved as a docker-archive
//! tar that the backend loads itself, as it loads the appliance's archive
//! from flash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rtnetlink::Handle;
use ztps_testkit::{Netns, require_netns, run_ok, wait_for};
use ztps_vm::container::{ContainerSpec, DockerContainer};
use ztps_vm::{
    Attachment, BridgeInspector, Decision, Health, HttpHealthCheck, NetlinkBridge, PolicyConfig,
    Problem, RestartPolicy, Supervisor, TickReport, VmControl, VmState,
};

const IMAGE: &str = "ztps-test-appliance:1";
const ADDRESS: &str = "10.89.0.10/24";
const MAC: &str = "52:54:00:00:89:10";

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

/// A dockerd of the test's own, stopped by PID when dropped.
struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    fn start(spine: &Netns) -> Dockerd {
        // Short paths: containerd's sockets live under the exec root.
        let dir = tempfile::Builder::new()
            .prefix("zd")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        // nsenter, not `ip netns exec`: that one remounts /sys, hiding the
        // cgroup mounts dockerd needs.
        let child = Command::new("nsenter")
            .arg(format!("--net={}", spine.path().display()))
            .arg("dockerd")
            .arg(format!("--data-root={}", d.join("data").display()))
            .arg(format!("--exec-root={}", d.join("x").display()))
            .arg(format!("--pidfile={}", d.join("dockerd.pid").display()))
            .arg(format!("--host=unix://{}", d.join("docker.sock").display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--bridge=none",
                "--storage-driver=vfs",
                "--userland-proxy=false",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let dockerd = Dockerd { child, dir };
        wait_for("dockerd answers", Duration::from_secs(60), || {
            dockerd
                .cli()
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .ok()
                .filter(|s| s.success())
        });
        dockerd
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    fn cli(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.arg(format!("--host=unix://{}", self.socket().display()));
        cmd
    }

    fn docker(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&run_ok(self.cli().args(args)).stdout).into_owned()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = self.cli().args(["rm", "-f", "ztps"]).output();
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// A rootfs with busybox (and the libraries it links) whose httpd serves
/// a bootstrap naming its own origin, imported and saved as a
/// docker-archive tar; the image is then removed so that the backend has
/// to load it.
fn test_image_archive(dockerd: &Dockerd) -> PathBuf {
    let work = dockerd.dir.path().join("image");
    let root = work.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("www")).unwrap();
    let busybox = ztps_testkit::which("busybox").unwrap();
    std::fs::copy(&busybox, root.join("bin/busybox")).unwrap();
    let ldd = run_ok(Command::new("ldd").arg(&busybox));
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let to = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(lib, &to).unwrap();
    }
    let addr = ADDRESS.split('/').next().unwrap();
    std::fs::write(
        root.join("www/bootstrap"),
        format!("#!/usr/bin/env python\nSERVER = \"http://{addr}:8080\"\n"),
    )
    .unwrap();
    let tar = work.join("rootfs.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    dockerd.docker(&[
        "import",
        "--change",
        r#"CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]"#,
        tar.to_str().unwrap(),
        IMAGE,
    ]);
    let archive = work.join("appliance.tar");
    dockerd.docker(&["save", "-o", archive.to_str().unwrap(), IMAGE]);
    dockerd.docker(&["rmi", IMAGE]);
    archive
}

fn spec(archive: &Path) -> ContainerSpec {
    ContainerSpec {
        name: "ztps".into(),
        image: IMAGE.into(),
        archive: Some(archive.to_path_buf()),
        network: "ztps".into(),
        bridge: "br0".into(),
        address: ADDRESS.parse().unwrap(),
        gateway: Ipv4Addr::new(10, 89, 0, 1),
        mac: MAC.parse().unwrap(),
        seed_dir: None,
    }
}

fn decision(report: &TickReport) -> &Decision {
    match report {
        TickReport::Decided { decision, .. } => decision,
        TickReport::CannotObserve(e) => panic!("cannot observe: {e}"),
    }
}

/// Ticks (one simulated second apart, real time between) until `done`
/// holds for a report; returns every report up to and with that one.
async fn tick_until<C: VmControl, B: BridgeInspector, H: ztps_vm::HealthProbe>(
    sup: &mut Supervisor<C, B, H>,
    clock: &mut Instant,
    what: &str,
    done: impl Fn(&TickReport) -> bool,
) -> Vec<TickReport> {
    let mut reports = Vec::new();
    let start = Instant::now();
    loop {
        *clock += Duration::from_secs(1);
        let report = sup.tick(*clock).await;
        let finished = done(&report);
        reports.push(report);
        if finished {
            return reports;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{what}: not reached in 90 s; reports: {reports:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn healthy(report: &TickReport) -> bool {
    matches!(
        report,
        TickReport::Decided {
            attachment: Attachment::Attached { .. },
            health: Some(Health::Healthy),
            ..
        }
    )
}

fn restarts(reports: &[TickReport]) -> usize {
    reports
        .iter()
        .filter(|r| matches!(decision(r), Decision::Restart { .. }))
        .count()
}

#[test]
fn the_container_backend_creates_supervises_reattaches_and_restarts_a_real_container() {
    require_netns!(
        "ip",
        "dockerd",
        "containerd",
        "docker",
        "busybox",
        "ldd",
        "tar"
    );
    let spine = Netns::new("vdk");
    in_ns(&spine, |h| async move {
        ztps_net::bridge::ensure_bridge(&h, "br0", Ipv4Addr::new(10, 89, 0, 1), 24)
            .await
            .unwrap();
    });
    let dockerd = Dockerd::start(&spine);
    let archive = test_image_archive(&dockerd);
    let socket = dockerd.socket();
    let spine_ref = &spine;
    let dockerd_ref = &dockerd;

    in_ns(&spine, |h| async move {
        let container = DockerContainer::new(&socket, spec(&archive)).unwrap();
        assert_eq!(
            container.state().await.unwrap(),
            VmState::ShutOff,
            "none yet"
        );
        let health =
            HttpHealthCheck::new("http://10.89.0.10:8080/bootstrap", Duration::from_secs(2))
                .unwrap()
                .expect_server("http://10.89.0.10:8080/bootstrap")
                .unwrap();
        let policy = RestartPolicy::new(PolicyConfig {
            grace: Duration::from_secs(30),
            backoff_initial: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
            max_per_hour: 10,
            reset_after: Duration::from_secs(60),
        });
        let mut sup = Supervisor::new(container, NetlinkBridge::new(h, "br0"), health, policy);
        let mut clock = Instant::now();

        // 1. No container: created from the archive (loaded), on the
        // network over br0, and started at once; then attached and healthy.
        let first = sup.tick(clock).await;
        assert!(
            matches!(
                &first,
                TickReport::Decided {
                    decision: Decision::Restart {
                        problem: Problem::NotRunning,
                        ..
                    },
                    restart: Some(Ok(())),
                    ..
                }
            ),
            "{first:?}"
        );
        let up = tick_until(&mut sup, &mut clock, "healthy", healthy).await;
        assert_eq!(
            restarts(&up),
            0,
            "no second restart while it comes up: {up:#?}"
        );
        let inspect = dockerd_ref.docker(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            "ztps",
        ]);
        // (The MAC is the planned one only from Docker 25 on; Debian 12's
        // 20.10 derives it from the address.)
        assert_eq!(inspect.trim(), "running 10.89.0.10");
        let TickReport::Decided {
            attachment: Attachment::Attached { port },
            ..
        } = up.last().unwrap()
        else {
            unreachable!()
        };
        let port = port.clone();
        let link = spine_ref.ip(&["-j", "link", "show", &port]);
        assert!(link.contains("\"master\":\"br0\""), "{link}");
        let br0 = spine_ref.ip(&["-4", "-o", "addr", "show", "br0"]);
        assert!(
            br0.contains("10.89.0.1/24") && !br0.contains("10.89.0.10"),
            "Docker put no address of its own on br0: {br0}"
        );

        // 2. Its veth taken off the bridge: put back, no restart.
        spine_ref.ip(&["link", "set", &port, "nomaster"]);
        clock += Duration::from_secs(1);
        let report = sup.tick(clock).await;
        assert!(
            matches!(
                &report,
                TickReport::Decided {
                    reattached: Some(Ok(p)),
                    restart: None,
                    ..
                } if *p == port
            ),
            "{report:?}"
        );
        let back = tick_until(&mut sup, &mut clock, "healthy after reattach", healthy).await;
        assert_eq!(restarts(&back), 0, "{back:#?}");

        // 3. Killed: restarted once, healthy again.
        dockerd_ref.docker(&["kill", "ztps"]);
        let recovered = tick_until(&mut sup, &mut clock, "restart after kill", healthy).await;
        assert_eq!(restarts(&recovered), 1, "{recovered:#?}");
        assert!(
            recovered.iter().any(|r| matches!(
                r,
                TickReport::Decided {
                    decision: Decision::Restart {
                        problem: Problem::NotRunning,
                        ..
                    },
                    restart: Some(Ok(())),
                    ..
                }
            )),
            "{recovered:#?}"
        );

        // 4. Disconnected from its Docker network (no interface on the
        // bridge at all): connected again and restarted once.
        dockerd_ref.docker(&["network", "disconnect", "ztps", "ztps"]);
        let reconnected =
            tick_until(&mut sup, &mut clock, "healthy after disconnect", healthy).await;
        assert_eq!(restarts(&reconnected), 1, "{reconnected:#?}");
        let ip = dockerd_ref.docker(&[
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            "ztps",
        ]);
        assert_eq!(ip.trim(), "10.89.0.10");
    });
}

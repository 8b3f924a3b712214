//! Is the VM attached to the bridge? One of the bridge's ports must be the
//! VM's tap, known by the tap name libvirt reports or by the tap MAC derived
//! from the VM's MAC (`fe` + its last five bytes).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rtnetlink::Handle;
use tracing::debug;
use ztps_net::bridge::{BridgePort, HostLink, bridge_ports};

use crate::{VmError, VmInterface};

/// The host side of the VM's network: the bridge's ports, and (to put a
/// tap that fell off the bridge back at once) the host's other links.
pub trait BridgeInspector: Send + Sync {
    fn ports(&self) -> impl Future<Output = Result<Vec<BridgePort>, VmError>> + Send;

    /// Every link of the host with its controller. The default (for
    /// inspectors that only see the bridge) knows of none, so a detached
    /// VM is then always taken for one that is not running.
    fn host_links(&self) -> impl Future<Output = Result<Vec<HostLink>, VmError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Makes `link` a port of the bridge and sets it up.
    fn reattach(&self, link: &BridgePort) -> impl Future<Output = Result<(), VmError>> + Send {
        let name = link.name.clone();
        async move { Err(VmError::CannotReattach { tap: name }) }
    }

    /// How long the process holding tap `tap` open (the VM's QEMU) has been
    /// running; `None` when no process holds it or it cannot be told.
    fn tap_holder_age(&self, tap: &str) -> impl Future<Output = Option<Duration>> + Send {
        let _ = tap;
        async { None }
    }
}

/// The real inspector: the bridge's ports over rtnetlink, tap holders
/// from `/proc`.
#[derive(Debug, Clone)]
pub struct NetlinkBridge {
    handle: Handle,
    bridge: String,
    proc_root: PathBuf,
}

impl NetlinkBridge {
    /// `handle`'s connection must be running on the caller's runtime.
    pub fn new(handle: Handle, bridge: &str) -> Self {
        NetlinkBridge {
            handle,
            bridge: bridge.to_string(),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

impl BridgeInspector for NetlinkBridge {
    async fn ports(&self) -> Result<Vec<BridgePort>, VmError> {
        Ok(bridge_ports(&self.handle, &self.bridge).await?)
    }

    async fn host_links(&self) -> Result<Vec<HostLink>, VmError> {
        Ok(ztps_net::bridge::host_links(&self.handle).await?)
    }

    async fn reattach(&self, link: &BridgePort) -> Result<(), VmError> {
        ztps_net::bridge::add_port(&self.handle, &self.bridge, &link.name).await?;
        ztps_net::bridge::set_link_up(&self.handle, link.ifindex, &link.name).await?;
        Ok(())
    }

    async fn tap_holder_age(&self, tap: &str) -> Option<Duration> {
        let root = self.proc_root.clone();
        let tap = tap.to_string();
        // Reading /proc is blocking file I/O: off the runtime's threads.
        tokio::task::spawn_blocking(move || tap_holder(&root, &tap).map(|(_, age)| age))
            .await
            .ok()
            .flatten()
    }
}

/// Finds the VM's tap among the host's links, by the name the backend
/// reports or by the tap MAC.
pub fn find_tap<'a>(links: &'a [HostLink], interfaces: &[VmInterface]) -> Option<&'a HostLink> {
    links.iter().find(|l| {
        interfaces.iter().any(|iface| {
            iface.tap.as_deref() == Some(l.link.name.as_str())
                || iface.host_ifindex == Some(l.link.ifindex)
                || l.link.mac == Some(iface.mac.tap_mac().0)
        })
    })
}

/// The process holding tap `tap` open and how long it has run. A tun file
/// descriptor's fdinfo names its device (`iff:\tNAME`); QEMU, whether
/// started by libvirt, EOS or a script, holds its tap that way.
pub fn tap_holder(proc_root: &Path, tap: &str) -> Option<(u32, Duration)> {
    let entries = std::fs::read_dir(proc_root).ok()?;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|t| t == Path::new("/dev/net/tun"))
                && std::fs::read_to_string(dir.join("fdinfo").join(fd.file_name()))
                    .is_ok_and(|info| info.lines().any(|l| iff_is(l, tap)))
        });
        if holds {
            let age = process_age(proc_root, &dir);
            debug!(pid, tap, ?age, "tap holder found");
            return age.map(|age| (pid, age));
        }
    }
    None
}

fn iff_is(line: &str, tap: &str) -> bool {
    line.strip_prefix("iff:").is_some_and(|v| v.trim() == tap)
}

/// Linux reports process start times in USER_HZ ticks, 100 on every
/// architecture EOS and this project run on (it is part of the ABI, not
/// the kernel's HZ).
const USER_HZ: u64 = 100;

/// The age of the process at `dir`: the system's uptime less the process's
/// start time since boot (field 22 of `stat`, after the parenthesised name,
/// which may itself hold spaces and parentheses).
fn process_age(proc_root: &Path, dir: &Path) -> Option<Duration> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields from 3 (state) on; starttime is field 22.
    let start_ticks: u64 = after_name.split_whitespace().nth(19)?.parse().ok()?;
    let uptime = std::fs::read_to_string(proc_root.join("uptime")).ok()?;
    let uptime_secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let uptime = Duration::try_from_secs_f64(uptime_secs).ok()?;
    let started = Duration::from_millis(start_ticks.saturating_mul(1000 / USER_HZ));
    Some(uptime.saturating_sub(started))
}

/// How the VM relates to the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// A port of the bridge is the VM's tap and is operationally up.
    Attached { port: String },
    /// The VM's tap is a port but is not up (VM paused, link down).
    PortDown { port: String },
    /// No port of the bridge belongs to the VM.
    Detached,
}

impl Attachment {
    pub fn is_attached(&self) -> bool {
        matches!(self, Attachment::Attached { .. })
    }
}

/// Matches the VM's interfaces against the bridge's ports. A port up wins
/// over one down when the VM has several NICs on the bridge.
pub fn find_attachment(ports: &[BridgePort], interfaces: &[VmInterface]) -> Attachment {
    let is_vm_port = |port: &BridgePort| {
        interfaces.iter().any(|iface| {
            iface.tap.as_deref() == Some(port.name.as_str())
                || iface.host_ifindex == Some(port.ifindex)
                || port.mac == Some(iface.mac.tap_mac().0)
        })
    };
    let mut down = None;
    for port in ports.iter().filter(|p| is_vm_port(p)) {
        if port.oper_up {
            return Attachment::Attached {
                port: port.name.clone(),
            };
        }
        down.get_or_insert_with(|| port.name.clone());
    }
    match down {
        Some(port) => Attachment::PortDown { port },
        None => Attachment::Detached,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MacAddr;

    /// A fake /proc: pid 42 holds `vnet0` open (fd 7) and started 1000.5 s
    /// after boot; pid 43 holds another tap; uptime 1200.25 s.
    fn fake_proc() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        std::fs::write(p.join("uptime"), "1200.25 2000.00\n").unwrap();
        for (pid, tap, start) in [(42, "vnet0", 100_050u64), (43, "vnet9", 10)] {
            let dir = p.join(pid.to_string());
            std::fs::create_dir_all(dir.join("fd")).unwrap();
            std::fs::create_dir_all(dir.join("fdinfo")).unwrap();
            std::os::unix::fs::symlink("/dev/null", dir.join("fd/3")).unwrap();
            std::fs::write(dir.join("fdinfo/3"), "pos:\t0\niff:\tvnet0\n").unwrap();
            std::os::unix::fs::symlink("/dev/net/tun", dir.join("fd/7")).unwrap();
            std::fs::write(
                dir.join("fdinfo/7"),
                format!("pos:\t0\nflags:\t0104002\nmnt_id:\t25\niff:\t{tap}\n"),
            )
            .unwrap();
            // The name holds a space and a parenthesis, as comm may.
            let fields: Vec<String> = (3..=21).map(|n| n.to_string()).collect();
            std::fs::write(
                dir.join("stat"),
                format!("{pid} (qemu (x) 1) {} {start} 99 100\n", fields.join(" ")),
            )
            .unwrap();
        }
        std::fs::create_dir_all(p.join("self")).unwrap();
        root
    }

    #[test]
    fn the_tap_holder_is_the_process_with_that_tun_fd_and_its_age_comes_from_stat() {
        let root = fake_proc();
        assert_eq!(
            tap_holder(root.path(), "vnet0"),
            Some((42, Duration::from_millis(199_750)))
        );
        assert_eq!(tap_holder(root.path(), "vnet9").map(|h| h.0), Some(43));
        // fd 3 names vnet0 in its fdinfo but is not a tun descriptor: ignored.
        assert_eq!(tap_holder(root.path(), "vnet1"), None);
        assert_eq!(tap_holder(&root.path().join("absent"), "vnet0"), None);
    }

    #[test]
    fn the_vm_tap_is_found_among_host_links_by_mac_or_name() {
        let link = |name: &str, mac: [u8; 6], controller| HostLink {
            link: port(name, mac, false),
            controller,
        };
        let links = [
            link("eth0", [0x08, 0, 0x27, 0x85, 0x0c, 0xf8], None),
            link("vnet3", [0xfe, 0, 0x27, 0x85, 0x0c, 0xf8], None),
            link("vnet5", [2, 2, 2, 2, 2, 2], Some(9)),
        ];
        assert_eq!(
            find_tap(&links, &[vm_nic(None)]).map(|l| l.link.name.as_str()),
            Some("vnet3")
        );
        assert_eq!(
            find_tap(&links, &[vm_nic(Some("vnet5"))]).map(|l| l.link.name.as_str()),
            Some("vnet3"),
            "the first link matching either rule"
        );
        assert_eq!(
            find_tap(&links[2..], &[vm_nic(Some("vnet5"))]).map(|l| l.controller),
            Some(Some(9))
        );
        assert!(find_tap(&links[..1], &[vm_nic(None)]).is_none());
    }

    fn port(name: &str, mac: [u8; 6], oper_up: bool) -> BridgePort {
        BridgePort {
            ifindex: 3,
            name: name.into(),
            mac: Some(mac),
            oper_up,
        }
    }

    fn vm_nic(tap: Option<&str>) -> VmInterface {
        VmInterface {
            tap: tap.map(String::from),
            mac: "08:00:27:85:0c:f8".parse::<MacAddr>().unwrap(),
            host_ifindex: None,
        }
    }

    #[test]
    fn the_tap_mac_identifies_the_port() {
        let ports = [
            port("et9", [2, 0, 0, 0, 0, 1], true),
            port("vnet0", [0xfe, 0, 0x27, 0x85, 0x0c, 0xf8], true),
        ];
        assert_eq!(
            find_attachment(&ports, &[vm_nic(None)]),
            Attachment::Attached {
                port: "vnet0".into()
            }
        );
    }

    #[test]
    fn the_guest_mac_itself_on_a_port_is_not_the_tap() {
        let ports = [port("vnet0", [0x08, 0, 0x27, 0x85, 0x0c, 0xf8], true)];
        assert_eq!(
            find_attachment(&ports, &[vm_nic(None)]),
            Attachment::Detached
        );
    }

    #[test]
    fn the_tap_name_identifies_the_port_whatever_its_mac() {
        let ports = [port("vnet7", [2, 2, 2, 2, 2, 2], true)];
        assert_eq!(
            find_attachment(&ports, &[vm_nic(Some("vnet7"))]),
            Attachment::Attached {
                port: "vnet7".into()
            }
        );
        assert_eq!(
            find_attachment(&ports, &[vm_nic(Some("vnet8"))]),
            Attachment::Detached
        );
    }

    #[test]
    fn a_down_tap_is_reported_unless_another_is_up() {
        let down = port("vnet0", [0xfe, 0, 0x27, 0x85, 0x0c, 0xf8], false);
        assert_eq!(
            find_attachment(std::slice::from_ref(&down), &[vm_nic(None)]),
            Attachment::PortDown {
                port: "vnet0".into()
            }
        );
        let up = port("vnet1", [2, 2, 2, 2, 2, 2], true);
        assert_eq!(
            find_attachment(&[down, up], &[vm_nic(None), vm_nic(Some("vnet1"))]),
            Attachment::Attached {
                port: "vnet1".into()
            }
        );
    }

    #[test]
    fn no_ports_or_no_interfaces_is_detached() {
        assert_eq!(find_attachment(&[], &[vm_nic(None)]), Attachment::Detached);
        assert_eq!(
            find_attachment(&[port("x", [0xfe, 0, 0x27, 0x85, 0x0c, 0xf8], true)], &[]),
            Attachment::Detached
        );
    }
}

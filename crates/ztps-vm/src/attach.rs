//! Is the VM attached to the bridge? One of the bridge's ports must be the
//! VM's tap, known by the tap name libvirt reports or by the tap MAC derived
//! from the VM's MAC (`fe` + its last five bytes).

use std::future::Future;

use rtnetlink::Handle;
use ztps_net::bridge::{BridgePort, bridge_ports};

use crate::{VmError, VmInterface};

/// Lists the ports of the bridge the VM should hang off.
pub trait BridgeInspector: Send + Sync {
    fn ports(&self) -> impl Future<Output = Result<Vec<BridgePort>, VmError>> + Send;
}

/// The real inspector: the bridge's ports over rtnetlink.
#[derive(Debug, Clone)]
pub struct NetlinkBridge {
    handle: Handle,
    bridge: String,
}

impl NetlinkBridge {
    /// `handle`'s connection must be running on the caller's runtime.
    pub fn new(handle: Handle, bridge: &str) -> Self {
        NetlinkBridge {
            handle,
            bridge: bridge.to_string(),
        }
    }
}

impl BridgeInspector for NetlinkBridge {
    async fn ports(&self) -> Result<Vec<BridgePort>, VmError> {
        Ok(bridge_ports(&self.handle, &self.bridge).await?)
    }
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

//! The host steps: the bridge (with its address, up) and IPv4 forwarding.
//! Both are ensured at start-up and again on a slow timer, so a bridge or
//! sysctl someone changed is put back; only changes are logged.

use std::future::Future;
use std::net::Ipv4Addr;

use rtnetlink::Handle;
use tracing::{error, info};
use ztps_events::Event;
use ztps_net::NetError;
use ztps_net::bridge::{BridgeChange, BridgeReport};
use ztps_net::sysctl::{Sysctl, SysctlChange};

use super::state::Shared;

/// The host as the agent changes it; the real one is [`Host`].
pub trait HostNet: Send + Sync {
    fn ensure_bridge(
        &self,
        name: &str,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> impl Future<Output = Result<BridgeReport, NetError>> + Send;
    fn ensure_forwarding(&self) -> Result<Vec<SysctlChange>, NetError>;
}

/// rtnetlink and /proc/sys of the agent's own network namespace.
#[derive(Debug, Clone)]
pub struct Host {
    pub handle: Handle,
    pub sysctl: Sysctl,
}

impl HostNet for Host {
    async fn ensure_bridge(
        &self,
        name: &str,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> Result<BridgeReport, NetError> {
        ztps_net::bridge::ensure_bridge(&self.handle, name, addr, prefix).await
    }

    fn ensure_forwarding(&self) -> Result<Vec<SysctlChange>, NetError> {
        self.sysctl.ensure_ipv4_forwarding()
    }
}

/// Errors no retry can fix: the operator must change the config or the host.
pub fn is_fatal(error: &NetError) -> bool {
    matches!(
        error,
        NetError::PermissionDenied { .. }
            | NetError::NotABridge { .. }
            | NetError::AddressPrefixMismatch { .. }
            | NetError::PortOfOtherMaster { .. }
    )
}

/// The bridge the config asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeTarget {
    pub name: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// Ensures the bridge once. `last_error` keeps a repeated failure from
/// being logged again.
pub async fn ensure_bridge(
    host: &impl HostNet,
    target: &BridgeTarget,
    shared: &Shared,
    last_error: &mut Option<String>,
) -> Result<(), NetError> {
    let address = format!("{}/{}", target.addr, target.prefix);
    match host
        .ensure_bridge(&target.name, target.addr, target.prefix)
        .await
    {
        Ok(report) => {
            for change in &report.changes {
                shared.hub.emit(match change {
                    BridgeChange::Created => Event::BridgeCreated {
                        bridge: report.name.clone(),
                        address: address.clone(),
                    },
                    other => Event::BridgeChanged {
                        bridge: report.name.clone(),
                        change: other.to_string(),
                    },
                });
            }
            if last_error.take().is_some() {
                info!(bridge = %target.name, "bridge as configured again");
            }
            shared.update(|s| {
                s.bridge.name.clone_from(&target.name);
                s.bridge.address.clone_from(&address);
                s.bridge.state = "ok".into();
                s.bridge.error = None;
            });
            Ok(())
        }
        Err(e) => {
            let reason = e.to_string();
            if last_error.as_deref() != Some(reason.as_str()) {
                error!(bridge = %target.name, error = %reason, "cannot ensure the bridge");
            }
            *last_error = Some(reason.clone());
            shared.update(|s| {
                s.bridge.name.clone_from(&target.name);
                s.bridge.address.clone_from(&address);
                s.bridge.state = "error".into();
                s.bridge.error = Some(reason);
            });
            Err(e)
        }
    }
}

/// Ensures forwarding once (when enabled); failures are reported, not fatal:
/// DHCP still serves without it, only the leaves' routed traffic suffers.
pub fn ensure_forwarding(
    host: &impl HostNet,
    enabled: bool,
    shared: &Shared,
    last_error: &mut Option<String>,
) {
    if !enabled {
        shared.update(|s| {
            s.forwarding.enabled = false;
            s.forwarding.state = "disabled".into();
        });
        return;
    }
    let (state, problem) = match host.ensure_forwarding() {
        Ok(changes) => {
            for c in changes {
                info!(setting = %c.key, from = %c.from, to = %c.to, "forwarding changed");
                shared.hub.emit(Event::ForwardingChanged {
                    setting: c.key,
                    from: c.from,
                    to: c.to,
                });
            }
            if last_error.take().is_some() {
                info!("IPv4 forwarding as configured again");
            }
            ("ok", None)
        }
        Err(e) => {
            let reason = e.to_string();
            if last_error.as_deref() != Some(reason.as_str()) {
                error!(error = %reason, "cannot enable IPv4 forwarding; leaves will not reach the ZTPServer");
            }
            *last_error = Some(reason.clone());
            ("error", Some(reason))
        }
    };
    shared.update(|s| {
        s.forwarding.enabled = true;
        s.forwarding.state = state.into();
        s.forwarding.error = problem;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Debug, Default)]
    struct FakeHost {
        bridge: Mutex<Vec<Result<Vec<BridgeChange>, NetError>>>,
        forwarding: Mutex<Vec<Result<Vec<SysctlChange>, NetError>>>,
    }

    impl HostNet for FakeHost {
        async fn ensure_bridge(
            &self,
            name: &str,
            _addr: Ipv4Addr,
            _prefix: u8,
        ) -> Result<BridgeReport, NetError> {
            let changes = self.bridge.lock().unwrap().remove(0)?;
            Ok(BridgeReport {
                name: name.into(),
                ifindex: 3,
                changes,
                other_addresses: vec![],
            })
        }
        fn ensure_forwarding(&self) -> Result<Vec<SysctlChange>, NetError> {
            self.forwarding.lock().unwrap().remove(0)
        }
    }

    fn shared() -> (ztps_events::Hub, Shared) {
        let hub = ztps_events::Hub::spawn(
            Default::default(),
            vec![],
            Arc::new(ztps_events::SystemClock),
        );
        let shared = Shared::new(hub.handle(), Default::default(), "c".into());
        (hub, shared)
    }

    #[tokio::test]
    async fn changes_become_events_and_errors_status() {
        let (hub, shared) = shared();
        let host = FakeHost::default();
        *host.bridge.lock().unwrap() = vec![
            Ok(vec![BridgeChange::Created, BridgeChange::BroughtUp]),
            Err(NetError::LinkNotFound { name: "br0".into() }),
            Ok(vec![]),
        ];
        let target = BridgeTarget {
            name: "br0".into(),
            addr: Ipv4Addr::new(172, 16, 130, 254),
            prefix: 24,
        };
        let mut last = None;
        ensure_bridge(&host, &target, &shared, &mut last)
            .await
            .unwrap();
        assert_eq!(shared.sections().bridge.state, "ok");
        let err = ensure_bridge(&host, &target, &shared, &mut last)
            .await
            .unwrap_err();
        assert!(!is_fatal(&err));
        assert_eq!(shared.sections().bridge.state, "error");
        assert!(last.is_some());
        ensure_bridge(&host, &target, &shared, &mut last)
            .await
            .unwrap();
        assert!(last.is_none());
        assert_eq!(shared.sections().bridge.address, "172.16.130.254/24");
        hub.shutdown().await;
        let messages: Vec<String> = shared
            .hub
            .recent(10)
            .into_iter()
            .map(|r| r.message)
            .collect();
        assert_eq!(
            messages,
            [
                "created bridge br0 with address 172.16.130.254/24",
                "bridge br0: brought up"
            ]
        );
    }

    #[tokio::test]
    async fn forwarding_failures_are_not_fatal_and_changes_are_events() {
        let (hub, shared) = shared();
        let host = FakeHost::default();
        *host.forwarding.lock().unwrap() = vec![
            Err(NetError::SysctlWrite {
                path: "/proc/sys/net/ipv4/ip_forward".into(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
                hint: "",
            }),
            Ok(vec![SysctlChange {
                key: "net.ipv4.ip_forward".into(),
                from: "0".into(),
                to: "1".into(),
            }]),
        ];
        let mut last = None;
        ensure_forwarding(&host, true, &shared, &mut last);
        assert_eq!(shared.sections().forwarding.state, "error");
        ensure_forwarding(&host, true, &shared, &mut last);
        assert_eq!(shared.sections().forwarding.state, "ok");
        ensure_forwarding(&host, false, &shared, &mut last);
        assert_eq!(shared.sections().forwarding.state, "disabled");
        hub.shutdown().await;
        let kinds: Vec<&str> = shared
            .hub
            .recent(10)
            .iter()
            .map(|r| r.event.kind())
            .collect();
        assert_eq!(kinds, ["forwarding_changed"]);
    }

    #[test]
    fn only_configuration_and_privilege_problems_are_fatal() {
        assert!(is_fatal(&NetError::PermissionDenied { action: "x".into() }));
        assert!(is_fatal(&NetError::NotABridge {
            name: "br0".into(),
            kind: "veth".into()
        }));
        assert!(!is_fatal(&NetError::Connect(std::io::Error::from(
            std::io::ErrorKind::Other
        ))));
    }
}

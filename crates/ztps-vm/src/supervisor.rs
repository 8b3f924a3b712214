//! One supervision step: look at the bridge and the ZTPServer, ask the
//! policy, restart if it says so. The agent calls [`Supervisor::tick`] on
//! its timer and turns each [`TickReport`] into events.

use std::time::Instant;

use tracing::warn;

use crate::attach::find_attachment;
use crate::{
    Attachment, BridgeInspector, Decision, Health, HealthProbe, Problem, RestartPolicy, VmControl,
    VmError,
};

/// What one tick saw and did.
#[derive(Debug)]
pub enum TickReport {
    /// The policy's verdict; for `Decision::Restart`, `restart` holds the
    /// outcome of the attempt (a failed attempt still counts as a restart).
    Decided {
        attachment: Attachment,
        health: Option<Health>,
        decision: Decision,
        restart: Option<Result<(), VmError>>,
    },
    /// The VM's state could not be observed (our side failed: netlink,
    /// virsh). Nothing is restarted on a guess.
    CannotObserve(VmError),
}

/// Policy + backend + health probe + bridge inspector.
#[derive(Debug)]
pub struct Supervisor<C, B, H> {
    vm: C,
    bridge: B,
    health: H,
    policy: RestartPolicy,
}

impl<C: VmControl, B: BridgeInspector, H: HealthProbe> Supervisor<C, B, H> {
    pub fn new(vm: C, bridge: B, health: H, policy: RestartPolicy) -> Self {
        Supervisor {
            vm,
            bridge,
            health,
            policy,
        }
    }

    pub fn vm(&self) -> &C {
        &self.vm
    }

    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// Observes once at `now` and acts on the policy's verdict. The health
    /// probe runs only when the VM is attached (a detached VM cannot answer).
    pub async fn tick(&mut self, now: Instant) -> TickReport {
        let attachment = match self.attachment().await {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "cannot check whether the VM is attached");
                return TickReport::CannotObserve(e);
            }
        };
        let (health, problem) = match &attachment {
            Attachment::Detached => (None, Some(Problem::Detached)),
            Attachment::PortDown { port } => (None, Some(Problem::TapDown { port: port.clone() })),
            Attachment::Attached { .. } => {
                let health = self.health.check().await;
                let problem = match &health {
                    Health::Healthy => None,
                    Health::Unhealthy(why) => Some(Problem::Unhealthy(why.clone())),
                };
                (Some(health), problem)
            }
        };
        let decision = self.policy.observe(now, problem);
        let restart = match &decision {
            Decision::Restart { problem, .. } => Some(self.vm.restart(&problem.to_string()).await),
            _ => None,
        };
        if let Some(Err(e)) = &restart {
            warn!(error = %e, "VM restart failed");
        }
        TickReport::Decided {
            attachment,
            health,
            decision,
            restart,
        }
    }

    async fn attachment(&self) -> Result<Attachment, VmError> {
        let interfaces = self.vm.interfaces().await?;
        let ports = self.bridge.ports().await?;
        Ok(find_attachment(&ports, &interfaces))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::HealthFailure;
    use crate::{MacAddr, PolicyConfig, VmInterface, VmState};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use ztps_net::bridge::BridgePort;

    fn vm_mac() -> MacAddr {
        "52:54:00:aa:bb:cc".parse().unwrap()
    }

    #[derive(Debug, Default)]
    struct FakeVm {
        restarts: Mutex<Vec<String>>,
        fail: bool,
    }

    impl VmControl for FakeVm {
        async fn restart(&self, reason: &str) -> Result<(), VmError> {
            self.restarts.lock().unwrap().push(reason.to_string());
            if self.fail {
                return Err(VmError::Virsh {
                    command: "virsh start ztps".into(),
                    stderr: "error: boom".into(),
                });
            }
            Ok(())
        }
        async fn state(&self) -> Result<VmState, VmError> {
            Ok(VmState::Running)
        }
        async fn interfaces(&self) -> Result<Vec<VmInterface>, VmError> {
            Ok(vec![VmInterface {
                tap: None,
                mac: vm_mac(),
            }])
        }
    }

    /// The bridge's ports; `None` makes the listing fail.
    #[derive(Debug, Default)]
    struct FakeBridge(Mutex<Option<Vec<BridgePort>>>);

    impl FakeBridge {
        fn with_tap(up: bool) -> Self {
            FakeBridge(Mutex::new(Some(vec![BridgePort {
                ifindex: 5,
                name: "vnet0".into(),
                mac: Some(vm_mac().tap_mac().0),
                oper_up: up,
            }])))
        }
        fn set(&self, ports: Option<Vec<BridgePort>>) {
            *self.0.lock().unwrap() = ports;
        }
    }

    impl BridgeInspector for FakeBridge {
        async fn ports(&self) -> Result<Vec<BridgePort>, VmError> {
            self.0.lock().unwrap().clone().ok_or(VmError::Bridge(
                ztps_net::NetError::LinkNotFound { name: "br0".into() },
            ))
        }
    }

    #[derive(Debug)]
    struct FakeHealth {
        healthy: Mutex<bool>,
        probes: AtomicUsize,
    }

    impl FakeHealth {
        fn new(healthy: bool) -> Self {
            FakeHealth {
                healthy: Mutex::new(healthy),
                probes: AtomicUsize::new(0),
            }
        }
    }

    impl HealthProbe for FakeHealth {
        async fn check(&self) -> Health {
            self.probes.fetch_add(1, Ordering::Relaxed);
            if *self.healthy.lock().unwrap() {
                Health::Healthy
            } else {
                Health::Unhealthy(HealthFailure::Status(503))
            }
        }
    }

    fn policy() -> RestartPolicy {
        RestartPolicy::new(PolicyConfig {
            grace: Duration::from_secs(30),
            backoff_initial: Duration::from_secs(60),
            backoff_max: Duration::from_secs(600),
            max_per_hour: 3,
            reset_after: Duration::from_secs(600),
        })
    }

    fn decision(report: &TickReport) -> &Decision {
        match report {
            TickReport::Decided { decision, .. } => decision,
            TickReport::CannotObserve(e) => panic!("cannot observe: {e}"),
        }
    }

    #[tokio::test]
    async fn a_healthy_attached_vm_is_never_restarted() {
        let mut sup = Supervisor::new(
            FakeVm::default(),
            FakeBridge::with_tap(true),
            FakeHealth::new(true),
            policy(),
        );
        let t0 = Instant::now();
        // The first tick is the agent's boot: no blind restart.
        for i in 0..2000 {
            let report = sup.tick(t0 + Duration::from_secs(5 * i)).await;
            assert_eq!(decision(&report), &Decision::Steady);
        }
        assert!(sup.vm().restarts.lock().unwrap().is_empty());
        assert_eq!(sup.health.probes.load(Ordering::Relaxed), 2000);
    }

    #[tokio::test]
    async fn a_detached_vm_is_restarted_after_grace_and_recovers() {
        let bridge = FakeBridge::with_tap(true);
        bridge.set(Some(vec![]));
        let mut sup = Supervisor::new(FakeVm::default(), bridge, FakeHealth::new(true), policy());
        let t0 = Instant::now();
        assert!(matches!(
            decision(&sup.tick(t0).await),
            Decision::Grace {
                problem: Problem::Detached,
                ..
            }
        ));
        let report = sup.tick(t0 + Duration::from_secs(30)).await;
        assert!(
            matches!(
                &report,
                TickReport::Decided {
                    decision: Decision::Restart { .. },
                    restart: Some(Ok(())),
                    health: None,
                    ..
                }
            ),
            "{report:?}"
        );
        assert_eq!(
            *sup.vm().restarts.lock().unwrap(),
            vec!["not attached to the bridge".to_string()]
        );
        // Detached is never probed over HTTP.
        assert_eq!(sup.health.probes.load(Ordering::Relaxed), 0);
        sup.bridge
            .set(FakeBridge::with_tap(true).0.into_inner().unwrap());
        assert!(matches!(
            decision(&sup.tick(t0 + Duration::from_secs(40)).await),
            Decision::Recovered { .. }
        ));
        assert_eq!(sup.vm().restarts.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_unhealthy_vm_is_restarted_with_backoff_and_bounded() {
        let mut sup = Supervisor::new(
            FakeVm::default(),
            FakeBridge::with_tap(true),
            FakeHealth::new(false),
            policy(),
        );
        let t0 = Instant::now();
        let mut restarts_at = Vec::new();
        for i in 0..740 {
            let now = t0 + Duration::from_secs(5 * i);
            if let Decision::Restart { .. } = decision(&sup.tick(now).await) {
                restarts_at.push(5 * i);
            }
        }
        // Grace 30 s; spacing max(grace, 60, 120, ...); 3 per hour.
        assert_eq!(restarts_at, vec![30, 90, 210, 3630]);
        assert_eq!(
            sup.vm().restarts.lock().unwrap()[0],
            "ZTPServer unhealthy: HTTP 503"
        );
    }

    #[tokio::test]
    async fn a_down_tap_is_a_problem_without_an_http_probe() {
        let mut sup = Supervisor::new(
            FakeVm::default(),
            FakeBridge::with_tap(false),
            FakeHealth::new(true),
            policy(),
        );
        let report = sup.tick(Instant::now()).await;
        assert!(
            matches!(
                &report,
                TickReport::Decided {
                    attachment: Attachment::PortDown { .. },
                    decision: Decision::Grace {
                        problem: Problem::TapDown { .. },
                        ..
                    },
                    ..
                }
            ),
            "{report:?}"
        );
        assert_eq!(sup.health.probes.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn when_the_bridge_cannot_be_read_nothing_is_restarted() {
        let bridge = FakeBridge::default();
        let mut sup = Supervisor::new(FakeVm::default(), bridge, FakeHealth::new(false), policy());
        let t0 = Instant::now();
        for i in 0..100 {
            assert!(matches!(
                sup.tick(t0 + Duration::from_secs(60 * i)).await,
                TickReport::CannotObserve(VmError::Bridge(_))
            ));
        }
        assert!(sup.vm().restarts.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_restart_is_reported_and_still_counts() {
        let vm = FakeVm {
            fail: true,
            ..FakeVm::default()
        };
        let mut sup = Supervisor::new(
            vm,
            FakeBridge::with_tap(true),
            FakeHealth::new(false),
            policy(),
        );
        let t0 = Instant::now();
        sup.tick(t0).await;
        let report = sup.tick(t0 + Duration::from_secs(30)).await;
        assert!(
            matches!(
                &report,
                TickReport::Decided {
                    restart: Some(Err(VmError::Virsh { .. })),
                    ..
                }
            ),
            "{report:?}"
        );
        assert!(matches!(
            decision(&sup.tick(t0 + Duration::from_secs(35)).await),
            Decision::Grace { .. }
        ));
        assert_eq!(
            sup.policy()
                .restarts_in_last_hour(t0 + Duration::from_secs(35)),
            1
        );
    }
}

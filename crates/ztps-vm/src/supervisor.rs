//! One supervision step: look at the bridge and the ZTPServer, ask the
//! policy, restart if it says so. The agent calls [`Supervisor::tick`] on
//! its timer and turns each [`TickReport`] into events.

use std::time::Instant;

use tracing::{info, warn};

use crate::attach::{find_attachment, find_tap};
use crate::{
    Attachment, BridgeInspector, Decision, Health, HealthProbe, Problem, RestartPolicy, VmControl,
    VmError, VmInterface,
};

/// What one tick saw and did.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one report per tick, consumed at once: boxing buys nothing"
)]
pub enum TickReport {
    /// The policy's verdict; for `Decision::Restart`, `restart` holds the
    /// outcome of the attempt (a failed attempt still counts as a restart).
    /// `reattached` is set when the VM's tap was found off the bridge and
    /// put back (`Ok(tap)`) or could not be (`Err`).
    Decided {
        attachment: Attachment,
        health: Option<Health>,
        decision: Decision,
        restart: Option<Result<(), VmError>>,
        reattached: Option<Result<String, VmError>>,
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
    /// When the process holding this tap started, once looked up (a /proc
    /// scan); forgotten when the tap changes or the VM is restarted.
    vm_started: Option<(String, Option<Instant>)>,
}

/// What the bridge and the host's links say about the VM.
struct Observed {
    attachment: Attachment,
    /// The VM's tap anywhere on the host, `None` when it has none.
    tap: Option<String>,
    reattached: Option<Result<String, VmError>>,
}

impl<C: VmControl, B: BridgeInspector, H: HealthProbe> Supervisor<C, B, H> {
    pub fn new(vm: C, bridge: B, health: H, policy: RestartPolicy) -> Self {
        Supervisor {
            vm,
            bridge,
            health,
            policy,
            vm_started: None,
        }
    }

    pub fn vm(&self) -> &C {
        &self.vm
    }

    pub fn bridge(&self) -> &B {
        &self.bridge
    }

    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// Observes once at `now` and acts: a running VM whose tap is off the
    /// bridge is put back at once, with no restart; otherwise the policy
    /// decides. The health probe runs only when the VM is attached (a
    /// detached VM cannot answer).
    pub async fn tick(&mut self, now: Instant) -> TickReport {
        let observed = match self.observe().await {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %e, "cannot check whether the VM is attached");
                return TickReport::CannotObserve(e);
            }
        };
        let Observed {
            attachment,
            tap,
            reattached,
        } = observed;
        let (health, problem) = match &attachment {
            Attachment::Detached if tap.is_none() => (None, Some(Problem::NotRunning)),
            Attachment::Detached => (None, Some(Problem::Detached)),
            Attachment::PortDown { port } => (None, Some(Problem::TapDown { port: port.clone() })),
            Attachment::Attached { .. } => {
                let health = self.health.check().await;
                let problem = match &health {
                    Health::Healthy => None,
                    Health::Unhealthy(why) => Some(Problem::Unhealthy(why.clone())),
                    // A restart boots the same seed into the same wrong
                    // server_url: not the policy's to fix. The report
                    // carries it, and the agent says what to do.
                    Health::WrongServer(_) => None,
                };
                (Some(health), problem)
            }
        };
        let vm_started = match (&problem, &tap) {
            (Some(_), Some(tap)) => self.vm_started(now, tap).await,
            _ => None,
        };
        let decision = self.policy.observe_vm(now, problem, vm_started);
        let restart = match &decision {
            Decision::Restart { problem, .. } => {
                self.vm_started = None;
                Some(self.vm.restart(&problem.to_string()).await)
            }
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
            reattached,
        }
    }

    /// When the VM behind `tap` started, from the process holding the tap.
    async fn vm_started(&mut self, now: Instant, tap: &str) -> Option<Instant> {
        if let Some((known, started)) = &self.vm_started
            && known == tap
        {
            return *started;
        }
        let started = self
            .bridge
            .tap_holder_age(tap)
            .await
            .and_then(|age| now.checked_sub(age));
        self.vm_started = Some((tap.to_string(), started));
        started
    }

    async fn observe(&mut self) -> Result<Observed, VmError> {
        let interfaces = self.vm.interfaces().await?;
        let ports = self.bridge.ports().await?;
        let attachment = find_attachment(&ports, &interfaces);
        let port = match &attachment {
            Attachment::Attached { port } | Attachment::PortDown { port } => port.clone(),
            Attachment::Detached => return self.find_off_bridge(&interfaces).await,
        };
        Ok(Observed {
            attachment,
            tap: Some(port),
            reattached: None,
        })
    }

    /// The VM is not on the bridge: is its tap elsewhere on the host? A tap
    /// exists only while its VM runs, so one with no controller belongs to
    /// a running VM that lost its port (started before the bridge, or taken
    /// off by hand): it goes back at once. A tap another controller holds
    /// is left alone (someone put it there).
    async fn find_off_bridge(&mut self, interfaces: &[VmInterface]) -> Result<Observed, VmError> {
        let links = self.bridge.host_links().await?;
        let Some(found) = find_tap(&links, interfaces) else {
            return Ok(Observed {
                attachment: Attachment::Detached,
                tap: None,
                reattached: None,
            });
        };
        let name = found.link.name.clone();
        if found.controller.is_some() {
            return Ok(Observed {
                attachment: Attachment::Detached,
                tap: Some(name),
                reattached: None,
            });
        }
        match self.bridge.reattach(&found.link).await {
            Ok(()) => {
                info!(tap = %name, "VM tap was off the bridge: put back, no restart needed");
                // As the bridge now sees it (the port may need a moment to
                // come up, which the policy treats as a booting VM).
                let ports = self.bridge.ports().await?;
                Ok(Observed {
                    attachment: find_attachment(&ports, interfaces),
                    tap: Some(name.clone()),
                    reattached: Some(Ok(name)),
                })
            }
            Err(e) => {
                warn!(tap = %name, error = %e, "cannot put the VM's tap back on the bridge");
                Ok(Observed {
                    attachment: Attachment::Detached,
                    tap: Some(name),
                    reattached: Some(Err(e)),
                })
            }
        }
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
    use ztps_net::bridge::{BridgePort, HostLink};

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
                host_ifindex: None,
            }])
        }
    }

    fn tap(up: bool) -> BridgePort {
        BridgePort {
            ifindex: 5,
            name: "vnet0".into(),
            mac: Some(vm_mac().tap_mac().0),
            oper_up: up,
        }
    }

    /// The bridge's ports (`None` makes the listing fail), the host's other
    /// links, and the age of the tap's holder. A re-attach moves the link
    /// onto the bridge, up, unless `refuse_reattach`.
    #[derive(Debug, Default)]
    struct FakeBridge {
        ports: Mutex<Option<Vec<BridgePort>>>,
        loose: Mutex<Vec<HostLink>>,
        reattached: Mutex<Vec<String>>,
        refuse_reattach: bool,
        holder_age: Option<Duration>,
    }

    impl FakeBridge {
        fn with_tap(up: bool) -> Self {
            FakeBridge {
                ports: Mutex::new(Some(vec![tap(up)])),
                ..FakeBridge::default()
            }
        }
        /// The VM runs, its tap off the bridge (no controller, or `controller`).
        fn tap_off_bridge(controller: Option<u32>) -> Self {
            FakeBridge {
                ports: Mutex::new(Some(vec![])),
                loose: Mutex::new(vec![HostLink {
                    link: tap(false),
                    controller,
                }]),
                ..FakeBridge::default()
            }
        }
        fn set(&self, ports: Option<Vec<BridgePort>>) {
            *self.ports.lock().unwrap() = ports;
        }
    }

    impl BridgeInspector for FakeBridge {
        async fn ports(&self) -> Result<Vec<BridgePort>, VmError> {
            self.ports.lock().unwrap().clone().ok_or(VmError::Bridge(
                ztps_net::NetError::LinkNotFound { name: "br0".into() },
            ))
        }
        async fn host_links(&self) -> Result<Vec<HostLink>, VmError> {
            Ok(self.loose.lock().unwrap().clone())
        }
        async fn reattach(&self, link: &BridgePort) -> Result<(), VmError> {
            self.reattached.lock().unwrap().push(link.name.clone());
            if self.refuse_reattach {
                return Err(VmError::CannotReattach {
                    tap: link.name.clone(),
                });
            }
            self.loose
                .lock()
                .unwrap()
                .retain(|l| l.link.name != link.name);
            self.ports
                .lock()
                .unwrap()
                .get_or_insert_with(Vec::new)
                .push(BridgePort {
                    oper_up: true,
                    ..link.clone()
                });
            Ok(())
        }
        async fn tap_holder_age(&self, _tap: &str) -> Option<Duration> {
            self.holder_age
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

    #[derive(Debug)]
    struct WrongServerHealth;

    impl HealthProbe for WrongServerHealth {
        async fn check(&self) -> Health {
            Health::WrongServer(crate::WrongServer {
                served: Some("http://ztpserver:8080".into()),
                expected: "http://10.0.0.2:8080".into(),
            })
        }
    }

    #[tokio::test]
    async fn a_wrong_server_url_is_reported_but_never_restarted() {
        let mut sup = Supervisor::new(
            FakeVm::default(),
            FakeBridge::with_tap(true),
            WrongServerHealth,
            policy(),
        );
        let t0 = Instant::now();
        // Far past the grace and any backoff: a restart would boot the same
        // seed, so the policy must not be asked to fix it.
        for i in 0..200 {
            let report = sup.tick(t0 + Duration::from_secs(60 * i)).await;
            let TickReport::Decided {
                health, decision, ..
            } = &report
            else {
                panic!("cannot observe: {report:?}");
            };
            assert!(matches!(health, Some(Health::WrongServer(_))), "{health:?}");
            assert_eq!(decision, &Decision::Steady);
        }
        assert!(sup.vm().restarts.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_vm_with_no_tap_is_not_running_and_is_restarted_at_once() {
        let bridge = FakeBridge::with_tap(true);
        bridge.set(Some(vec![]));
        let mut sup = Supervisor::new(FakeVm::default(), bridge, FakeHealth::new(true), policy());
        let t0 = Instant::now();
        let report = sup.tick(t0).await;
        assert!(
            matches!(
                &report,
                TickReport::Decided {
                    decision: Decision::Restart {
                        problem: Problem::NotRunning,
                        ..
                    },
                    restart: Some(Ok(())),
                    health: None,
                    reattached: None,
                    ..
                }
            ),
            "{report:?}"
        );
        // Not running is never probed over HTTP.
        assert_eq!(sup.health.probes.load(Ordering::Relaxed), 0);
        // Its tap appears on the bridge (as libvirt or EOS would put it).
        sup.bridge.set(Some(vec![tap(true)]));
        assert!(matches!(
            decision(&sup.tick(t0 + Duration::from_secs(10)).await),
            Decision::Recovered { .. }
        ));
        assert_eq!(sup.vm().restarts.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_running_vm_off_the_bridge_is_put_back_without_restart_or_grace() {
        let mut sup = Supervisor::new(
            FakeVm::default(),
            FakeBridge::tap_off_bridge(None),
            FakeHealth::new(true),
            policy(),
        );
        let t0 = Instant::now();
        let report = sup.tick(t0).await;
        match &report {
            TickReport::Decided {
                attachment,
                decision,
                restart,
                reattached,
                health,
            } => {
                assert_eq!(
                    attachment,
                    &Attachment::Attached {
                        port: "vnet0".into()
                    }
                );
                assert_eq!(decision, &Decision::Steady);
                assert!(restart.is_none());
                assert!(matches!(reattached, Some(Ok(t)) if t == "vnet0"));
                assert_eq!(health, &Some(Health::Healthy));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(*sup.bridge().reattached.lock().unwrap(), ["vnet0"]);
        // Once back, it stays: no second re-attach, no restart.
        for i in 1..100 {
            let report = sup.tick(t0 + Duration::from_secs(5 * i)).await;
            assert!(
                matches!(
                    &report,
                    TickReport::Decided {
                        decision: Decision::Steady,
                        reattached: None,
                        ..
                    }
                ),
                "{report:?}"
            );
        }
        assert_eq!(sup.bridge().reattached.lock().unwrap().len(), 1);
        assert!(sup.vm().restarts.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_booting_vm_put_back_gets_the_rest_of_its_grace_from_its_start() {
        // QEMU started 20 s before the agent saw it; grace 30 s.
        let mut sup = Supervisor::new(
            FakeVm::default(),
            FakeBridge {
                holder_age: Some(Duration::from_secs(20)),
                ..FakeBridge::tap_off_bridge(None)
            },
            FakeHealth::new(false),
            policy(),
        );
        let t0 = Instant::now();
        assert_eq!(
            decision(&sup.tick(t0).await),
            &Decision::Grace {
                problem: Problem::Unhealthy(HealthFailure::Status(503)),
                remaining: Duration::from_secs(10)
            }
        );
        assert!(matches!(
            decision(&sup.tick(t0 + Duration::from_secs(5)).await),
            Decision::Grace { .. }
        ));
        *sup.health.healthy.lock().unwrap() = true;
        assert!(matches!(
            decision(&sup.tick(t0 + Duration::from_secs(9)).await),
            Decision::Recovered { .. }
        ));
        assert!(sup.vm().restarts.lock().unwrap().is_empty());

        // The same boot, but it never comes up: restarted 30 s after its
        // own start, i.e. 10 s after the agent first saw it.
        let mut sup = Supervisor::new(
            FakeVm::default(),
            FakeBridge {
                holder_age: Some(Duration::from_secs(20)),
                ..FakeBridge::tap_off_bridge(None)
            },
            FakeHealth::new(false),
            policy(),
        );
        let mut restarted = None;
        for i in 0..30 {
            if let Decision::Restart { .. } = decision(&sup.tick(t0 + Duration::from_secs(i)).await)
            {
                restarted.get_or_insert(i);
            }
        }
        assert_eq!(restarted, Some(10));
    }

    #[tokio::test]
    async fn a_tap_another_controller_holds_is_left_there_and_handled_as_detached() {
        let mut sup = Supervisor::new(
            FakeVm::default(),
            FakeBridge::tap_off_bridge(Some(42)),
            FakeHealth::new(true),
            policy(),
        );
        let t0 = Instant::now();
        assert!(matches!(
            decision(&sup.tick(t0).await),
            Decision::Grace {
                problem: Problem::Detached,
                ..
            }
        ));
        assert!(matches!(
            decision(&sup.tick(t0 + Duration::from_secs(30)).await),
            Decision::Restart {
                problem: Problem::Detached,
                ..
            }
        ));
        assert!(sup.bridge().reattached.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_refused_reattach_is_reported_and_the_grace_then_restart_follow() {
        let mut sup = Supervisor::new(
            FakeVm::default(),
            FakeBridge {
                refuse_reattach: true,
                ..FakeBridge::tap_off_bridge(None)
            },
            FakeHealth::new(true),
            policy(),
        );
        let t0 = Instant::now();
        let report = sup.tick(t0).await;
        assert!(
            matches!(
                &report,
                TickReport::Decided {
                    attachment: Attachment::Detached,
                    decision: Decision::Grace {
                        problem: Problem::Detached,
                        ..
                    },
                    reattached: Some(Err(VmError::CannotReattach { .. })),
                    ..
                }
            ),
            "{report:?}"
        );
        assert!(matches!(
            decision(&sup.tick(t0 + Duration::from_secs(30)).await),
            Decision::Restart { .. }
        ));
        assert_eq!(
            *sup.vm().restarts.lock().unwrap(),
            ["not attached to the bridge"]
        );
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

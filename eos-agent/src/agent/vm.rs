//! The VM step: the ztps-vm supervisor on a ticker, its backends wired to
//! the agent (EOS `virtual-machine NAME restart` through our eAPI client),
//! and its reports turned into status, counters and events on change.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info, warn};
use ztps_eapi::EapiClient;
use ztps_events::Event;
use ztps_vm::eos::EosCli;
use ztps_vm::{
    Attachment, BridgeInspector, Decision, Health, HealthProbe, Supervisor, TickReport, VmControl,
};

use super::state::{Shared, VmStatus};

/// The eAPI client as the EOS VM backend's command runner; the client is
/// the one currently configured (a reload may replace it).
#[derive(Debug, Clone)]
pub struct EapiCli(pub watch::Receiver<Arc<EapiClient>>);

impl EosCli for EapiCli {
    async fn configure(
        &self,
        cmds: &[String],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let client = self.0.borrow().clone();
        let lines: Vec<&str> = cmds.iter().map(String::as_str).collect();
        client
            .configure(&lines)
            .await
            .map(|_| ())
            .map_err(Into::into)
    }
}

/// Turns tick reports into events, logging each condition when it changes.
#[derive(Debug)]
pub struct Reporter {
    vm: String,
    bridge: String,
    url: String,
    attachment: Option<String>,
    /// The health state last reported: "healthy", "unhealthy" or
    /// "wrong-server" (one event per change, not per probe).
    health_state: Option<&'static str>,
    /// The verdict's kind last logged (grace, backing-off, holding...).
    verdict: Option<&'static str>,
    unobservable: Option<String>,
    pub status: VmStatus,
}

fn verdict_kind(decision: &Decision) -> &'static str {
    match decision {
        Decision::Steady | Decision::Recovered { .. } => "steady",
        Decision::Grace { .. } => "grace",
        Decision::Restart { .. } => "restart",
        Decision::BackingOff { .. } => "backing-off",
        Decision::Holding { .. } => "holding",
    }
}

impl Reporter {
    pub fn new(vm: &str, bridge: &str, url: &str) -> Self {
        Reporter {
            vm: vm.to_string(),
            bridge: bridge.to_string(),
            url: url.to_string(),
            attachment: None,
            health_state: None,
            verdict: None,
            unobservable: None,
            status: VmStatus {
                managed: true,
                name: vm.to_string(),
                attachment: "unknown".into(),
                health: "unknown".into(),
                health_url: url.to_string(),
                decision: "starting".into(),
                ..VmStatus::default()
            },
        }
    }

    /// The events for one tick; `restarts_last_hour` is the policy's count.
    pub fn report(&mut self, report: &TickReport, restarts_last_hour: u32) -> Vec<Event> {
        self.status.restarts_last_hour = restarts_last_hour;
        let (attachment, health, decision, restart, reattached) = match report {
            TickReport::CannotObserve(e) => {
                let reason = e.to_string();
                if self.unobservable.as_ref() != Some(&reason) {
                    warn!(vm = %self.vm, %reason, "cannot observe the VM; nothing is restarted on a guess");
                    self.unobservable = Some(reason);
                }
                self.status.attachment = "unobservable".into();
                return Vec::new();
            }
            TickReport::Decided {
                attachment,
                health,
                decision,
                restart,
                reattached,
            } => (attachment, health, decision, restart, reattached),
        };
        self.unobservable = None;
        let mut events = Vec::new();
        match reattached {
            Some(Ok(tap)) => {
                info!(vm = %self.vm, bridge = %self.bridge, %tap, "VM tap put back on the bridge; no restart");
                events.push(Event::VmReattached {
                    vm: self.vm.clone(),
                    bridge: self.bridge.clone(),
                    tap: tap.clone(),
                });
            }
            Some(Err(e)) => {
                warn!(vm = %self.vm, bridge = %self.bridge, error = %e, "cannot put the VM's tap back on the bridge");
            }
            None => {}
        }
        let (name, tap) = match attachment {
            Attachment::Attached { port } => ("attached", Some(port.clone())),
            Attachment::PortDown { port } => ("port-down", Some(port.clone())),
            Attachment::Detached => ("detached", None),
        };
        if self.attachment.as_deref() != Some(name) {
            match attachment {
                Attachment::Attached { port } => {
                    info!(vm = %self.vm, bridge = %self.bridge, tap = %port, "VM attached");
                    events.push(Event::VmAttached {
                        vm: self.vm.clone(),
                        bridge: self.bridge.clone(),
                        tap: port.clone(),
                    });
                }
                _ => {
                    warn!(vm = %self.vm, bridge = %self.bridge, state = name, "VM not attached");
                    events.push(Event::VmDetached {
                        vm: self.vm.clone(),
                        bridge: self.bridge.clone(),
                    });
                }
            }
            self.attachment = Some(name.to_string());
        }
        self.status.attachment = name.into();
        self.status.tap = tap;
        if let Some(health) = health {
            let state = match health {
                Health::Healthy => "healthy",
                Health::Unhealthy(_) => "unhealthy",
                Health::WrongServer(_) => "wrong-server",
            };
            if self.health_state != Some(state) {
                match health {
                    Health::Healthy => {
                        info!(url = %self.url, "ZTPServer healthy");
                        events.push(Event::ZtpserverHealthy {
                            url: self.url.clone(),
                        });
                    }
                    Health::Unhealthy(why) => {
                        warn!(url = %self.url, reason = %why, "ZTPServer unhealthy");
                        events.push(Event::ZtpserverUnhealthy {
                            url: self.url.clone(),
                            reason: why.to_string(),
                        });
                    }
                    Health::WrongServer(wrong) => {
                        error!(url = %self.url, %wrong, fix = %wrong.fix(), "ZTPServer serves the wrong server_url");
                        events.push(Event::ZtpserverWrongServer {
                            url: self.url.clone(),
                            served: wrong.served.clone(),
                            expected: wrong.expected.clone(),
                            fix: wrong.fix(),
                        });
                    }
                }
                self.health_state = Some(state);
            }
            self.status.health = match health {
                Health::Healthy => "healthy".into(),
                Health::Unhealthy(why) => format!("unhealthy: {why}"),
                Health::WrongServer(wrong) => format!("wrong server_url: {wrong}"),
            };
        } else {
            self.health_state = None;
            self.status.health = "unknown".into();
        }
        let kind = verdict_kind(decision);
        self.status.decision = describe(decision);
        if let Decision::Restart { problem, .. } = decision {
            self.status.restarts_total += 1;
            let reason = match restart {
                Some(Err(e)) => {
                    error!(vm = %self.vm, error = %e, "VM restart failed");
                    format!("{problem} (the restart failed: {e})")
                }
                _ => {
                    info!(vm = %self.vm, %problem, "VM restarted");
                    problem.to_string()
                }
            };
            events.push(Event::VmRestarted {
                vm: self.vm.clone(),
                reason,
            });
        } else if self.verdict != Some(kind) && matches!(kind, "grace" | "backing-off" | "holding")
        {
            warn!(vm = %self.vm, decision = %self.status.decision, "VM needs attention");
        }
        self.verdict = Some(kind);
        events
    }
}

fn describe(decision: &Decision) -> String {
    match decision {
        Decision::Steady => "steady".into(),
        Decision::Recovered { problem_lasted } => {
            format!("recovered after {}s", problem_lasted.as_secs())
        }
        Decision::Grace { problem, remaining } => {
            format!(
                "{problem}; restart in {}s unless it recovers",
                remaining.as_secs()
            )
        }
        Decision::Restart {
            problem,
            next_backoff,
            ..
        } => format!(
            "restarted: {problem}; next restart no sooner than {}s",
            next_backoff.as_secs()
        ),
        Decision::BackingOff { problem, remaining } => {
            format!("{problem}; backing off for {}s", remaining.as_secs())
        }
        Decision::Holding {
            problem,
            restarts_this_hour,
            remaining,
        } => format!(
            "{problem}; {restarts_this_hour} restarts this hour, the limit: holding for {}s",
            remaining.as_secs()
        ),
    }
}

/// Ticks the supervisor every `interval` until the sender is dropped.
pub async fn run<C: VmControl, B: BridgeInspector, H: HealthProbe>(
    mut supervisor: Supervisor<C, B, H>,
    mut reporter: Reporter,
    mut interval: watch::Receiver<Duration>,
    shared: Shared,
) {
    loop {
        // tokio's clock, so that tests can drive time.
        let now = tokio::time::Instant::now().into_std();
        let report = supervisor.tick(now).await;
        let restarts = supervisor.policy().restarts_in_last_hour(now);
        let events = reporter.report(&report, restarts);
        if let TickReport::Decided {
            decision: Decision::Restart { .. },
            restart,
            ..
        } = &report
        {
            shared.metrics.vm_restarts.inc();
            if matches!(restart, Some(Err(_))) {
                shared.metrics.vm_restart_failures.inc();
            }
        }
        shared.metrics.vm_healthy.set(i64::from(
            reporter.status.attachment == "attached" && reporter.status.health == "healthy",
        ));
        for event in events {
            shared.hub.emit(event);
        }
        shared.update(|s| s.vm = reporter.status.clone());
        let every = *interval.borrow_and_update();
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            changed = interval.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use ztps_net::bridge::BridgePort;
    use ztps_vm::health::HealthFailure;
    use ztps_vm::{MacAddr, PolicyConfig, RestartPolicy, VmError, VmInterface, VmState};

    fn mac() -> MacAddr {
        "52:54:00:aa:bb:cc".parse().unwrap()
    }

    /// Counts restarts in a counter the test keeps a handle on.
    #[derive(Debug, Default, Clone)]
    struct FakeVm(Arc<AtomicUsize>);

    impl VmControl for FakeVm {
        async fn restart(&self, _reason: &str) -> Result<(), VmError> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        async fn state(&self) -> Result<VmState, VmError> {
            Ok(VmState::Unknown)
        }
        async fn interfaces(&self) -> Result<Vec<VmInterface>, VmError> {
            Ok(vec![VmInterface {
                tap: None,
                mac: mac(),
                host_ifindex: None,
            }])
        }
    }

    #[derive(Debug)]
    struct Tap;

    impl BridgeInspector for Tap {
        async fn ports(&self) -> Result<Vec<BridgePort>, VmError> {
            Ok(vec![BridgePort {
                ifindex: 7,
                name: "vnet0".into(),
                mac: Some(mac().tap_mac().0),
                oper_up: true,
            }])
        }
    }

    #[derive(Debug)]
    struct Probe(Mutex<bool>);

    impl HealthProbe for Probe {
        async fn check(&self) -> Health {
            if *self.0.lock().unwrap() {
                Health::Healthy
            } else {
                Health::Unhealthy(HealthFailure::Status(503))
            }
        }
    }

    fn policy() -> RestartPolicy {
        RestartPolicy::new(PolicyConfig {
            grace: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(40),
            max_per_hour: 3,
            reset_after: Duration::from_secs(600),
        })
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

    /// Event kinds delivered, each repeated as often as its record counts
    /// (the hub folds repeats within a minute into one record).
    async fn settle(hub: ztps_events::Hub, shared: &Shared) -> Vec<String> {
        hub.shutdown().await;
        shared
            .hub
            .recent(100)
            .into_iter()
            .flat_map(|r| std::iter::repeat_n(r.event.kind().to_string(), r.count as usize))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_healthy_attached_vm_is_left_alone_from_the_first_tick() {
        let (hub, shared) = shared();
        let vm = FakeVm::default();
        let sup = Supervisor::new(vm.clone(), Tap, Probe(Mutex::new(true)), policy());
        let (_tx, rx) = watch::channel(Duration::from_secs(5));
        let task = tokio::spawn(run(
            sup,
            Reporter::new("ztps", "br0", "http://x/bootstrap"),
            rx,
            shared.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(vm.0.load(Ordering::Relaxed), 0);
        let kinds = settle(hub, &shared).await;
        assert_eq!(
            kinds,
            ["vm_attached", "ztpserver_healthy"],
            "reported once, not per tick"
        );
        let status = shared.sections().vm;
        assert_eq!(
            (status.attachment.as_str(), status.health.as_str()),
            ("attached", "healthy")
        );
        assert_eq!(shared.metrics.vm_healthy.get(), 1);
        task.abort();
    }

    /// Serves the default server_url (a missing seed) until told the seed
    /// is fixed.
    #[derive(Debug)]
    struct SeedProbe(Mutex<bool>);

    impl HealthProbe for SeedProbe {
        async fn check(&self) -> Health {
            if *self.0.lock().unwrap() {
                Health::Healthy
            } else {
                Health::WrongServer(ztps_vm::WrongServer {
                    served: Some("http://ztpserver:8080".into()),
                    expected: "http://10.0.0.2:8080".into(),
                })
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_wrong_server_url_is_its_own_event_with_the_fix_and_no_restart() {
        let (hub, shared) = shared();
        let vm = FakeVm::default();
        let probe = SeedProbe(Mutex::new(false));
        let sup = Supervisor::new(vm.clone(), Tap, probe, policy());
        let (_tx, rx) = watch::channel(Duration::from_secs(5));
        let task = tokio::spawn(run(
            sup,
            Reporter::new("ztps", "br0", "http://10.0.0.2:8080/bootstrap"),
            rx,
            shared.clone(),
        ));
        // An hour: far past the grace and every backoff step.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(
            vm.0.load(Ordering::Relaxed),
            0,
            "a restart cannot fix a seed"
        );
        let status = shared.sections().vm;
        assert!(
            status.health.starts_with("wrong server_url"),
            "{}",
            status.health
        );
        assert_eq!(shared.metrics.vm_healthy.get(), 0);
        task.abort();
        hub.shutdown().await;
        let records = shared.hub.recent(100);
        let kinds: Vec<_> = records.iter().map(|r| r.event.kind()).collect();
        assert_eq!(kinds, ["vm_attached", "ztpserver_wrong_server"]);
        let message = records[1].event.message();
        assert!(
            message.contains("http://ztpserver:8080") && message.contains("render seed"),
            "{message}"
        );
    }

    /// The VM's tap off the bridge, as a VM started before br0 leaves it.
    #[derive(Debug, Default)]
    struct LooseTap(Mutex<bool>);

    impl BridgeInspector for LooseTap {
        async fn ports(&self) -> Result<Vec<BridgePort>, VmError> {
            Ok(if *self.0.lock().unwrap() {
                Tap.ports().await?
            } else {
                vec![]
            })
        }
        async fn host_links(&self) -> Result<Vec<ztps_net::bridge::HostLink>, VmError> {
            Ok(Tap
                .ports()
                .await?
                .into_iter()
                .map(|link| ztps_net::bridge::HostLink {
                    link,
                    controller: None,
                })
                .collect())
        }
        async fn reattach(&self, _link: &BridgePort) -> Result<(), VmError> {
            *self.0.lock().unwrap() = true;
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_tap_off_the_bridge_is_put_back_and_said_so_without_a_restart() {
        let (hub, shared) = shared();
        let vm = FakeVm::default();
        let sup = Supervisor::new(
            vm.clone(),
            LooseTap::default(),
            Probe(Mutex::new(true)),
            policy(),
        );
        let (_tx, rx) = watch::channel(Duration::from_secs(5));
        let task = tokio::spawn(run(
            sup,
            Reporter::new("ztps", "br0", "http://x/bootstrap"),
            rx,
            shared.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(vm.0.load(Ordering::Relaxed), 0);
        let kinds = settle(hub, &shared).await;
        assert_eq!(kinds, ["vm_reattached", "vm_attached", "ztpserver_healthy"]);
        assert_eq!(shared.metrics.vm_restarts.get(), 0);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn an_unhealthy_vm_is_restarted_bounded_and_backed_off() {
        let (hub, shared) = shared();
        let vm = FakeVm::default();
        let sup = Supervisor::new(vm.clone(), Tap, Probe(Mutex::new(false)), policy());
        let (_tx, rx) = watch::channel(Duration::from_secs(1));
        let task = tokio::spawn(run(
            sup,
            Reporter::new("ztps", "br0", "http://x/bootstrap"),
            rx,
            shared.clone(),
        ));
        // Grace 10 s, then restarts spaced 10, 20, 40 s apart: three within
        // the first 40 s, then the hourly cap of 3 holds.
        tokio::time::sleep(Duration::from_secs(45)).await;
        assert_eq!(vm.0.load(Ordering::Relaxed), 3);
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(vm.0.load(Ordering::Relaxed), 3, "the hourly cap holds");
        assert_eq!(shared.metrics.vm_restarts.get(), 3);
        let status = shared.sections().vm;
        assert!(status.decision.contains("holding"), "{}", status.decision);
        assert_eq!(status.restarts_last_hour, 3);
        let kinds = settle(hub, &shared).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "vm_restarted").count(),
            3,
            "{kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "ztpserver_unhealthy").count(),
            1,
            "{kinds:?}"
        );
        task.abort();
    }
}

//! The eAPI watch: EOS's view of the links (`show interfaces status
//! connected`, and `show lldp neighbors` when neighbours are expected),
//! compared with the kernel's. Netlink gives immediacy; eAPI gives EOS's
//! truth. Everything here is logged when it changes, never per poll.
//!
//! The kernel reports every link change at once over netlink, and each one
//! wakes the watch for a poll; eAPI is the cross-check. So the watch polls
//! every `poll_interval` while something is in doubt (a link changed, a
//! disagreement is being confirmed, EOS was unreachable) and, once
//! [`SETTLE_POLLS`] polls in a row found nothing new, every
//! [`STEADY_FACTOR`] × `poll_interval`: an idle spine with hundreds of
//! links does not parse hundreds of interfaces every few seconds. A link
//! that EOS alone reports is still noticed, at the next poll.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};
use ztps_eapi::models::{LinkStatus, LldpNeighbors};
use ztps_eapi::{Command, EapiClient, EapiError};
use ztps_events::Event;
use ztps_net::iftable::{Interface, InterfaceTable};

use super::events::is_front_panel;
use super::state::Shared;

const CONNECTED: &str = "show interfaces status connected";
const LLDP: &str = "show lldp neighbors";
/// Polls a disagreement must last before it is reported: a link that just
/// changed is seen by netlink a moment before EOS reports it.
const CONFIRM_POLLS: u8 = 2;
/// The first retry after a failure; later ones double up to the cap.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Polls in a row with nothing new and nothing in doubt before the watch
/// slows down to its steady interval.
pub const SETTLE_POLLS: u32 = 3;
/// The steady interval, in poll intervals (one minute at the default 5 s).
pub const STEADY_FACTOR: u32 = 12;

/// One poll's answer: connected interfaces (EOS names) and, when asked,
/// LLDP neighbours by local EOS port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    pub connected: BTreeSet<String>,
    pub lldp: Option<BTreeMap<String, LldpSeen>>,
}

/// What LLDP hears on one local port: the neighbour's system name and its
/// own port (empty when the neighbour does not say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LldpSeen {
    pub device: String,
    pub port: String,
}

impl LldpSeen {
    fn port(&self) -> Option<String> {
        (!self.port.is_empty()).then(|| self.port.clone())
    }
}

/// EOS as the watch sees it; the real one is [`EapiClient`].
pub trait EosView: Send + Sync {
    fn observe(
        &self,
        with_lldp: bool,
    ) -> impl Future<Output = Result<Observation, EapiError>> + Send;
    fn endpoint(&self) -> String;
}

/// `show interfaces status connected`, as much of it as the watch reads:
/// the names and link states, not every interface's dozen other fields.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkStates {
    interface_statuses: BTreeMap<String, LinkState>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkState {
    link_status: LinkStatus,
}

impl EosView for EapiClient {
    async fn observe(&self, with_lldp: bool) -> Result<Observation, EapiError> {
        let mut cmds = vec![Command::new(CONNECTED)];
        if with_lldp {
            cmds.push(Command::new(LLDP));
        }
        let mut results = self.run_cmds(&cmds).await?.into_iter();
        let status: LinkStates = decode(CONNECTED, results.next())?;
        let connected = status
            .interface_statuses
            .into_iter()
            .filter(|(_, s)| s.link_status == LinkStatus::Connected)
            .map(|(name, _)| name)
            .collect();
        let lldp = if with_lldp {
            let neighbors: LldpNeighbors = decode(LLDP, results.next())?;
            Some(
                neighbors
                    .lldp_neighbors
                    .into_iter()
                    .map(|n| {
                        let seen = LldpSeen {
                            device: n.neighbor_device,
                            port: n.neighbor_port,
                        };
                        (n.port, seen)
                    })
                    .collect(),
            )
        } else {
            None
        };
        Ok(Observation { connected, lldp })
    }

    fn endpoint(&self) -> String {
        EapiClient::endpoint(self).to_string()
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    command: &str,
    value: Option<Value>,
) -> Result<T, EapiError> {
    serde_json::from_value(value.unwrap_or(Value::Null)).map_err(|source| EapiError::Decode {
        command: command.to_string(),
        source,
    })
}

/// What the watch remembers between polls.
#[derive(Debug, Default)]
pub struct WatchState {
    endpoint: String,
    /// `None` before the first poll; then whether the last one succeeded.
    reachable: Option<bool>,
    last_error: Option<String>,
    failures: u32,
    /// Kernel names EOS reported connected at the last successful poll.
    connected: BTreeSet<String>,
    /// Kernel names seen disagreeing, with the number of polls in a row.
    suspects: BTreeMap<String, u8>,
    /// Kernel names reported as disagreeing (logged once).
    disagreeing: BTreeSet<String>,
    /// Last LLDP verdict per kernel name: the neighbour seen.
    lldp_seen: BTreeMap<String, LldpSeen>,
    /// Successful polls in a row that found nothing new and nothing in
    /// doubt; from [`SETTLE_POLLS`] on, the watch polls at its steady pace.
    quiet_polls: u32,
    /// The last successful observation and the interface table's version
    /// then: an identical poll against an unchanged kernel needs no digest.
    last: Option<(Observation, u64)>,
}

/// The eAPI settings the watch runs with; replaced on reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSettings {
    pub poll_interval: Duration,
    /// Expected LLDP neighbour (system name) by kernel interface name.
    pub lldp_expected: BTreeMap<String, String>,
}

impl WatchSettings {
    /// The longest wait between retries while eAPI fails.
    fn retry_cap(&self) -> Duration {
        (self.poll_interval * 6).max(self.poll_interval)
    }

    /// The wait between polls once nothing is in doubt.
    pub fn steady_interval(&self) -> Duration {
        self.poll_interval.saturating_mul(STEADY_FACTOR)
    }
}

impl WatchState {
    pub fn new(endpoint: String) -> Self {
        WatchState {
            endpoint,
            ..WatchState::default()
        }
    }

    /// Something changed (a link event from the kernel): poll at the
    /// fast pace again until things settle.
    pub fn unsettle(&mut self) {
        self.quiet_polls = 0;
    }

    /// When to poll next after a successful poll.
    fn next_poll(&self, settings: &WatchSettings) -> Duration {
        if self.quiet_polls >= SETTLE_POLLS {
            settings.steady_interval()
        } else {
            settings.poll_interval
        }
    }

    /// Whether a poll that saw `observation`, with the kernel's table at
    /// `version`, can tell nothing new: the same answer as last time
    /// against the same kernel, with no disagreement being confirmed.
    pub fn is_repeat(&self, observation: &Result<Observation, EapiError>, version: u64) -> bool {
        match (observation, &self.last) {
            (Ok(seen), Some((last, at))) => {
                seen == last && *at == version && self.suspects.is_empty()
            }
            _ => false,
        }
    }

    /// Counts a poll that [`WatchState::is_repeat`] found repeated.
    pub fn repeat(&mut self, settings: &WatchSettings) -> Duration {
        self.quiet_polls = self.quiet_polls.saturating_add(1);
        self.next_poll(settings)
    }

    /// Digests one poll; returns the events and when to poll next.
    #[cfg(test)]
    pub fn digest(
        &mut self,
        result: Result<Observation, EapiError>,
        kernel: &[Interface],
        settings: &WatchSettings,
    ) -> (Vec<Event>, Duration) {
        self.digest_at(result, kernel, 0, settings)
    }

    /// [`WatchState::digest`], remembering the kernel table's `version`.
    pub fn digest_at(
        &mut self,
        result: Result<Observation, EapiError>,
        kernel: &[Interface],
        version: u64,
        settings: &WatchSettings,
    ) -> (Vec<Event>, Duration) {
        match result {
            Ok(observation) => {
                let mut events = Vec::new();
                if self.reachable != Some(true) {
                    info!(endpoint = %self.endpoint, "eAPI reachable");
                    events.push(Event::EapiReachable {
                        endpoint: self.endpoint.clone(),
                    });
                }
                self.reachable = Some(true);
                self.last_error = None;
                self.failures = 0;
                let connected_before = self.connected.clone();
                events.extend(self.links(&observation.connected, kernel));
                if let Some(lldp) = &observation.lldp {
                    events.extend(self.lldp(lldp, &settings.lldp_expected));
                }
                let in_doubt = !events.is_empty()
                    || connected_before != self.connected
                    || !self.suspects.is_empty()
                    || !self.disagreeing.is_empty();
                self.quiet_polls = if in_doubt {
                    0
                } else {
                    self.quiet_polls.saturating_add(1)
                };
                self.last = Some((observation, version));
                (events, self.next_poll(settings))
            }
            Err(error) => {
                let reason = error.to_string();
                let mut events = Vec::new();
                if self.last_error.as_deref() != Some(reason.as_str()) {
                    match self.reachable {
                        None => {
                            info!(endpoint = %self.endpoint, %reason, "eAPI not reachable yet; retrying with backoff")
                        }
                        _ => {
                            warn!(endpoint = %self.endpoint, %reason, "eAPI unreachable; retrying with backoff")
                        }
                    }
                    events.push(Event::EapiUnreachable {
                        endpoint: self.endpoint.clone(),
                        reason: reason.clone(),
                    });
                }
                self.reachable = Some(false);
                self.last_error = Some(reason);
                self.failures = self.failures.saturating_add(1);
                self.quiet_polls = 0;
                self.last = None;
                let backoff =
                    FIRST_RETRY.saturating_mul(1 << self.failures.saturating_sub(1).min(16));
                (events, backoff.min(settings.retry_cap()))
            }
        }
    }

    /// New connected links, and disagreements with the kernel that last.
    fn links(&mut self, connected_eos: &BTreeSet<String>, kernel: &[Interface]) -> Vec<Event> {
        let connected: BTreeSet<String> = connected_eos
            .iter()
            .filter_map(|n| ztps_eapi::ifname::eos_to_kernel(n))
            .collect();
        let mut events: Vec<Event> = connected
            .difference(&self.connected)
            .map(|name| {
                info!(interface = %name, "EOS reports the link connected");
                Event::LinkUp {
                    interface: name.clone(),
                }
            })
            .collect();
        self.connected = connected;
        let kernel_up: BTreeSet<&str> = kernel
            .iter()
            .filter(|i| i.up && is_front_panel(&i.name))
            .map(|i| i.name.as_str())
            .collect();
        let mut now_disagreeing = BTreeSet::new();
        for name in self
            .connected
            .iter()
            .map(String::as_str)
            .chain(kernel_up.iter().copied())
        {
            if self.connected.contains(name) != kernel_up.contains(name) {
                now_disagreeing.insert(name.to_string());
            }
        }
        self.suspects
            .retain(|name, _| now_disagreeing.contains(name));
        for name in &now_disagreeing {
            let polls = self.suspects.entry(name.clone()).or_insert(0);
            *polls = polls.saturating_add(1);
            if *polls >= CONFIRM_POLLS && self.disagreeing.insert(name.clone()) {
                let eapi_connected = self.connected.contains(name);
                warn!(interface = %name, eapi_connected, kernel_up = !eapi_connected, "EOS and the kernel disagree about the link");
                events.push(Event::LinkStateDisagreement {
                    interface: name.clone(),
                    eapi_connected,
                    kernel_up: !eapi_connected,
                });
            }
        }
        let settled: Vec<String> = self
            .disagreeing
            .difference(&now_disagreeing)
            .cloned()
            .collect();
        for name in settled {
            info!(interface = %name, "EOS and the kernel agree about the link again");
            self.disagreeing.remove(&name);
        }
        events
    }

    /// LLDP neighbours against the expected ones; a verdict is reported
    /// when the neighbour seen on a port changes.
    fn lldp(
        &mut self,
        seen_eos: &BTreeMap<String, LldpSeen>,
        expected: &BTreeMap<String, String>,
    ) -> Vec<Event> {
        let seen: BTreeMap<String, LldpSeen> = seen_eos
            .iter()
            .filter_map(|(port, device)| {
                Some((ztps_eapi::ifname::eos_to_kernel(port)?, device.clone()))
            })
            .collect();
        let mut events = Vec::new();
        for (interface, want) in expected {
            let Some(got) = seen.get(interface) else {
                continue;
            };
            if self.lldp_seen.get(interface) == Some(got) {
                continue;
            }
            self.lldp_seen.insert(interface.clone(), got.clone());
            let device = &got.device;
            // EOS reports the neighbour's FQDN when it has one.
            if device == want || device.split('.').next() == Some(want.as_str()) {
                info!(%interface, neighbour = %device, port = %got.port, "LLDP neighbour as expected");
                events.push(Event::LldpAsExpected {
                    interface: interface.clone(),
                    neighbour: device.clone(),
                    neighbour_port: got.port(),
                });
            } else {
                warn!(%interface, expected = %want, seen = %device, port = %got.port, "unexpected LLDP neighbour");
                events.push(Event::LldpUnexpected {
                    interface: interface.clone(),
                    expected: want.clone(),
                    seen: device.clone(),
                    neighbour_port: got.port(),
                });
            }
        }
        events
    }

    fn publish(&self, shared: &Shared, settings: &WatchSettings) {
        shared.update(|s| {
            s.eapi.enabled = true;
            s.eapi.endpoint.clone_from(&self.endpoint);
            s.eapi.reachable = self.reachable;
            s.eapi.last_error.clone_from(&self.last_error);
            s.eapi.connected_interfaces = self
                .connected
                .iter()
                .filter_map(|n| ztps_eapi::ifname::kernel_to_eos(n))
                .collect();
            s.eapi.disagreements = self.disagreeing.iter().cloned().collect();
            s.eapi.poll_interval_secs = settings.poll_interval.as_secs();
        });
    }
}

/// The eAPI view and the settings it polls with, swapped as a pair on reload.
#[derive(Debug)]
pub struct WatchTarget<V> {
    pub view: Arc<V>,
    pub settings: WatchSettings,
}

impl<V> Clone for WatchTarget<V> {
    fn clone(&self) -> Self {
        WatchTarget {
            view: self.view.clone(),
            settings: self.settings.clone(),
        }
    }
}

/// Polls until `target` is closed. `wake` asks for a poll now (a link
/// changed); it never shortens a backoff after failures.
pub async fn run<V: EosView + 'static>(
    mut target: watch::Receiver<WatchTarget<V>>,
    table: InterfaceTable,
    shared: Shared,
    wake: Arc<Notify>,
) {
    let mut current = target.borrow_and_update().clone();
    let mut state = WatchState::new(current.view.endpoint());
    let mut publish = true;
    loop {
        let result = current
            .view
            .observe(!current.settings.lldp_expected.is_empty())
            .await;
        shared.metrics.eapi_polls.inc();
        if result.is_err() {
            shared.metrics.eapi_errors.inc();
        }
        let version = table.version();
        let delay = if state.is_repeat(&result, version) {
            // Nothing new: no copy of the kernel's table, no sets to build.
            state.repeat(&current.settings)
        } else {
            let (events, delay) =
                state.digest_at(result, &table.snapshot(), version, &current.settings);
            for event in events {
                shared.hub.emit(event);
            }
            publish = true;
            delay
        };
        shared
            .metrics
            .eapi_reachable
            .set(i64::from(state.reachable == Some(true)));
        if publish {
            state.publish(&shared, &current.settings);
            publish = false;
        }
        let healthy = state.reachable == Some(true);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = wake.notified(), if healthy => state.unsettle(),
            changed = target.changed() => {
                if changed.is_err() {
                    return;
                }
                current = target.borrow_and_update().clone();
                let endpoint = current.view.endpoint();
                if endpoint != state.endpoint {
                    state = WatchState::new(endpoint);
                }
                state.unsettle();
                publish = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    fn settings() -> WatchSettings {
        WatchSettings {
            poll_interval: Duration::from_secs(5),
            lldp_expected: BTreeMap::new(),
        }
    }

    fn kernel(up: &[&str]) -> Vec<Interface> {
        up.iter()
            .enumerate()
            .map(|(i, name)| Interface {
                index: i as u32 + 2,
                name: name.to_string(),
                up: true,
                ..Interface::default()
            })
            .collect()
    }

    fn seen(names: &[&str]) -> Result<Observation, EapiError> {
        Ok(Observation {
            connected: names.iter().map(|s| s.to_string()).collect(),
            lldp: None,
        })
    }

    fn down() -> Result<Observation, EapiError> {
        Err(EapiError::Transport {
            endpoint: "unix:/x".into(),
            reason: "connection refused".into(),
        })
    }

    #[test]
    fn failures_back_off_log_once_and_recover() {
        let mut w = WatchState::new("unix:/x".into());
        let s = settings();
        let mut delays = Vec::new();
        let mut unreachable = 0;
        for _ in 0..8 {
            let (events, delay) = w.digest(down(), &[], &s);
            unreachable += events.len();
            delays.push(delay.as_secs());
        }
        assert_eq!(unreachable, 1, "the same failure is reported once");
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        let unauthorized = Err(EapiError::Command {
            code: ztps_eapi::ErrorCode::Unauthorized,
            command: CONNECTED.into(),
            message: "not allowed".into(),
            details: vec![],
            partial_results: vec![],
        });
        let (events, _) = w.digest(unauthorized, &[], &s);
        assert!(
            matches!(&events[..], [Event::EapiUnreachable { reason, .. }] if reason.contains("1005"))
        );
        let (events, delay) = w.digest(seen(&[]), &[], &s);
        assert_eq!(
            events,
            [Event::EapiReachable {
                endpoint: "unix:/x".into()
            }]
        );
        assert_eq!(delay, s.poll_interval);
        let (_, delay) = w.digest(down(), &[], &s);
        assert_eq!(
            delay,
            Duration::from_secs(1),
            "backoff restarts after a success"
        );
    }

    #[test]
    fn disagreements_are_confirmed_then_reported_once() {
        let mut w = WatchState::new("e".into());
        let s = settings();
        // EOS sees Ethernet1 and Ethernet2; the kernel only et1 (and et3).
        let k = kernel(&["et1", "et3", "br0"]);
        let (first, _) = w.digest(seen(&["Ethernet1", "Ethernet2"]), &k, &s);
        assert_eq!(
            first,
            [
                Event::EapiReachable {
                    endpoint: "e".into()
                },
                Event::LinkUp {
                    interface: "et1".into()
                },
                Event::LinkUp {
                    interface: "et2".into()
                },
            ],
            "one poll is not enough to call a disagreement"
        );
        let (second, _) = w.digest(seen(&["Ethernet1", "Ethernet2"]), &k, &s);
        assert_eq!(
            second,
            [
                Event::LinkStateDisagreement {
                    interface: "et2".into(),
                    eapi_connected: true,
                    kernel_up: false
                },
                Event::LinkStateDisagreement {
                    interface: "et3".into(),
                    eapi_connected: false,
                    kernel_up: true
                },
            ]
        );
        for _ in 0..5 {
            let (again, _) = w.digest(seen(&["Ethernet1", "Ethernet2"]), &k, &s);
            assert!(again.is_empty(), "{again:?}");
        }
        // et3 comes up in EOS too: agreement, and a new connected link.
        let (events, _) = w.digest(seen(&["Ethernet1", "Ethernet2", "Ethernet3"]), &k, &s);
        assert_eq!(
            events,
            [Event::LinkUp {
                interface: "et3".into()
            }]
        );
        assert_eq!(w.disagreeing, BTreeSet::from(["et2".to_string()]));
    }

    #[test]
    fn a_one_poll_blip_is_not_a_disagreement() {
        let mut w = WatchState::new("e".into());
        let s = settings();
        w.digest(seen(&["Ethernet1"]), &kernel(&[]), &s);
        let (events, _) = w.digest(seen(&["Ethernet1"]), &kernel(&["et1"]), &s);
        assert!(events.is_empty(), "{events:?}");
        assert!(w.suspects.is_empty());
    }

    #[test]
    fn lldp_verdicts_on_change_only() {
        let mut w = WatchState::new("e".into());
        let mut s = settings();
        s.lldp_expected = BTreeMap::from([
            ("et1".to_string(), "leaf1".to_string()),
            ("et2".to_string(), "leaf2".to_string()),
        ]);
        let obs = |pairs: &[(&str, &str)]| {
            Ok(Observation {
                connected: BTreeSet::new(),
                lldp: Some(
                    pairs
                        .iter()
                        .map(|(a, b)| {
                            let seen = LldpSeen {
                                device: b.to_string(),
                                port: "Ethernet49".into(),
                            };
                            (a.to_string(), seen)
                        })
                        .collect(),
                ),
            })
        };
        let (events, _) = w.digest(
            obs(&[("Ethernet1", "leaf1.dc1.example"), ("Ethernet2", "leaf9")]),
            &[],
            &s,
        );
        assert_eq!(
            events[1..],
            [
                Event::LldpAsExpected {
                    interface: "et1".into(),
                    neighbour: "leaf1.dc1.example".into(),
                    neighbour_port: Some("Ethernet49".into()),
                },
                Event::LldpUnexpected {
                    interface: "et2".into(),
                    expected: "leaf2".into(),
                    seen: "leaf9".into(),
                    neighbour_port: Some("Ethernet49".into()),
                },
            ]
        );
        let (events, _) = w.digest(
            obs(&[("Ethernet1", "leaf1.dc1.example"), ("Ethernet2", "leaf9")]),
            &[],
            &s,
        );
        assert!(events.is_empty());
        let (events, _) = w.digest(obs(&[("Ethernet2", "leaf2")]), &[], &s);
        assert_eq!(events.len(), 1);
    }

    /// Answers from a script, then keeps answering the last one.
    #[derive(Debug)]
    struct Scripted(Mutex<VecDeque<Result<Observation, EapiError>>>);

    impl EosView for Scripted {
        async fn observe(&self, _with_lldp: bool) -> Result<Observation, EapiError> {
            let mut script = self.0.lock().unwrap();
            if script.len() > 1 {
                script.pop_front().unwrap()
            } else {
                match script.front().unwrap() {
                    Ok(o) => Ok(o.clone()),
                    Err(_) => down(),
                }
            }
        }
        fn endpoint(&self) -> String {
            "fake".into()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_waits_out_a_down_eapi_and_publishes_reachability() {
        let hub = ztps_events::Hub::spawn(
            Default::default(),
            vec![],
            Arc::new(ztps_events::SystemClock),
        );
        let shared = Shared::new(hub.handle(), Default::default(), "c".into());
        let script = VecDeque::from([down(), down(), down(), seen(&["Ethernet1"])]);
        let target = WatchTarget {
            view: Arc::new(Scripted(Mutex::new(script))),
            settings: settings(),
        };
        let (tx, rx) = watch::channel(target);
        let task = tokio::spawn(run(
            rx,
            InterfaceTable::new(),
            shared.clone(),
            Arc::new(Notify::new()),
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(shared.sections().eapi.reachable, Some(false));
        // Retries after 1 s, 2 s, 4 s: reachable after 7 s.
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(shared.sections().eapi.reachable, Some(false));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let eapi = shared.sections().eapi;
        assert_eq!(eapi.reachable, Some(true));
        assert_eq!(eapi.connected_interfaces, ["Ethernet1"]);
        assert_eq!(shared.metrics.eapi_errors.get(), 3);
        drop(tx);
        task.await.unwrap();
    }

    /// EOS's answer, as the test sets it.
    #[derive(Debug)]
    struct Live(Mutex<BTreeSet<String>>);

    impl EosView for Live {
        async fn observe(&self, _with_lldp: bool) -> Result<Observation, EapiError> {
            Ok(Observation {
                connected: self.0.lock().unwrap().clone(),
                lldp: None,
            })
        }
        fn endpoint(&self) -> String {
            "live".into()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn polls_slow_down_once_settled_and_speed_up_on_a_link_event() {
        let hub = ztps_events::Hub::spawn(
            Default::default(),
            vec![],
            Arc::new(ztps_events::SystemClock),
        );
        let shared = Shared::new(hub.handle(), Default::default(), "c".into());
        let table = InterfaceTable::new();
        table.upsert_link(2, "et1", true, &[2, 0, 0, 0, 0, 1], Some("veth"));
        let eos = Arc::new(Live(Mutex::new(BTreeSet::from(["Ethernet1".to_string()]))));
        let (tx, rx) = watch::channel(WatchTarget {
            view: eos.clone(),
            settings: settings(),
        });
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(run(rx, table.clone(), shared.clone(), wake.clone()));
        let polls = || shared.metrics.eapi_polls.get();
        let step = Duration::from_secs(5);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(polls(), 1);
        // In doubt at first (EOS just became reachable): every 5 s, until
        // SETTLE_POLLS polls in a row found nothing new.
        tokio::time::sleep(step * SETTLE_POLLS).await;
        assert_eq!(polls(), 1 + u64::from(SETTLE_POLLS));
        // Then once a minute.
        tokio::time::sleep(step * (STEADY_FACTOR - 1)).await;
        assert_eq!(polls(), 1 + u64::from(SETTLE_POLLS), "steady: no poll yet");
        tokio::time::sleep(step).await;
        assert_eq!(polls(), 2 + u64::from(SETTLE_POLLS));

        // A link that only EOS reports is still noticed, at the next poll.
        eos.0.lock().unwrap().insert("Ethernet2".into());
        tokio::time::sleep(step * STEADY_FACTOR).await;
        let eapi = shared.sections().eapi;
        assert_eq!(eapi.connected_interfaces, ["Ethernet1", "Ethernet2"]);
        // ... and, being in doubt, confirmed as a disagreement 5 s later.
        tokio::time::sleep(step).await;
        assert_eq!(shared.sections().eapi.disagreements, ["et2"]);

        // EOS drops it again, and all agrees; the watch settles again.
        eos.0.lock().unwrap().remove("Ethernet2");
        tokio::time::sleep(step * (SETTLE_POLLS + 1)).await;
        let settled = polls();
        tokio::time::sleep(step * (STEADY_FACTOR - 1)).await;
        assert_eq!(polls(), settled, "settled again");

        // A link event from the kernel: a poll at once, then the fast pace.
        table.upsert_link(3, "et3", true, &[2, 0, 0, 0, 0, 3], Some("veth"));
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(polls(), settled + 1);
        tokio::time::sleep(step).await;
        assert_eq!(polls(), settled + 2);
        drop(tx);
        task.await.unwrap();
    }
}

//! The per-leaf timeline: for every leaf in the plan (`[[leaves]]`), the
//! stages from cable to provisioned, each with the time it was reached,
//! and what to do when a leaf stops moving.
//!
//! It learns from the events every other part of the agent emits (link,
//! DHCP, LLDP: it is a sink of the hub) and from the leaves' own bootstrap
//! logs (`syslog_rx`). Stages only move forward: a reloading leaf's link
//! going down and up again is part of the story, not a new start.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use ztps_config::{AgentConfig, TimelineConfig};
use ztps_events::bootlog::{BootstrapLine, Milestone};
use ztps_events::{Event, EventsError, HubHandle, Record, Sink, Stage};

/// One stage reached, and when.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageTime {
    pub stage: Stage,
    pub at: jiff::Timestamp,
    /// Seconds since the first stage seen (link up, usually).
    pub after_secs: f64,
}

/// One planned leaf as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LeafView {
    pub leaf: String,
    /// The spine's port, EOS name.
    pub interface: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Addr>,
    pub stage: Stage,
    /// When the current stage was reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<jiff::Timestamp>,
    /// The last thing said about the leaf (a stage, the bootstrap's words,
    /// a stuck verdict).
    pub message: String,
    /// Why the leaf is stuck, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stuck: Option<String>,
    /// What LLDP last showed on the leaf's planned port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lldp: Option<String>,
    pub stages: Vec<StageTime>,
}

#[derive(Debug)]
struct LeafState {
    leaf: String,
    interface: String,
    kernel: String,
    leaf_port: Option<String>,
    /// The serial the plan pins the leaf by, if any.
    planned_serial: Option<String>,
    serial: Option<String>,
    address: Option<Ipv4Addr>,
    stage: Stage,
    entered: Option<Instant>,
    stages: Vec<StageTime>,
    message: String,
    stuck: Option<String>,
    /// The stage a stuck event was sent for (one per stage).
    stuck_reported: Option<Stage>,
    lldp: Option<String>,
    /// The last bootstrap line, quoted in a stuck verdict.
    last_bootstrap: Option<String>,
    /// ZTPServer's refusal of the node, told with the failure that follows.
    refused: Option<String>,
}

impl LeafState {
    /// Back to "planned", for a leaf that starts ZTP again.
    fn restart(&mut self) {
        self.serial.clone_from(&self.planned_serial);
        self.address = None;
        self.stage = Stage::Planned;
        self.entered = None;
        self.stages.clear();
        self.message = Stage::Planned.describe().into();
        self.stuck = None;
        self.stuck_reported = None;
        self.lldp = None;
        self.last_bootstrap = None;
        self.refused = None;
    }

    fn view(&self) -> LeafView {
        LeafView {
            leaf: self.leaf.clone(),
            interface: self.interface.clone(),
            serial: self.serial.clone(),
            address: self.address,
            stage: self.stage,
            since: self.stages.last().map(|s| s.at),
            message: self.message.clone(),
            stuck: self.stuck.clone(),
            lldp: self.lldp.clone(),
            stages: self.stages.clone(),
        }
    }
}

/// Counts of the bootstrap log receiver, for `/metrics` and `/status`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LogCounts {
    /// Lines tied to a planned leaf.
    pub accepted: u64,
    /// Datagrams that were not a bootstrap line.
    pub refused: u64,
    /// Bootstrap lines from no planned leaf's address or serial.
    pub unmatched: u64,
    /// Datagrams over the rate limit.
    pub dropped: u64,
}

#[derive(Debug)]
struct Inner {
    config: TimelineConfig,
    spine: String,
    leaves: Vec<LeafState>,
    /// Mismatches already reported: (leaf, spine port seen on).
    cabling_reported: HashSet<(String, String)>,
    logs: LogCounts,
}

/// The shared timeline; cheap to clone.
#[derive(Debug, Clone)]
pub struct Timeline {
    inner: Arc<Mutex<Inner>>,
    hub: Arc<OnceLock<HubHandle>>,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // Plain data: a panicking writer leaves nothing that matters more than
    // showing the rest.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for Timeline {
    /// A timeline with no plan: no leaf to follow.
    fn default() -> Self {
        Timeline {
            inner: Arc::new(Mutex::new(Inner {
                config: TimelineConfig::default(),
                spine: String::new(),
                leaves: Vec::new(),
                cabling_reported: HashSet::new(),
                logs: LogCounts::default(),
            })),
            hub: Arc::new(OnceLock::new()),
        }
    }
}

impl Timeline {
    pub fn new(config: &AgentConfig) -> Self {
        let timeline = Timeline::default();
        timeline.reconfigure(config);
        timeline
    }

    /// Where stage and stuck events go; set once the hub runs.
    pub fn attach(&self, hub: HubHandle) {
        let _ = self.hub.set(hub);
    }

    /// A new plan (SIGHUP): leaves still planned on the same port keep
    /// their story.
    pub fn reconfigure(&self, config: &AgentConfig) {
        let mut inner = lock(&self.inner);
        inner.config = config.timeline.clone();
        inner.spine = config
            .timeline
            .spine
            .clone()
            .unwrap_or_else(|| "this spine".into());
        let mut old: HashMap<(String, String), LeafState> = inner
            .leaves
            .drain(..)
            .map(|l| ((l.leaf.clone(), l.interface.clone()), l))
            .collect();
        // `enable = false`: no leaf to follow, so no stage, stuck or
        // cabling message either.
        let plan: &[ztps_config::LeafLink] = if config.timeline.enable {
            &config.leaves
        } else {
            &[]
        };
        inner.leaves = plan
            .iter()
            .filter_map(|link| {
                let interface = ztps_eapi::ifname::canonical_eos(&link.interface)
                    .unwrap_or_else(|| link.interface.clone());
                let kernel = ztps_eapi::ifname::eos_to_kernel(&interface)?;
                let key = (link.leaf.clone(), interface.clone());
                Some(old.remove(&key).unwrap_or(LeafState {
                    leaf: link.leaf.clone(),
                    interface,
                    kernel,
                    leaf_port: link.leaf_interface.clone(),
                    planned_serial: link.serial.clone(),
                    serial: link.serial.clone(),
                    address: None,
                    stage: Stage::Planned,
                    entered: None,
                    stages: Vec::new(),
                    message: Stage::Planned.describe().into(),
                    stuck: None,
                    stuck_reported: None,
                    lldp: None,
                    last_bootstrap: None,
                    refused: None,
                }))
            })
            .collect();
    }

    pub fn leaves(&self) -> Vec<LeafView> {
        lock(&self.inner)
            .leaves
            .iter()
            .map(LeafState::view)
            .collect()
    }

    pub fn log_counts(&self) -> LogCounts {
        lock(&self.inner).logs
    }

    pub fn count_dropped(&self, n: u64) {
        lock(&self.inner).logs.dropped += n;
    }

    pub fn count_refused(&self) {
        lock(&self.inner).logs.refused += 1;
    }

    fn emit(&self, events: Vec<Event>) {
        if let Some(hub) = self.hub.get() {
            for e in events {
                hub.emit(e);
            }
        }
    }

    /// An event from the rest of the agent.
    pub fn observe(&self, event: &Event) {
        let now = (jiff::Timestamp::now(), Instant::now());
        let events = lock(&self.inner).observe(event, now);
        self.emit(events);
    }

    /// One bootstrap log line from `source`.
    pub fn bootstrap_line(&self, source: Ipv4Addr, line: &BootstrapLine) {
        let now = (jiff::Timestamp::now(), Instant::now());
        let events = lock(&self.inner).bootstrap_line(source, line, now);
        self.emit(events);
    }

    /// Leaves past their stage's deadline, each reported once per stage.
    pub fn check_deadlines(&self) {
        let events = lock(&self.inner).check_deadlines(Instant::now());
        self.emit(events);
    }
}

type Now = (jiff::Timestamp, Instant);

impl Inner {
    fn by_kernel(&mut self, kernel: &str) -> Option<usize> {
        self.leaves.iter().position(|l| l.kernel == kernel)
    }

    /// Moves leaf `i` forward to `stage` (never back) and says so.
    fn advance(&mut self, i: usize, stage: Stage, detail: String, now: Now) -> Option<Event> {
        let leaf = &mut self.leaves[i];
        if stage <= leaf.stage {
            return None;
        }
        let first = leaf.stages.first().map(|s| s.at).unwrap_or(now.0);
        let after_secs = now.0.duration_since(first).as_secs_f64();
        leaf.stages.push(StageTime {
            stage,
            at: now.0,
            after_secs,
        });
        leaf.stage = stage;
        leaf.entered = Some(now.1);
        leaf.stuck = None;
        let event = Event::LeafStage {
            leaf: leaf.leaf.clone(),
            interface: leaf.interface.clone(),
            stage,
            detail,
        };
        leaf.message = event.message();
        Some(event)
    }

    fn observe(&mut self, event: &Event, now: Now) -> Vec<Event> {
        let mut out = Vec::new();
        match event {
            Event::LinkUp { interface } => {
                if let Some(i) = self.by_kernel(interface) {
                    out.extend(self.advance(i, Stage::LinkUp, String::new(), now));
                }
            }
            Event::DiscoverSeen {
                interface,
                mac,
                serial,
                ..
            } => {
                if let Some(i) = self.by_kernel(interface) {
                    // A provisioned leaf runs its own config and never asks
                    // for an address: one that does was wiped or replaced,
                    // and its story starts again.
                    if self.leaves[i].stage >= Stage::LldpOnPlan {
                        self.leaves[i].restart();
                    }
                    if serial.is_some() {
                        self.leaves[i].serial.clone_from(serial);
                    }
                    let who = serial.clone().unwrap_or_else(|| mac.to_string());
                    // A DISCOVER proves the link is up, whatever was seen.
                    out.extend(self.advance(i, Stage::LinkUp, String::new(), now));
                    out.extend(self.advance(i, Stage::DiscoverSeen, who, now));
                }
                // A serial the plan pins to another port: the cable is on
                // the wrong port, known before any LLDP (the leaf still
                // calls itself localhost).
                if let Some(s) = serial
                    && let Some(j) = self
                        .leaves
                        .iter()
                        .position(|l| l.planned_serial.as_deref() == Some(s.as_str()))
                    && let Some(seen_on) = ztps_eapi::ifname::kernel_to_eos(interface)
                {
                    out.extend(self.misplaced(j, seen_on));
                }
            }
            Event::LeaseAcked {
                interface,
                ip,
                serial,
                ..
            } => {
                if let Some(i) = self.by_kernel(interface) {
                    if serial.is_some() {
                        self.leaves[i].serial.clone_from(serial);
                    }
                    self.leaves[i].address = Some(*ip);
                    out.extend(self.advance(i, Stage::LinkUp, String::new(), now));
                    out.extend(self.advance(i, Stage::DiscoverSeen, String::new(), now));
                    out.extend(self.advance(i, Stage::Acked, ip.to_string(), now));
                }
            }
            Event::LldpAsExpected {
                interface,
                neighbour,
            } => {
                if let Some(i) = self.by_kernel(interface) {
                    self.leaves[i].lldp = Some(neighbour.clone());
                    let leaf = self.leaves[i].leaf.clone();
                    self.cabling_reported.retain(|(l, _)| *l != leaf);
                    let seen = format!("{neighbour} on {}", self.leaves[i].interface);
                    out.extend(self.advance(i, Stage::LldpOnPlan, seen, now));
                    out.extend(self.advance(i, Stage::Provisioned, String::new(), now));
                }
            }
            Event::LldpUnexpected {
                interface, seen, ..
            } => {
                if let Some(i) = self.by_kernel(interface) {
                    self.leaves[i].lldp = Some(seen.clone());
                    out.extend(self.cabling(i, seen));
                }
            }
            _ => {}
        }
        out
    }

    /// LLDP shows `seen` on leaf `i`'s port: when that is another planned
    /// leaf, the cable is on the wrong port (reported once).
    fn cabling(&mut self, i: usize, seen: &str) -> Option<Event> {
        let short = seen.split('.').next().unwrap_or(seen);
        let j = self.leaves.iter().position(|l| l.leaf == short)?;
        let seen_on = self.leaves[i].interface.clone();
        self.misplaced(j, seen_on)
    }

    /// Planned leaf `j` shows up on spine port `seen_on` (EOS name): when
    /// that is not its planned port, say what to do, once.
    fn misplaced(&mut self, j: usize, seen_on: String) -> Option<Event> {
        let planned = &self.leaves[j];
        if planned.interface == seen_on {
            return None;
        }
        let key = (planned.leaf.clone(), seen_on.clone());
        if !self.cabling_reported.insert(key) {
            return None;
        }
        let event = Event::CablingMismatch {
            leaf: planned.leaf.clone(),
            leaf_port: None,
            spine: self.spine.clone(),
            seen_on: seen_on.clone(),
            planned_on: planned.interface.clone(),
        };
        let message = event.message();
        self.leaves[j].message.clone_from(&message);
        if let Some(i) = self.leaves.iter().position(|l| l.interface == seen_on) {
            self.leaves[i].message.clone_from(&message);
        }
        Some(event)
    }
    fn bootstrap_line(&mut self, source: Ipv4Addr, line: &BootstrapLine, now: Now) -> Vec<Event> {
        // The lease ties the source address to a port; the serial covers a
        // leaf whose log comes from another address (a relay, a second
        // lease).
        let found = self
            .leaves
            .iter()
            .position(|l| l.address == Some(source))
            .or_else(|| {
                let serial = line.serial.as_deref()?;
                self.leaves
                    .iter()
                    .position(|l| l.serial.as_deref() == Some(serial))
            });
        let Some(i) = found else {
            self.logs.unmatched += 1;
            tracing::debug!(%source, serial = ?line.serial, "bootstrap log from no planned leaf");
            return Vec::new();
        };
        self.logs.accepted += 1;
        if self.leaves[i].serial.is_none() {
            self.leaves[i].serial.clone_from(&line.serial);
        }
        self.leaves[i].last_bootstrap = Some(line.message.clone());
        let mut out = Vec::new();
        let milestone = line.milestone();
        if !matches!(milestone, Milestone::Failed { .. }) {
            out.extend(self.advance(i, Stage::BootstrapRunning, line.message.clone(), now));
        }
        match milestone {
            Milestone::PostNodes { status } if status >= 400 => {
                // The bootstrap fails next; its failure line carries this.
                let l = &self.leaves[i];
                let lldp = l
                    .lldp
                    .as_deref()
                    .map_or("nothing yet".to_string(), |n| format!("\"{n}\""));
                let port = l.leaf_port.as_deref().unwrap_or("its uplink");
                let note = format!(
                    "ZTPServer answered POST nodes with status={status}: no neighbordb pattern matched this leaf; LLDP on {} shows {lldp}, the plan expects {} ({port})",
                    l.interface, l.leaf
                );
                self.leaves[i].message.clone_from(&note);
                self.leaves[i].refused = Some(note);
            }
            Milestone::DefinitionApplied { name } => {
                out.extend(self.advance(i, Stage::DefinitionApplied, name, now));
            }
            Milestone::Completed => {
                out.extend(self.advance(i, Stage::DefinitionApplied, String::new(), now));
                out.extend(self.advance(
                    i,
                    Stage::Reloading,
                    "bootstrap completed; EOS reboots into the new startup-config".into(),
                    now,
                ));
            }
            Milestone::Failed { reason } => {
                let (cause, next) = match self.leaves[i].refused.take() {
                    Some(note) => (
                        format!("the bootstrap failed: \"{reason}\"; {note}"),
                        "check the cable against the plan, or the neighbordb patterns ZTPServer serves (ztps-agent render ztpserver)",
                    ),
                    None => (
                        format!("the bootstrap failed: \"{reason}\""),
                        "fix what it names on ZTPServer; the leaf's ZTP retries by itself (or reboot it)",
                    ),
                };
                out.extend(self.stuck(i, cause, next.into()));
            }
            _ => {
                self.leaves[i].message = format!("bootstrap: {}", line.message);
            }
        }
        out
    }

    /// One stuck event for leaf `i` in its current stage.
    fn stuck(&mut self, i: usize, cause: String, next_step: String) -> Option<Event> {
        let leaf = &mut self.leaves[i];
        if leaf.stuck_reported == Some(leaf.stage) {
            return None;
        }
        leaf.stuck_reported = Some(leaf.stage);
        let event = Event::LeafStuck {
            leaf: leaf.leaf.clone(),
            interface: leaf.interface.clone(),
            stage: leaf.stage,
            cause,
            next_step,
        };
        leaf.stuck = Some(event.message());
        leaf.message = event.message();
        Some(event)
    }

    fn deadline(&self, stage: Stage) -> Option<Duration> {
        let c = &self.config;
        let secs = match stage {
            Stage::LinkUp => c.discover_deadline_secs,
            Stage::DiscoverSeen => c.ack_deadline_secs,
            Stage::Acked => c.bootstrap_deadline_secs,
            Stage::BootstrapRunning => c.apply_deadline_secs,
            Stage::DefinitionApplied | Stage::Reloading => c.reload_deadline_secs,
            Stage::Planned | Stage::LldpOnPlan | Stage::Provisioned => return None,
        };
        Some(Duration::from_secs(secs))
    }

    fn check_deadlines(&mut self, now: Instant) -> Vec<Event> {
        let mut out = Vec::new();
        let listen = self
            .config
            .syslog_listen
            .map_or("the bridge address, UDP 514".to_string(), |a| a.to_string());
        for i in 0..self.leaves.len() {
            let l = &self.leaves[i];
            let (Some(entered), Some(deadline)) = (l.entered, self.deadline(l.stage)) else {
                continue;
            };
            let waited = now.saturating_duration_since(entered);
            if waited < deadline || l.stuck_reported == Some(l.stage) {
                continue;
            }
            let secs = waited.as_secs();
            let address = l.address.map_or("its address".into(), |a| a.to_string());
            let lldp = l
                .lldp
                .as_deref()
                .map_or("nothing".to_string(), |n| format!("\"{n}\""));
            let (cause, next) = match l.stage {
                Stage::LinkUp => (
                    format!("the link has been up {secs} s and no DHCP DISCOVER came"),
                    "check the leaf is in ZTP mode (zerotouch enabled, no startup-config)".to_string(),
                ),
                Stage::DiscoverSeen => (
                    format!("DHCP DISCOVERs for {secs} s but no lease was acknowledged"),
                    format!(
                        "check the leaf's vendor class (option 60) against dhcp.vendor_class_prefixes, and that {} has a /31 or /30 address in dhcp.auto_p2p (its pool)",
                        l.interface
                    ),
                ),
                Stage::Acked => (
                    format!("{address} was leased {secs} s ago but no bootstrap log arrived"),
                    format!(
                        "check the route from the leaf back to the ZTPServer VM subnet (forwarding, the VM's gateway), that dhcp.bootstrap_url answers, and that bootstrap.conf sends the log to {listen}"
                    ),
                ),
                Stage::BootstrapRunning => (
                    format!(
                        "the bootstrap has run {secs} s without applying its definition (last line: \"{}\")",
                        l.last_bootstrap.as_deref().unwrap_or("-")
                    ),
                    "read the leaf's bootstrap log; a large EOS image download may need a longer timeline.apply_deadline_secs".to_string(),
                ),
                _ => (
                    format!(
                        "{secs} s after its definition was applied, LLDP on {} shows {lldp}, not {}",
                        l.interface, l.leaf
                    ),
                    "check the leaf rebooted into its new startup-config, and its cable against the plan".to_string(),
                ),
            };
            out.extend(self.stuck(i, cause, next));
        }
        out
    }
}

/// The hub sink that feeds the timeline (after folding: repeats do not
/// move a leaf).
#[derive(Debug)]
pub struct TimelineSink(pub Timeline);

impl Sink for TimelineSink {
    fn name(&self) -> &'static str {
        "timeline"
    }

    fn deliver(&mut self, record: &Record) -> Result<(), EventsError> {
        // A fold arrives up to a window later: the DISCOVER it repeats must
        // not restart a leaf that has been provisioned since.
        if !record.repeat {
            self.0.observe(&record.event);
        }
        Ok(())
    }
}

/// Checks deadlines every second until cancelled.
pub async fn run(timeline: Timeline) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        timeline.check_deadlines();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ztps_config::LeafLink;
    use ztps_events::MacAddr;

    fn config() -> AgentConfig {
        let mut c = AgentConfig::new("172.16.130.254/24".parse().unwrap(), "http://x/bootstrap");
        c.timeline.spine = Some("spine1".into());
        c.timeline.ack_deadline_secs = 5;
        for (i, leaf) in ["leaf1", "leaf2", "leaf3"].iter().enumerate() {
            c.leaves.push(LeafLink {
                interface: format!("Ethernet{}", i + 1),
                leaf: (*leaf).into(),
                leaf_interface: Some("Ethernet49".into()),
                subnet: format!("10.1.1.{}/31", i * 2).parse().unwrap(),
                serial: None,
                system_mac: None,
                speed: None,
            });
        }
        c
    }

    fn at(secs: u64) -> Now {
        static BASE: OnceLock<Instant> = OnceLock::new();
        let base = *BASE.get_or_init(Instant::now);
        (
            jiff::Timestamp::from_second(1_800_000_000 + secs as i64).unwrap(),
            base + Duration::from_secs(secs),
        )
    }

    fn inner(t: &Timeline) -> MutexGuard<'_, Inner> {
        lock(&t.inner)
    }

    fn line(text: &str) -> BootstrapLine {
        ztps_events::bootlog::parse(format!("<14>ZTPS - INFO: LAB1: {text}\0").as_bytes()).unwrap()
    }

    fn stages(events: &[Event]) -> Vec<Stage> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::LeafStage { stage, .. } => Some(*stage),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_leaf_walks_from_link_up_to_provisioned_with_times() {
        let t = Timeline::new(&config());
        let mut g = inner(&t);
        let mac: MacAddr = "00:1c:73:00:00:01".parse().unwrap();
        let mut all = Vec::new();
        all.extend(g.observe(
            &Event::LinkUp {
                interface: "et1".into(),
            },
            at(0),
        ));
        all.extend(g.observe(
            &Event::DiscoverSeen {
                interface: "et1".into(),
                mac,
                serial: Some("LAB1".into()),
                model: None,
            },
            at(2),
        ));
        let ip = Ipv4Addr::new(10, 1, 1, 1);
        all.extend(g.observe(
            &Event::LeaseAcked {
                interface: "et1".into(),
                mac,
                ip,
                serial: None,
            },
            at(3),
        ));
        all.extend(g.bootstrap_line(ip, &line("Collecting node information"), at(5)));
        all.extend(g.bootstrap_line(ip, &line("Applying definition leaf1"), at(6)));
        all.extend(g.bootstrap_line(ip, &line("Definition leaf1 applied successfully"), at(8)));
        all.extend(g.bootstrap_line(ip, &line("ZTP bootstrap completed successfully!"), at(9)));
        // The reload takes the link down and up: no step back.
        all.extend(g.observe(
            &Event::LinkUp {
                interface: "et1".into(),
            },
            at(20),
        ));
        all.extend(g.observe(
            &Event::LldpAsExpected {
                interface: "et1".into(),
                neighbour: "leaf1.dc1.example".into(),
            },
            at(30),
        ));
        assert_eq!(
            stages(&all),
            vec![
                Stage::LinkUp,
                Stage::DiscoverSeen,
                Stage::Acked,
                Stage::BootstrapRunning,
                Stage::DefinitionApplied,
                Stage::Reloading,
                Stage::LldpOnPlan,
                Stage::Provisioned,
            ]
        );
        let view = g.leaves[0].view();
        assert_eq!(view.stage, Stage::Provisioned);
        assert_eq!(view.serial.as_deref(), Some("LAB1"));
        assert_eq!(view.address, Some(ip));
        let times: Vec<f64> = view.stages.iter().map(|s| s.after_secs).collect();
        assert_eq!(times, vec![0.0, 2.0, 3.0, 5.0, 8.0, 9.0, 30.0, 30.0]);
        // The other leaves did not move.
        assert_eq!(g.leaves[1].stage, Stage::Planned);
    }

    #[test]
    fn a_leaf_stuck_after_discover_gets_one_event_naming_the_pool() {
        let t = Timeline::new(&config());
        let mut g = inner(&t);
        g.observe(
            &Event::DiscoverSeen {
                interface: "et2".into(),
                mac: "00:1c:73:00:00:02".parse().unwrap(),
                serial: None,
                model: None,
            },
            at(0),
        );
        assert!(g.check_deadlines(at(4).1).is_empty());
        let stuck = g.check_deadlines(at(6).1);
        assert_eq!(stuck.len(), 1);
        let message = stuck[0].message();
        assert!(message.contains("leaf2 (Ethernet2) is stuck"), "{message}");
        assert!(message.contains("vendor class"), "{message}");
        assert!(g.check_deadlines(at(60).1).is_empty(), "reported once");
        assert!(g.leaves[1].stuck.is_some());
    }

    #[test]
    fn a_bootstrap_failure_is_quoted_and_a_400_names_the_plan() {
        let t = Timeline::new(&config());
        let mut g = inner(&t);
        let ip = Ipv4Addr::new(10, 1, 1, 5);
        g.observe(
            &Event::LeaseAcked {
                interface: "et3".into(),
                mac: "00:1c:73:00:00:03".parse().unwrap(),
                ip,
                serial: Some("LAB3".into()),
            },
            at(0),
        );
        g.observe(
            &Event::LldpUnexpected {
                interface: "et3".into(),
                expected: "leaf3".into(),
                seen: "localhost".into(),
            },
            at(1),
        );
        let mut out = g.bootstrap_line(
            ip,
            &line("Server response to POST nodes: status=400, location=None"),
            at(2),
        );
        let failed = ztps_events::bootlog::parse(
            b"<11>ZTPS - ERROR: LAB3: Bootstrap process failed: node not found on server (status=400)",
        )
        .unwrap();
        out.extend(g.bootstrap_line(ip, &failed, at(2)));
        let stuck: Vec<String> = out
            .iter()
            .filter(|e| e.kind() == "leaf_stuck")
            .map(Event::message)
            .collect();
        assert_eq!(stuck.len(), 1, "{out:?}");
        assert!(
            stuck[0].contains("no neighbordb pattern matched"),
            "{}",
            stuck[0]
        );
        assert!(stuck[0].contains("\"localhost\""), "{}", stuck[0]);
        assert!(stuck[0].contains("leaf3 (Ethernet49)"), "{}", stuck[0]);
        assert!(
            stuck[0].contains("\"node not found on server (status=400)\""),
            "{}",
            stuck[0]
        );
        // A line from no planned leaf is counted, not guessed at.
        let stray = ztps_events::bootlog::parse(b"<14>ZTPS - INFO: OTHER: hi").unwrap();
        assert!(
            g.bootstrap_line(Ipv4Addr::new(192, 0, 2, 1), &stray, at(3))
                .is_empty()
        );
        assert_eq!(g.logs.unmatched, 1);
        // By serial, from another address; the leaf's ZTP retried.
        g.leaves[2].stuck_reported = None;
        let failed = ztps_events::bootlog::parse(
            b"<11>ZTPS - ERROR: LAB3: Bootstrap process failed: action not found on server (status=404)",
        )
        .unwrap();
        let out = g.bootstrap_line(Ipv4Addr::new(192, 0, 2, 9), &failed, at(4));
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0]
                .message()
                .contains("the bootstrap failed: \"action not found on server (status=404)\"")
        );
    }

    #[test]
    fn a_planned_leaf_on_another_port_is_one_move_the_cable_message() {
        let t = Timeline::new(&config());
        let mut g = inner(&t);
        let seen = Event::LldpUnexpected {
            interface: "et3".into(),
            expected: "leaf3".into(),
            seen: "leaf1.dc1.example".into(),
        };
        let out = g.observe(&seen, at(0));
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].message(),
            "leaf1 is cabled to spine1 Ethernet3; the plan puts leaf1 on Ethernet1: move the cable, or update the plan"
        );
        assert!(g.observe(&seen, at(1)).is_empty(), "once");
        // An unplanned name (a leaf still in ZTP) is no cabling verdict.
        let ztp = Event::LldpUnexpected {
            interface: "et2".into(),
            expected: "leaf2".into(),
            seen: "localhost".into(),
        };
        assert!(g.observe(&ztp, at(2)).is_empty());
        // Moved: leaf1 shows up where planned and provisions.
        let moved = g.observe(
            &Event::LldpAsExpected {
                interface: "et1".into(),
                neighbour: "leaf1".into(),
            },
            at(3),
        );
        assert_eq!(stages(&moved), vec![Stage::LldpOnPlan, Stage::Provisioned]);
        // leaf1 is replaced: the new switch's DISCOVER starts a new story,
        // and it can be stuck again.
        let again = g.observe(
            &Event::DiscoverSeen {
                interface: "et1".into(),
                mac: "00:1c:73:00:00:11".parse().unwrap(),
                serial: Some("NEW1".into()),
                model: None,
            },
            at(10),
        );
        assert_eq!(stages(&again), vec![Stage::LinkUp, Stage::DiscoverSeen]);
        let view = g.leaves[0].view();
        assert_eq!(view.serial.as_deref(), Some("NEW1"));
        assert_eq!(view.stages.len(), 2);
        assert_eq!(view.stages[0].after_secs, 0.0);
        assert!(view.lldp.is_none());
    }

    #[test]
    fn a_disabled_timeline_follows_no_leaf() {
        let mut c = config();
        c.timeline.enable = false;
        let t = Timeline::new(&c);
        assert!(t.leaves().is_empty());
        let mut g = inner(&t);
        let out = g.observe(
            &Event::LinkUp {
                interface: "et1".into(),
            },
            at(0),
        );
        assert!(out.is_empty());
    }

    #[test]
    fn folded_repeats_do_not_move_or_restart_a_leaf() {
        let t = Timeline::new(&config());
        let mut sink = TimelineSink(t.clone());
        let discover = Event::DiscoverSeen {
            interface: "et1".into(),
            mac: "00:1c:73:00:00:01".parse().unwrap(),
            serial: None,
            model: None,
        };
        let now = jiff::Timestamp::now();
        sink.deliver(&Record::new(
            now,
            Event::LldpAsExpected {
                interface: "et1".into(),
                neighbour: "leaf1".into(),
            },
        ))
        .unwrap();
        assert_eq!(t.leaves()[0].stage, Stage::Provisioned);
        sink.deliver(&Record::folded(
            now,
            discover.clone(),
            1,
            Duration::from_secs(60),
        ))
        .unwrap();
        assert_eq!(t.leaves()[0].stage, Stage::Provisioned, "a fold is no news");
        sink.deliver(&Record::new(now, discover)).unwrap();
        assert_eq!(
            t.leaves()[0].stage,
            Stage::DiscoverSeen,
            "a new DISCOVER is"
        );
    }

    #[test]
    fn a_pinned_serial_on_another_port_is_reported_at_its_first_discover() {
        let mut c = config();
        c.leaves[0].serial = Some("JPE111".into());
        let t = Timeline::new(&c);
        let mut g = inner(&t);
        let discover = Event::DiscoverSeen {
            interface: "et2".into(),
            mac: "00:1c:73:00:00:01".parse().unwrap(),
            serial: Some("JPE111".into()),
            model: None,
        };
        let out = g.observe(&discover, at(0));
        let mismatches: Vec<String> = out
            .iter()
            .filter(|e| e.kind() == "cabling_mismatch")
            .map(Event::message)
            .collect();
        assert_eq!(
            mismatches,
            vec![
                "leaf1 is cabled to spine1 Ethernet2; the plan puts leaf1 on Ethernet1: move the cable, or update the plan"
                    .to_string()
            ]
        );
        // The DISCOVER still moves the port's own planned leaf (leaf2's row
        // shows who is really there).
        assert_eq!(g.leaves[1].stage, Stage::DiscoverSeen);
        assert!(g.leaves[1].message.contains("move the cable"));
        // Asking again (a second source port, a retry) says nothing more.
        assert!(
            g.observe(&discover, at(1))
                .iter()
                .all(|e| e.kind() != "cabling_mismatch")
        );
        // On an unplanned port too.
        let elsewhere = Event::DiscoverSeen {
            interface: "et9".into(),
            mac: "00:1c:73:00:00:01".parse().unwrap(),
            serial: Some("JPE111".into()),
            model: None,
        };
        let out = g.observe(&elsewhere, at(2));
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].message().contains("spine1 Ethernet9"));
    }
}

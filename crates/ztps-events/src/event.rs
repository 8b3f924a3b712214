//! The provisioning events themselves: what happened, how bad it is, and
//! one line a person can read.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Syslog severity of an event (RFC 5424 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Notice,
    Info,
}

impl Severity {
    /// The RFC 5424 severity code (3 error .. 6 informational).
    pub fn code(self) -> u8 {
        match self {
            Self::Error => 3,
            Self::Warning => 4,
            Self::Notice => 5,
            Self::Info => 6,
        }
    }
}

/// The workspace's one MAC type, re-exported so events name it as before.
pub use ztps_types::MacAddr;

/// Something the agent saw or did while provisioning leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    LinkUp {
        interface: String,
    },
    LinkDown {
        interface: String,
    },
    /// A DHCP DISCOVER from a client we answer; serial and model come from
    /// the client's options when it sends them.
    DiscoverSeen {
        interface: String,
        mac: MacAddr,
        serial: Option<String>,
        model: Option<String>,
    },
    OfferSent {
        interface: String,
        mac: MacAddr,
        ip: Ipv4Addr,
    },
    LeaseAcked {
        interface: String,
        mac: MacAddr,
        ip: Ipv4Addr,
        serial: Option<String>,
    },
    NakSent {
        interface: String,
        mac: MacAddr,
        reason: String,
    },
    DeclineReceived {
        interface: String,
        mac: MacAddr,
        ip: Ipv4Addr,
    },
    PoolExhausted {
        interface: String,
        pool: String,
    },
    MalformedPacket {
        interface: Option<String>,
        source: String,
        reason: String,
    },
    BridgeCreated {
        bridge: String,
        address: String,
    },
    BridgeChanged {
        bridge: String,
        change: String,
    },
    ForwardingChanged {
        setting: String,
        from: String,
        to: String,
    },
    EapiReachable {
        endpoint: String,
    },
    EapiUnreachable {
        endpoint: String,
        reason: String,
    },
    /// eAPI and the kernel disagree whether a link is up.
    LinkStateDisagreement {
        interface: String,
        eapi_connected: bool,
        kernel_up: bool,
    },
    VmRestarted {
        vm: String,
        reason: String,
    },
    VmAttached {
        vm: String,
        bridge: String,
        tap: String,
    },
    VmDetached {
        vm: String,
        bridge: String,
    },
    /// The running VM's tap was off the bridge and was put back (no restart).
    VmReattached {
        vm: String,
        bridge: String,
        tap: String,
    },
    ZtpserverHealthy {
        url: String,
    },
    ZtpserverUnhealthy {
        url: String,
        reason: String,
    },
    /// ZTPServer answers, but the bootstrap it serves names another server
    /// (`served`, absent when it has no `SERVER` line) than the switches
    /// are told (`expected`): the appliance's seed is missing or wrong.
    ZtpserverWrongServer {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        served: Option<String>,
        expected: String,
        fix: String,
    },
    LldpAsExpected {
        interface: String,
        neighbour: String,
        /// The neighbour's own port, as its LLDP names it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        neighbour_port: Option<String>,
    },
    LldpUnexpected {
        interface: String,
        expected: String,
        seen: String,
        /// The neighbour's own port, as its LLDP names it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        neighbour_port: Option<String>,
    },
    ConfigReloaded {
        path: String,
    },
    ConfigRejected {
        path: String,
        reason: String,
    },
    /// A planned leaf reached a stage of its timeline.
    LeafStage {
        leaf: String,
        /// The spine's port of the plan, EOS name (`Ethernet3`).
        interface: String,
        stage: Stage,
        /// What marked it (the bootstrap's words, the address leased).
        detail: String,
    },
    /// A leaf stayed in a stage past its deadline, or its bootstrap failed.
    LeafStuck {
        leaf: String,
        interface: String,
        stage: Stage,
        cause: String,
        next_step: String,
    },
    /// LLDP shows a planned leaf on another spine port than the plan's.
    CablingMismatch {
        leaf: String,
        /// The leaf's own port, when LLDP reported it.
        leaf_port: Option<String>,
        /// The leaf port the plan cables (and its Day-1 config addresses).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        planned_leaf_port: Option<String>,
        spine: String,
        /// Where it is cabled (EOS name).
        seen_on: String,
        /// Where the plan puts it (EOS name).
        planned_on: String,
    },
}

/// The steps of a leaf from cable to provisioned, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// In the plan; nothing seen yet.
    Planned,
    LinkUp,
    DiscoverSeen,
    Acked,
    BootstrapRunning,
    DefinitionApplied,
    Reloading,
    LldpOnPlan,
    Provisioned,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 9] = [
        Stage::Planned,
        Stage::LinkUp,
        Stage::DiscoverSeen,
        Stage::Acked,
        Stage::BootstrapRunning,
        Stage::DefinitionApplied,
        Stage::Reloading,
        Stage::LldpOnPlan,
        Stage::Provisioned,
    ];

    /// The serde name (`bootstrap_running`), for metrics labels and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Planned => "planned",
            Stage::LinkUp => "link_up",
            Stage::DiscoverSeen => "discover_seen",
            Stage::Acked => "acked",
            Stage::BootstrapRunning => "bootstrap_running",
            Stage::DefinitionApplied => "definition_applied",
            Stage::Reloading => "reloading",
            Stage::LldpOnPlan => "lldp_on_plan",
            Stage::Provisioned => "provisioned",
        }
    }

    /// In words, for a person.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Planned => "planned, not seen yet",
            Stage::LinkUp => "link up",
            Stage::DiscoverSeen => "asking for an address (DHCP DISCOVER)",
            Stage::Acked => "address leased (DHCP ACK)",
            Stage::BootstrapRunning => "ZTPServer bootstrap running",
            Stage::DefinitionApplied => "definition applied",
            Stage::Reloading => "reloading into its new config",
            Stage::LldpOnPlan => "LLDP shows the planned hostname on the planned port",
            Stage::Provisioned => "provisioned",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Event {
    /// The `kind` tag, as in the JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::LinkUp { .. } => "link_up",
            Self::LinkDown { .. } => "link_down",
            Self::DiscoverSeen { .. } => "discover_seen",
            Self::OfferSent { .. } => "offer_sent",
            Self::LeaseAcked { .. } => "lease_acked",
            Self::NakSent { .. } => "nak_sent",
            Self::DeclineReceived { .. } => "decline_received",
            Self::PoolExhausted { .. } => "pool_exhausted",
            Self::MalformedPacket { .. } => "malformed_packet",
            Self::BridgeCreated { .. } => "bridge_created",
            Self::BridgeChanged { .. } => "bridge_changed",
            Self::ForwardingChanged { .. } => "forwarding_changed",
            Self::EapiReachable { .. } => "eapi_reachable",
            Self::EapiUnreachable { .. } => "eapi_unreachable",
            Self::LinkStateDisagreement { .. } => "link_state_disagreement",
            Self::VmRestarted { .. } => "vm_restarted",
            Self::VmAttached { .. } => "vm_attached",
            Self::VmDetached { .. } => "vm_detached",
            Self::VmReattached { .. } => "vm_reattached",
            Self::ZtpserverHealthy { .. } => "ztpserver_healthy",
            Self::ZtpserverUnhealthy { .. } => "ztpserver_unhealthy",
            Self::ZtpserverWrongServer { .. } => "ztpserver_wrong_server",
            Self::LldpAsExpected { .. } => "lldp_as_expected",
            Self::LldpUnexpected { .. } => "lldp_unexpected",
            Self::ConfigReloaded { .. } => "config_reloaded",
            Self::ConfigRejected { .. } => "config_rejected",
            Self::LeafStage { .. } => "leaf_stage",
            Self::LeafStuck { .. } => "leaf_stuck",
            Self::CablingMismatch { .. } => "cabling_mismatch",
        }
    }

    pub fn severity(&self) -> Severity {
        use Severity::*;
        match self {
            Self::DiscoverSeen { .. } | Self::OfferSent { .. } | Self::LldpAsExpected { .. } => {
                Info
            }
            Self::LinkUp { .. }
            | Self::LeaseAcked { .. }
            | Self::BridgeCreated { .. }
            | Self::BridgeChanged { .. }
            | Self::ForwardingChanged { .. }
            | Self::EapiReachable { .. }
            | Self::VmAttached { .. }
            | Self::VmReattached { .. }
            | Self::ZtpserverHealthy { .. }
            | Self::ConfigReloaded { .. }
            | Self::LeafStage { .. } => Notice,
            Self::LinkDown { .. }
            | Self::NakSent { .. }
            | Self::DeclineReceived { .. }
            | Self::MalformedPacket { .. }
            | Self::EapiUnreachable { .. }
            | Self::LinkStateDisagreement { .. }
            | Self::VmRestarted { .. }
            | Self::LldpUnexpected { .. }
            | Self::CablingMismatch { .. } => Warning,
            Self::PoolExhausted { .. }
            | Self::VmDetached { .. }
            | Self::ZtpserverUnhealthy { .. }
            | Self::ZtpserverWrongServer { .. }
            | Self::ConfigRejected { .. }
            | Self::LeafStuck { .. } => Error,
        }
    }

    /// What identifies "the same thing happening again" for de-duplication:
    /// the kind plus the fields that name the device or object, not the
    /// ones that merely describe it.
    pub fn dedup_key(&self) -> String {
        let kind = self.kind();
        match self {
            Self::LinkUp { interface }
            | Self::LinkDown { interface }
            | Self::PoolExhausted { interface, .. }
            | Self::LinkStateDisagreement { interface, .. }
            | Self::LldpAsExpected { interface, .. }
            | Self::LldpUnexpected { interface, .. } => format!("{kind}/{interface}"),
            Self::DiscoverSeen { interface, mac, .. }
            | Self::OfferSent { interface, mac, .. }
            | Self::LeaseAcked { interface, mac, .. }
            | Self::NakSent { interface, mac, .. }
            | Self::DeclineReceived { interface, mac, .. } => format!("{kind}/{interface}/{mac}"),
            Self::MalformedPacket {
                interface, source, ..
            } => format!("{kind}/{}/{source}", interface.as_deref().unwrap_or("-")),
            Self::BridgeCreated { bridge, .. } => format!("{kind}/{bridge}"),
            // Two different changes (an address added, the link brought up)
            // are two facts, not one fact repeated.
            Self::BridgeChanged { bridge, change } => format!("{kind}/{bridge}/{change}"),
            Self::ForwardingChanged { setting, .. } => format!("{kind}/{setting}"),
            Self::EapiReachable { endpoint } | Self::EapiUnreachable { endpoint, .. } => {
                format!("{kind}/{endpoint}")
            }
            Self::VmRestarted { vm, .. }
            | Self::VmAttached { vm, .. }
            | Self::VmReattached { vm, .. }
            | Self::VmDetached { vm, .. } => {
                format!("{kind}/{vm}")
            }
            Self::ZtpserverHealthy { url }
            | Self::ZtpserverUnhealthy { url, .. }
            | Self::ZtpserverWrongServer { url, .. } => {
                format!("{kind}/{url}")
            }
            Self::ConfigReloaded { path } | Self::ConfigRejected { path, .. } => {
                format!("{kind}/{path}")
            }
            // One message per leaf and stage: a leaf asking twice (two
            // source ports) must not reach the installer twice.
            Self::LeafStage { leaf, stage, .. } | Self::LeafStuck { leaf, stage, .. } => {
                format!("{kind}/{leaf}/{stage}")
            }
            Self::CablingMismatch { leaf, seen_on, .. } => format!("{kind}/{leaf}/{seen_on}"),
        }
    }

    /// What makes events "alike" though not the same: the kind and the
    /// interface of per-client events. A flood of distinct clients (spoofed
    /// MACs) is folded on this key once more than a few are seen within the
    /// window, so it cannot become a line per packet. `None`: never folded
    /// beyond [`Event::dedup_key`].
    pub fn similarity_key(&self) -> Option<String> {
        let kind = self.kind();
        match self {
            Self::DiscoverSeen { interface, .. }
            | Self::OfferSent { interface, .. }
            | Self::LeaseAcked { interface, .. }
            | Self::NakSent { interface, .. }
            | Self::DeclineReceived { interface, .. }
            | Self::PoolExhausted { interface, .. } => Some(format!("{kind}/{interface}")),
            Self::MalformedPacket { interface, .. } => {
                Some(format!("{kind}/{}", interface.as_deref().unwrap_or("-")))
            }
            _ => None,
        }
    }

    /// One line for a person, e.g. "leaf JPE12345678 (DCS-7050SX3-48YC8)
    /// asked for an address on et3".
    pub fn message(&self) -> String {
        match self {
            Self::LinkUp { interface } => format!("link {interface} is up"),
            Self::LinkDown { interface } => format!("link {interface} is down"),
            Self::DiscoverSeen {
                interface,
                mac,
                serial,
                model,
            } => format!(
                "{} asked for an address on {interface}",
                device(mac, serial, model)
            ),
            Self::OfferSent { interface, mac, ip } => {
                format!("offered {ip} to {mac} on {interface}")
            }
            Self::LeaseAcked {
                interface,
                mac,
                ip,
                serial,
            } => format!(
                "{} now holds {ip} on {interface}",
                device(mac, serial, &None)
            ),
            Self::NakSent {
                interface,
                mac,
                reason,
            } => format!("refused {mac} on {interface}: {reason}"),
            Self::DeclineReceived { interface, mac, ip } => {
                format!("{mac} on {interface} declined {ip} (address already in use?)")
            }
            Self::PoolExhausted { interface, pool } => {
                format!("no free address in pool {pool} for a client on {interface}")
            }
            Self::MalformedPacket {
                interface,
                source,
                reason,
            } => match interface {
                Some(i) => format!("malformed DHCP packet from {source} on {i}: {reason}"),
                None => format!("malformed DHCP packet from {source}: {reason}"),
            },
            Self::BridgeCreated { bridge, address } => {
                format!("created bridge {bridge} with address {address}")
            }
            Self::BridgeChanged { bridge, change } => format!("bridge {bridge}: {change}"),
            Self::ForwardingChanged { setting, from, to } => {
                format!("{setting} changed from {from} to {to}")
            }
            Self::EapiReachable { endpoint } => format!("eAPI at {endpoint} is reachable"),
            Self::EapiUnreachable { endpoint, reason } => {
                format!("eAPI at {endpoint} is unreachable: {reason}")
            }
            Self::LinkStateDisagreement {
                interface,
                eapi_connected,
                kernel_up,
            } => format!(
                "EOS and the kernel disagree about {interface}: eAPI says {}, kernel says {}",
                if *eapi_connected {
                    "connected"
                } else {
                    "not connected"
                },
                if *kernel_up { "up" } else { "down" }
            ),
            Self::VmRestarted { vm, reason } => format!("restarted VM {vm}: {reason}"),
            Self::VmAttached { vm, bridge, tap } => {
                format!("VM {vm} is attached to {bridge} through {tap}")
            }
            Self::VmDetached { vm, bridge } => format!("VM {vm} is not attached to {bridge}"),
            Self::VmReattached { vm, bridge, tap } => format!(
                "VM {vm} was running with its tap {tap} off {bridge}: put it back on {bridge}, no restart"
            ),
            Self::ZtpserverHealthy { url } => format!("ZTPServer answers at {url}"),
            Self::ZtpserverUnhealthy { url, reason } => {
                format!("ZTPServer at {url} is unhealthy: {reason}")
            }
            Self::ZtpserverWrongServer {
                url,
                served,
                expected,
                fix,
            } => match served {
                Some(served) => format!(
                    "ZTPServer at {url} answers, but its bootstrap sends switches to {served}, \
                     not {expected}: {fix}"
                ),
                None => format!(
                    "ZTPServer at {url} answers, but not with a ZTPServer bootstrap \
                     (no SERVER line; switches need {expected}): {fix}"
                ),
            },
            Self::LldpAsExpected {
                interface,
                neighbour,
                neighbour_port,
            } => match neighbour_port {
                Some(port) => {
                    format!("LLDP neighbour on {interface} is {neighbour} {port}, as expected")
                }
                None => format!("LLDP neighbour on {interface} is {neighbour}, as expected"),
            },
            Self::LldpUnexpected {
                interface,
                expected,
                seen,
                neighbour_port,
            } => match neighbour_port {
                Some(port) => {
                    format!("LLDP neighbour on {interface} is {seen} {port}, expected {expected}")
                }
                None => format!("LLDP neighbour on {interface} is {seen}, expected {expected}"),
            },
            Self::ConfigReloaded { path } => format!("reloaded configuration from {path}"),
            Self::ConfigRejected { path, reason } => {
                format!("rejected new configuration {path}, keeping the running one: {reason}")
            }
            Self::LeafStage {
                leaf,
                interface,
                stage,
                detail,
            } => {
                if detail.is_empty() {
                    format!("{leaf} ({interface}): {}", stage.describe())
                } else {
                    format!("{leaf} ({interface}): {}: {detail}", stage.describe())
                }
            }
            Self::LeafStuck {
                leaf,
                interface,
                stage,
                cause,
                next_step,
            } => format!(
                "{leaf} ({interface}) is stuck at \"{}\": {cause}. Next: {next_step}",
                stage.describe()
            ),
            Self::CablingMismatch {
                leaf,
                leaf_port,
                planned_leaf_port,
                spine,
                seen_on,
                planned_on,
            } => {
                let who = match leaf_port {
                    Some(port) => format!("{leaf} {port}"),
                    None => leaf.clone(),
                };
                let planned = match planned_leaf_port {
                    Some(port) => format!("{leaf} {port}"),
                    None => leaf.clone(),
                };
                if seen_on == planned_on {
                    // The spine end is right; the leaf end is another port
                    // than the one its Day-1 config addresses.
                    format!(
                        "{who} is cabled to {spine} {seen_on}, but the plan (and the leaf's Day-1 config) uses {planned}: the leaf loses this link when it reloads; move the cable on the leaf, or update the plan"
                    )
                } else {
                    format!(
                        "{who} is cabled to {spine} {seen_on}; the plan puts {planned} on {spine} {planned_on}: move the cable, or update the plan"
                    )
                }
            }
        }
    }
}

fn device(mac: &MacAddr, serial: &Option<String>, model: &Option<String>) -> String {
    match (serial, model) {
        (Some(s), Some(m)) => format!("leaf {s} ({m})"),
        (Some(s), None) => format!("leaf {s}"),
        (None, Some(m)) => format!("a {m} ({mac})"),
        (None, None) => format!("a device {mac}"),
    }
}

/// An event as delivered to sinks: when it happened, its severity and
/// message, and how many occurrences it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub time: jiff::Timestamp,
    pub severity: Severity,
    pub message: String,
    /// 1 for a first occurrence; for a fold, how many repeats it summarises.
    pub count: u32,
    #[serde(flatten)]
    pub event: Event,
    /// A fold or summary of occurrences already reported (or swallowed):
    /// a sink that tracks state must not apply it as news. Not serialised.
    #[serde(skip)]
    pub repeat: bool,
}

impl Record {
    pub fn new(time: jiff::Timestamp, event: Event) -> Self {
        Self {
            time,
            severity: event.severity(),
            message: event.message(),
            count: 1,
            event,
            repeat: false,
        }
    }

    /// A record standing for `repeats` further occurrences of `event`
    /// folded over `window`.
    pub fn folded(
        time: jiff::Timestamp,
        event: Event,
        repeats: u32,
        window: std::time::Duration,
    ) -> Self {
        let mut record = Self::new(time, event);
        record.count = repeats;
        record.repeat = true;
        let times = if repeats == 1 { "time" } else { "times" };
        record.message = format!(
            "{} (repeated {repeats} more {times} within {} s)",
            record.message,
            window.as_secs()
        );
        record
    }

    /// A record standing for `others` events like `event` (same kind, same
    /// interface, other clients) that were not reported one by one.
    pub fn summarised(
        time: jiff::Timestamp,
        event: Event,
        others: u32,
        window: std::time::Duration,
    ) -> Self {
        let mut record = Self::new(time, event);
        record.count = others;
        record.repeat = true;
        let events = if others == 1 { "event" } else { "events" };
        record.message = format!(
            "{} (and {others} more {events} like it within {} s, not reported one by one)",
            record.message,
            window.as_secs()
        );
        record
    }

    /// The record as one line of JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac() -> MacAddr {
        "00:1c:73:aa:bb:cc".parse().unwrap()
    }

    #[test]
    fn discover_message_names_the_leaf() {
        let e = Event::DiscoverSeen {
            interface: "et3".into(),
            mac: mac(),
            serial: Some("JPE12345678".into()),
            model: Some("DCS-7050SX3-48YC8".into()),
        };
        assert_eq!(
            e.message(),
            "leaf JPE12345678 (DCS-7050SX3-48YC8) asked for an address on et3"
        );
        assert_eq!(e.severity(), Severity::Info);
        let anonymous = Event::DiscoverSeen {
            interface: "et3".into(),
            mac: mac(),
            serial: None,
            model: None,
        };
        assert_eq!(
            anonymous.message(),
            "a device 00:1c:73:aa:bb:cc asked for an address on et3"
        );
    }

    #[test]
    fn record_json_has_kind_time_and_fields_and_reads_back() {
        let time: jiff::Timestamp = "2024-05-31T16:08:37Z".parse().unwrap();
        let record = Record::new(
            time,
            Event::LeaseAcked {
                interface: "et1".into(),
                mac: mac(),
                ip: Ipv4Addr::new(10, 0, 0, 1),
                serial: Some("JPE1".into()),
            },
        );
        let json: serde_json::Value = serde_json::from_str(&record.to_json().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "time": "2024-05-31T16:08:37Z",
                "kind": "lease_acked",
                "severity": "notice",
                "message": "leaf JPE1 now holds 10.0.0.1 on et1",
                "count": 1,
                "interface": "et1",
                "mac": "00:1c:73:aa:bb:cc",
                "ip": "10.0.0.1",
                "serial": "JPE1",
            })
        );
        let back: Record = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn kind_matches_the_serde_tag() {
        let events = [
            Event::LinkStateDisagreement {
                interface: "et1".into(),
                eapi_connected: true,
                kernel_up: false,
            },
            Event::ZtpserverUnhealthy {
                url: "http://x/".into(),
                reason: "timeout".into(),
            },
            Event::ZtpserverWrongServer {
                url: "http://x/".into(),
                served: Some("http://ztpserver:8080".into()),
                expected: "http://x:80".into(),
                fix: "write the seed again".into(),
            },
            Event::LldpUnexpected {
                interface: "et2".into(),
                expected: "leaf1".into(),
                seen: "leaf9".into(),
                neighbour_port: Some("Ethernet49".into()),
            },
        ];
        for e in events {
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(json["kind"], e.kind());
        }
    }

    #[test]
    fn a_wrong_server_says_what_is_served_what_is_expected_and_the_fix() {
        let e = Event::ZtpserverWrongServer {
            url: "http://10.0.0.2:8080/bootstrap".into(),
            served: Some("http://ztpserver:8080".into()),
            expected: "http://10.0.0.2:8080".into(),
            fix: "write the seed again".into(),
        };
        assert_eq!(e.severity(), Severity::Error);
        assert_eq!(
            e.message(),
            "ZTPServer at http://10.0.0.2:8080/bootstrap answers, but its bootstrap sends \
             switches to http://ztpserver:8080, not http://10.0.0.2:8080: write the seed again"
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["served"], "http://ztpserver:8080");
        let none = Event::ZtpserverWrongServer {
            url: "u".into(),
            served: None,
            expected: "http://x:80".into(),
            fix: "f".into(),
        };
        assert!(
            none.message().contains("no SERVER line"),
            "{}",
            none.message()
        );
        assert!(serde_json::to_value(&none).unwrap().get("served").is_none());
    }

    #[test]
    fn mac_parsing_rejects_garbage() {
        assert_eq!(mac().to_string(), "00:1c:73:aa:bb:cc");
        assert_eq!("00-1C-73-AA-BB-CC".parse::<MacAddr>().unwrap(), mac());
        for bad in [
            "",
            "00:1c:73:aa:bb",
            "00:1c:73:aa:bb:cc:dd",
            "0:1c:73:aa:bb:cc",
            "zz:1c:73:aa:bb:cc",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn dedup_key_ignores_descriptive_fields() {
        let a = Event::DiscoverSeen {
            interface: "et3".into(),
            mac: mac(),
            serial: None,
            model: None,
        };
        let b = Event::DiscoverSeen {
            interface: "et3".into(),
            mac: mac(),
            serial: Some("JPE1".into()),
            model: None,
        };
        let c = Event::DiscoverSeen {
            interface: "et4".into(),
            mac: mac(),
            serial: None,
            model: None,
        };
        assert_eq!(a.dedup_key(), b.dedup_key());
        assert_ne!(a.dedup_key(), c.dedup_key());
    }

    #[test]
    fn different_bridge_changes_are_not_folded_as_repeats() {
        let change = |c: &str| Event::BridgeChanged {
            bridge: "br0".into(),
            change: c.into(),
        };
        assert_ne!(
            change("added 172.16.130.254/24").dedup_key(),
            change("brought up").dedup_key()
        );
        assert_eq!(
            change("brought up").dedup_key(),
            change("brought up").dedup_key()
        );
    }
}

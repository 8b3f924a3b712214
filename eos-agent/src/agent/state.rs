//! What the agent knows about itself, shared between its tasks and read by
//! the status endpoint. Each task owns its section and overwrites it; the
//! lock is only ever held to copy a section in or out.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use ztps_dhcp::ServerHandle;
use ztps_events::HubHandle;

use super::metrics::AgentMetrics;
use super::timeline::Timeline;

/// The bridge step's outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BridgeStatus {
    pub name: String,
    pub address: String,
    /// `ok`, `error` or `disabled`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The forwarding step's outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ForwardingStatus {
    /// Whether the config asks for forwarding.
    pub enabled: bool,
    /// `ok`, `error` or `disabled`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the eAPI watch last saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EapiStatus {
    pub enabled: bool,
    pub endpoint: String,
    /// `None` until the first poll has finished.
    pub reachable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// EOS names of the interfaces EOS reports connected.
    pub connected_interfaces: Vec<String>,
    /// Kernel names where EOS and the kernel disagree about the link.
    pub disagreements: Vec<String>,
    pub poll_interval_secs: u64,
}

/// What the VM supervisor last saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VmStatus {
    pub managed: bool,
    pub name: String,
    /// `attached`, `port-down`, `detached`, `unobservable` or `unknown`.
    pub attachment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tap: Option<String>,
    /// `healthy`, `unhealthy: REASON` or `unknown`.
    pub health: String,
    pub health_url: String,
    /// The restart policy's last verdict, in words.
    pub decision: String,
    pub restarts_total: u64,
    pub restarts_last_hour: u32,
}

/// Everything the status endpoint shows besides DHCP and events.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sections {
    pub bridge: BridgeStatus,
    pub forwarding: ForwardingStatus,
    pub eapi: EapiStatus,
    pub vm: VmStatus,
}

/// The shared state: sections, the running DHCP server, the event hub and
/// the counters. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shared {
    sections: Arc<Mutex<Sections>>,
    dhcp: Arc<Mutex<Option<DhcpView>>>,
    pub hub: HubHandle,
    pub metrics: Arc<AgentMetrics>,
    pub config_path: String,
    pub started: std::time::Instant,
    /// The planned leaves' timeline.
    pub timeline: Timeline,
    /// The webhook's delivery health, when there is a webhook.
    pub webhook: Option<ztps_events::WebhookHealth>,
}

/// The running DHCP server and the settings it runs with.
#[derive(Debug, Clone)]
pub struct DhcpView {
    pub handle: ServerHandle,
    pub config: Arc<ztps_dhcp::ServerConfig>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Sections are plain data; a panicking writer leaves nothing half-valid
    // that matters more than showing the rest.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(hub: HubHandle, metrics: Arc<AgentMetrics>, config_path: String) -> Self {
        Shared {
            sections: Arc::default(),
            dhcp: Arc::default(),
            hub,
            metrics,
            config_path,
            started: std::time::Instant::now(),
            timeline: Timeline::default(),
            webhook: None,
        }
    }

    pub fn sections(&self) -> Sections {
        lock(&self.sections).clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut Sections)) {
        f(&mut lock(&self.sections));
    }

    pub fn dhcp(&self) -> Option<DhcpView> {
        lock(&self.dhcp).clone()
    }

    pub fn set_dhcp(&self, view: Option<DhcpView>) {
        *lock(&self.dhcp) = view;
    }
}

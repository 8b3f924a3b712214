//! Agent settings a fabric cannot derive (`[spines.NAME.agent.*]`): where the
//! lease file and event log go, the status address, how the VM is supervised.
//! Each key is optional; a set key replaces the derived agent config's value.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::agent::{AgentConfig, VmBackend, VmConfig};
use crate::diag::{KeyPath, Segment};
use crate::fabric::AgentInstallConfig;

/// `[spines.NAME.agent.dhcp]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DhcpSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_file: Option<PathBuf>,
    /// `false` once the fabric is built: the rendered agent config then
    /// serves no DHCP, and a re-render keeps it so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `[spines.NAME.agent.status]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

/// `[spines.NAME.agent.events]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syslog: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_ca_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_log: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_log_max_bytes: Option<u64>,
}

/// `[spines.NAME.agent.vm]`: supervision only; what the VM is comes from
/// `[spines.NAME.vm]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VmSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manage: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<VmBackend>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub libvirt_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_socket: Option<std::path::PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_interval_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup_grace_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_backoff_initial_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_backoff_max_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_restarts_per_hour: Option<u32>,
}

fn set<T: Clone>(target: &mut T, value: &Option<T>) {
    if let Some(value) = value {
        *target = value.clone();
    }
}

impl AgentInstallConfig {
    /// Lays the set keys over a derived agent config.
    pub fn apply(&self, config: &mut AgentConfig) {
        set(&mut config.dhcp.lease_file, &self.dhcp.lease_file);
        set(&mut config.dhcp.enabled, &self.dhcp.enabled);
        set(&mut config.status.enable, &self.status.enable);
        set(&mut config.status.listen, &self.status.listen);
        let events = &mut config.events;
        set(&mut events.syslog, &self.events.syslog);
        set(
            &mut events.json_log_max_bytes,
            &self.events.json_log_max_bytes,
        );
        if self.events.webhook_url.is_some() {
            events.webhook_url.clone_from(&self.events.webhook_url);
        }
        if self.events.webhook_url_file.is_some() {
            events
                .webhook_url_file
                .clone_from(&self.events.webhook_url_file);
        }
        if self.events.webhook_ca_file.is_some() {
            events
                .webhook_ca_file
                .clone_from(&self.events.webhook_ca_file);
        }
        if self.events.json_log.is_some() {
            events.json_log.clone_from(&self.events.json_log);
        }
        if let Some(timeline) = &self.timeline {
            let spine = config.timeline.spine.take();
            config.timeline = timeline.clone();
            if config.timeline.spine.is_none() {
                config.timeline.spine = spine;
            }
        }
        // The derived config always has `[vm]`; settings for it create it.
        let vm = config.vm.get_or_insert_with(VmConfig::default);
        let s = &self.vm;
        set(&mut vm.manage, &s.manage);
        set(&mut vm.backend, &s.backend);
        set(&mut vm.libvirt_uri, &s.libvirt_uri);
        set(&mut vm.docker_socket, &s.docker_socket);
        if s.health_url.is_some() {
            vm.health_url.clone_from(&s.health_url);
        }
        set(&mut vm.health_interval_secs, &s.health_interval_secs);
        set(&mut vm.startup_grace_secs, &s.startup_grace_secs);
        set(
            &mut vm.restart_backoff_initial_secs,
            &s.restart_backoff_initial_secs,
        );
        set(
            &mut vm.restart_backoff_max_secs,
            &s.restart_backoff_max_secs,
        );
        set(&mut vm.max_restarts_per_hour, &s.max_restarts_per_hour);
    }

    /// Whether `path` (a key of the agent config, like `vm.startup_grace_secs`)
    /// is one these settings set, so a problem with it belongs to the fabric key.
    pub(crate) fn sets(&self, path: &KeyPath) -> bool {
        let Ok(mut value) = toml::Value::try_from(self) else {
            return false;
        };
        for segment in path.segments() {
            let Segment::Key(key) = segment else {
                return false;
            };
            match value.get(key.as_str()) {
                Some(next) => value = next.clone(),
                None => return false,
            }
        }
        !value.is_table()
    }
}

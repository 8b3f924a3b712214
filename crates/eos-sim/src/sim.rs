//! The simulator's state, shared by every listener.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use anyhow::Context;
use serde::Deserialize;

use crate::cli::Args;
use crate::config::RunningConfig;
use crate::faults::FaultState;
use crate::vm::VmRecorder;

/// What the hardware is: fixed for the life of the instance, across reloads.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub hostname: Option<String>,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub system_mac: Option<String>,
    #[serde(alias = "version")]
    pub eos_version: Option<String>,
}

impl Identity {
    /// The identity file, then the flags over it.
    pub fn resolve(args: &Args) -> anyhow::Result<Self> {
        let mut id = match &args.identity {
            Some(path) => read_identity(path)?,
            None => Identity::default(),
        };
        let over = |flag: &Option<String>, field: &mut Option<String>| {
            if flag.is_some() {
                field.clone_from(flag);
            }
        };
        over(&args.hostname, &mut id.hostname);
        over(&args.serial, &mut id.serial);
        over(&args.model, &mut id.model);
        over(&args.system_mac, &mut id.system_mac);
        over(&args.eos_version, &mut id.eos_version);
        Ok(id)
    }

    pub fn serial(&self) -> &str {
        self.serial.as_deref().unwrap_or("SIM0000000001")
    }

    pub fn model(&self) -> &str {
        self.model.as_deref().unwrap_or("vEOS-lab")
    }

    pub fn eos_version(&self) -> &str {
        self.eos_version.as_deref().unwrap_or("4.33.2F")
    }
}

fn read_identity(path: &Path) -> anyhow::Result<Identity> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    } else {
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// What the software is: made afresh at every boot.
#[derive(Debug, Clone)]
pub struct Device {
    pub hostname: String,
    /// The image booted (from boot-config), as `show version` reports it.
    pub version: String,
    pub booted: SystemTime,
    pub boots: u64,
    pub config: RunningConfig,
    /// No startup-config at boot: EOS's Zero Touch Provisioning mode.
    pub ztp_mode: bool,
}

#[derive(Debug)]
pub struct Sim {
    pub args: Args,
    pub identity: Identity,
    pub faults: FaultState,
    pub vm: VmRecorder,
    device: Mutex<Device>,
    requests: AtomicU64,
    /// Bumped when what lldpd should advertise may have changed.
    pub lldp_changed: tokio::sync::Notify,
}

impl Sim {
    pub fn new(args: Args) -> anyhow::Result<Self> {
        let identity = Identity::resolve(&args)?;
        let device = Device {
            hostname: default_hostname(&args, &identity),
            version: identity.eos_version().to_string(),
            booted: SystemTime::now(),
            boots: 0,
            config: RunningConfig::default(),
            ztp_mode: args.flash.is_some(),
        };
        Ok(Self {
            faults: FaultState::new(args.faults_file.clone()),
            vm: VmRecorder::default(),
            device: Mutex::new(device),
            requests: AtomicU64::new(0),
            lldp_changed: tokio::sync::Notify::new(),
            identity,
            args,
        })
    }

    /// The device state; never held across an await.
    pub fn device(&self) -> MutexGuard<'_, Device> {
        self.device
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn hostname(&self) -> String {
        self.device().hostname.clone()
    }

    /// The hostname with the configured domain (`dns domain`, or the older
    /// `ip domain-name`): what `show hostname` calls the FQDN and what EOS
    /// sends as its LLDP system name.
    pub fn fqdn(&self) -> String {
        let d = self.device();
        let domain = d
            .config
            .blocks()
            .iter()
            .find_map(|b| {
                b.head
                    .strip_prefix("dns domain ")
                    .or_else(|| b.head.strip_prefix("ip domain-name "))
            })
            .map(str::trim);
        match domain {
            Some(dom) if !dom.is_empty() => format!("{}.{dom}", d.hostname),
            _ => d.hostname.clone(),
        }
    }

    pub fn set_hostname(&self, name: &str) {
        self.device().hostname = name.to_string();
        self.lldp_changed.notify_one();
    }

    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// EOS names an unconfigured switch `localhost`; the simulator's historic
/// default (no flash: a spine the tests configure by hand) is `spine1`.
pub fn default_hostname(args: &Args, identity: &Identity) -> String {
    match (&identity.hostname, &args.flash) {
        (Some(h), _) => h.clone(),
        (None, Some(_)) => "localhost".into(),
        (None, None) => "spine1".into(),
    }
}

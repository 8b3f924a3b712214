//! The agent config turned into what each step runs with. Every rule lives in
//! ztps-config, so `check` refuses exactly what would not run; this only
//! converts (and reads the eAPI credentials file, the one input that is not
//! in the config).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use ztps_config::{AgentConfig, EapiConfig, EapiTransport, VmBackend};
use ztps_dhcp::ServerConfig;
use ztps_eapi::{Credentials, EapiClient, RetryPolicy, Transport};
use ztps_vm::{HttpHealthCheck, PolicyConfig};

use super::bridge::BridgeTarget;
use super::eapi_watch::WatchSettings;

/// How long one health probe may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything derived from one config file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub path: PathBuf,
    pub config: AgentConfig,
    pub bridge: Option<BridgeTarget>,
    pub forwarding: bool,
    pub dhcp: ServerConfig,
    pub eapi: Option<EapiSettings>,
    pub vm: Option<VmSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EapiSettings {
    pub transport: Transport,
    pub timeout: Duration,
    pub watch: WatchSettings,
}

impl EapiSettings {
    /// A client that does not retry by itself: the watch has its own
    /// backoff and logs state changes, not every attempt.
    pub fn client(&self) -> anyhow::Result<EapiClient> {
        EapiClient::builder(self.transport.clone())
            .timeout(self.timeout)
            .retry(RetryPolicy::none())
            .build()
            .context("cannot set up the eAPI client")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSettings {
    pub name: String,
    pub backend: VmBackend,
    pub libvirt_uri: String,
    /// The `container` backend: Docker's socket and what it runs.
    pub docker_socket: std::path::PathBuf,
    pub container: Option<ztps_vm::container::ContainerSpec>,
    pub mac: ztps_vm::MacAddr,
    pub health_url: String,
    /// What switches are told (`dhcp.bootstrap_url`): the served bootstrap's
    /// `SERVER` must name its origin.
    pub bootstrap_url: String,
    pub interval: Duration,
    pub policy: PolicyConfig,
}

impl VmSettings {
    pub fn health_check(&self) -> anyhow::Result<HttpHealthCheck> {
        HttpHealthCheck::new(&self.health_url, HEALTH_TIMEOUT)
            .map_err(|e| anyhow!("vm.health_url: {e}"))?
            .expect_server(&self.bootstrap_url)
            .map_err(|e| anyhow!("dhcp.bootstrap_url: {e}"))
    }
}

/// Reads, validates and maps the config at `path`.
pub fn load(path: &Path) -> anyhow::Result<Settings> {
    let config = ztps_config::load_agent_config(path)
        .with_context(|| format!("invalid config {}", path.display()))?;
    Settings::new(path, config).with_context(|| format!("config {} cannot run", path.display()))
}

impl Settings {
    pub fn new(path: &Path, config: AgentConfig) -> anyhow::Result<Settings> {
        let dhcp = super::dhcp::server_config(&config)?;
        // An absent section turns its feature off.
        let bridge = config.bridge.as_ref().map(|b| BridgeTarget {
            name: b.name.clone(),
            addr: b.address.addr(),
            prefix: b.address.prefix_len(),
        });
        let eapi = match &config.eapi {
            Some(e) => Some(EapiSettings {
                transport: transport(e)?,
                timeout: e.timeout(),
                watch: WatchSettings {
                    poll_interval: e.poll_interval(),
                    // The planned leaf links, from the fabric through the
                    // rendered agent config.
                    lldp_expected: config.lldp_expected(),
                },
            }),
            None => None,
        };
        let vm = if let Some(v) = config.vm.as_ref().filter(|v| v.manage) {
            // ztps-config requires both for a supervised VM.
            let (Some(bridge), Some(mac)) = (&config.bridge, v.mac) else {
                bail!("[vm] is supervised but [bridge] or vm.mac is absent");
            };
            let container = v
                .container
                .as_ref()
                .map(|c| ztps_vm::container::ContainerSpec {
                    name: v.name.clone(),
                    image: c.image.clone(),
                    archive: c.archive.clone(),
                    network: c.network.clone(),
                    bridge: bridge.name.clone(),
                    address: c.address,
                    gateway: bridge.address.addr(),
                    mac: ztps_vm::MacAddr(mac.0),
                    seed_dir: c.seed_dir.clone(),
                });
            let settings = VmSettings {
                name: v.name.clone(),
                backend: v.backend,
                libvirt_uri: v.libvirt_uri.clone(),
                docker_socket: v.docker_socket.clone(),
                container,
                mac: ztps_vm::MacAddr(mac.0),
                health_url: config.vm_health_url().to_string(),
                bootstrap_url: config.dhcp.bootstrap_url.clone(),
                interval: v.health_interval(),
                policy: PolicyConfig {
                    grace: v.startup_grace(),
                    backoff_initial: v.restart_backoff_initial(),
                    backoff_max: v.restart_backoff_max(),
                    max_per_hour: v.max_restarts_per_hour,
                    reset_after: v.restart_backoff_max().max(v.startup_grace()),
                },
            };
            settings.health_check()?;
            Some(settings)
        } else {
            None
        };
        Ok(Settings {
            path: path.to_path_buf(),
            forwarding: config.forwarding.enable,
            bridge,
            dhcp,
            eapi,
            vm,
            config,
        })
    }

    /// Config sections that changed from `self` to `new` but are only read
    /// at start-up.
    pub fn needs_restart(&self, new: &Settings) -> Vec<&'static str> {
        let (a, b) = (&self.config, &new.config);
        let mut keys = Vec::new();
        if a.bridge != b.bridge {
            keys.push("bridge");
        }
        if a.forwarding != b.forwarding {
            keys.push("forwarding");
        }
        if a.events != b.events {
            keys.push("events");
        }
        if a.status != b.status {
            keys.push("status");
        }
        let vm_besides_interval = |c: &AgentConfig| {
            c.vm.clone().map(|vm| ztps_config::VmConfig {
                health_interval_secs: 0,
                ..vm
            })
        };
        if vm_besides_interval(a) != vm_besides_interval(b) || self.vm.is_some() != new.vm.is_some()
        {
            keys.push("vm (other than health_interval_secs)");
        }
        keys
    }
}

fn transport(eapi: &EapiConfig) -> anyhow::Result<Transport> {
    Ok(match eapi.transport {
        EapiTransport::UnixSocket => Transport::unix_socket(&eapi.socket_path),
        EapiTransport::HttpLocalhost => Transport::http_localhost(eapi.port),
        EapiTransport::Https => {
            let url = eapi
                .url
                .clone()
                .context("[eapi] url is required for transport \"https\"")?;
            let file = eapi
                .credentials_file
                .as_ref()
                .context("[eapi] credentials_file is required for transport \"https\"")?;
            Transport::https(url, read_credentials(file)?)
        }
    })
}

/// `username:password` on the first line; refused when group or others
/// can read the file.
fn read_credentials(file: &Path) -> anyhow::Result<Credentials> {
    Credentials::from_line_file(file).context("[eapi] credentials_file")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[bridge]\naddress = \"172.16.130.254/24\"\n[dhcp]\nbootstrap_url = \"http://172.16.130.10:8080/bootstrap\"\nlease_file = \"/tmp/l\"\n";

    fn settings(extra: &str) -> anyhow::Result<Settings> {
        let config = ztps_config::parse_agent_config("t.toml", &format!("{BASE}{extra}"))?;
        Settings::new(Path::new("t.toml"), config)
    }

    #[test]
    fn a_managed_vm_needs_its_mac() {
        // Refused by the config's own check, with its position.
        let err = settings("[vm]\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("t.toml:6:1: vm.mac: is missing"),
            "{err:#}"
        );
        // The default backend, eos, restarts the VM through eAPI.
        let err = settings("[vm]\nmac = \"52:54:00:00:00:01\"\n").unwrap_err();
        assert!(err.to_string().contains("eAPI"), "{err}");
        let s = settings("[eapi]\n[vm]\nmac = \"52:54:00:00:00:01\"\nstartup_grace_secs = 30\n")
            .unwrap();
        let vm = s.vm.unwrap();
        assert_eq!(vm.health_url, "http://172.16.130.10:8080/bootstrap");
        assert_eq!(vm.policy.grace, Duration::from_secs(30));
        assert_eq!(vm.policy.max_per_hour, 6);
        assert!(settings("[vm]\nmanage = false\n").unwrap().vm.is_none());
    }

    #[test]
    fn absent_sections_turn_their_features_off() {
        let dhcp_only =
            "[dhcp]\nbootstrap_url = \"http://192.0.2.1/bootstrap\"\nlease_file = \"/tmp/l\"\n";
        let config = ztps_config::parse_agent_config("t.toml", dhcp_only).unwrap();
        let s = Settings::new(Path::new("t.toml"), config).unwrap();
        assert!(s.bridge.is_none() && s.eapi.is_none() && s.vm.is_none());
        assert!(s.forwarding, "[forwarding] keeps its default");
        assert_eq!(s.dhcp.bootstrap_url, "http://192.0.2.1/bootstrap");
        let vm_alone = format!("{dhcp_only}[vm]\nmac = \"52:54:00:00:00:01\"\n");
        let err = ztps_config::parse_agent_config("t.toml", &vm_alone).unwrap_err();
        assert!(err.to_string().contains("[bridge] is absent"), "{err}");
    }

    #[test]
    fn https_credentials_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cred");
        std::fs::write(&file, "admin:s3cret:x\n").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let extra = format!(
            "[vm]\nmanage = false\n[eapi]\ntransport = \"https\"\nurl = \"https://127.0.0.1/command-api\"\ncredentials_file = \"{}\"\n",
            file.display()
        );
        let err = settings(&extra).unwrap_err();
        assert!(
            format!("{err:#}").contains("has mode 644: group or others can read or change it"),
            "{err:#}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = settings(&extra).unwrap();
        match s.eapi.unwrap().transport {
            Transport::Https {
                username, password, ..
            } => {
                assert_eq!(
                    (username.as_str(), password.expose()),
                    ("admin", "s3cret:x")
                );
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&file, "no colon\n").unwrap();
        let err = settings(&extra).unwrap_err();
        assert!(format!("{err:#}").contains("username:password"), "{err:#}");
    }

    #[test]
    fn lldp_expectations_come_from_the_leaf_links() {
        let s = settings(
            "[vm]\nmanage = false\n[eapi]\n[[leaves]]\ninterface = \"Ethernet1/1\"\nleaf = \"leaf1\"\nleaf_interface = \"Ethernet49\"\nsubnet = \"10.1.1.0/31\"\n",
        )
        .unwrap();
        assert_eq!(
            s.eapi.unwrap().watch.lldp_expected,
            std::collections::BTreeMap::from([("et1_1".to_string(), "leaf1".to_string())])
        );
    }

    /// What the config's check refuses, `run` refuses (it loads with the
    /// same code); what it accepts, `run` converts.
    #[test]
    fn check_and_run_agree() {
        for (extra, needle) in [
            ("[vm]\n", "vm.mac: is missing"),
            ("[vm]\nmac = \"52:54:00:00:00:01\"\n", "vm.backend:"),
            (
                "[eapi]\n[vm]\nmac = \"5254.0000.0001\"\nhealth_url = \"https://172.16.130.10/\"\n",
                "vm.health_url:",
            ),
            (
                "[vm]\nmanage = false\n[events]\nwebhook_url = \"ftp://hooks.example/x\"\n",
                "events.webhook_url:",
            ),
            (
                "[vm]\nmanage = false\n[eapi]\ntransport = \"https\"\nurl = \"https://admin:pw@127.0.0.1/command-api\"\ncredentials_file = \"/x\"\n",
                "credentials file",
            ),
        ] {
            let text = format!("{BASE}{extra}");
            let checked = ztps_config::parse_agent_config("t.toml", &text).unwrap_err();
            let run = settings(extra).unwrap_err();
            assert!(checked.to_string().contains(needle), "{checked}");
            assert_eq!(format!("{run:#}"), checked.to_string());
            assert!(!format!("{run:#}").contains("pw@"), "{run:#}");
        }
        for extra in [
            "[eapi]\n[vm]\nmac = \"5254.0000.0001\"\n",
            "[vm]\nmanage = false\n[events]\nwebhook_url = \"https://hooks.example/x?token=1\"\n",
            "[vm]\nbackend = \"libvirt\"\nmac = \"52-54-00-00-00-01\"\n",
        ] {
            let text = format!("{BASE}{extra}");
            ztps_config::parse_agent_config("t.toml", &text).unwrap();
            settings(extra).unwrap();
        }
    }

    #[test]
    fn restart_only_sections_are_named() {
        let a = settings("[vm]\nmanage = false\n").unwrap();
        let b = settings(
            "[vm]\nmanage = false\nhealth_interval_secs = 3\n[eapi]\npoll_interval_secs = 1\n",
        )
        .unwrap();
        assert!(a.needs_restart(&b).is_empty());
        let c = settings("[vm]\nmanage = false\n[forwarding]\nenable = false\n").unwrap();
        assert_eq!(a.needs_restart(&c), ["forwarding"]);
    }
}

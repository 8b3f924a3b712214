//! The libvirt backend, for hosts where the ZTPServer VM is a plain libvirt
//! domain: drives `virsh -c URI` (the same client an operator would use, so
//! errors read exactly as libvirt words them).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tracing::{debug, info};

use crate::control::check_name;
use crate::{MacAddr, VmControl, VmError, VmInterface, VmState};

/// A libvirt domain reached through `virsh`.
#[derive(Debug, Clone)]
pub struct LibvirtVm {
    program: PathBuf,
    uri: String,
    domain: String,
    timeout: Duration,
}

impl LibvirtVm {
    /// Domain `domain` at connection `uri` (e.g. `qemu:///system`), using
    /// `virsh` from PATH with a 30 s limit per call.
    pub fn new(uri: &str, domain: &str) -> Result<Self, VmError> {
        check_name(domain)?;
        check_name(uri)?;
        Ok(LibvirtVm {
            program: PathBuf::from("virsh"),
            uri: uri.to_string(),
            domain: domain.to_string(),
            timeout: Duration::from_secs(30),
        })
    }

    /// Uses another `virsh` binary.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// Limits each `virsh` call (a hung libvirtd must not stall the agent).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs `virsh -q -c URI VERB DOMAIN` and returns its stdout.
    async fn virsh(&self, verb: &str) -> Result<String, VmError> {
        let command = format!("virsh -c {} {verb} {}", self.uri, self.domain);
        debug!(%command, "running");
        let child = Command::new(&self.program)
            .args(["-q", "-c", &self.uri, verb, &self.domain])
            // Fixed wording and column layout for the parsers below.
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(self.timeout, child)
            .await
            .map_err(|_| VmError::Virsh {
                command: command.clone(),
                stderr: format!("no answer within {:?}", self.timeout),
            })?
            .map_err(|source| VmError::VirshSpawn {
                program: self.program.display().to_string(),
                source,
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
            return Err(VmError::Virsh { command, stderr });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl VmControl for LibvirtVm {
    /// `destroy` (when active) then `start`: unlike `reboot`, this makes
    /// libvirt create the tap afresh and enslave it to the bridge again,
    /// which is what a detached VM needs.
    async fn restart(&self, reason: &str) -> Result<(), VmError> {
        let state = self.state().await?;
        info!(domain = %self.domain, %state, reason, "restarting libvirt domain");
        if state.is_active() {
            self.virsh("destroy").await?;
        }
        self.virsh("start").await?;
        Ok(())
    }

    async fn state(&self) -> Result<VmState, VmError> {
        Ok(parse_domstate(&self.virsh("domstate").await?))
    }

    async fn interfaces(&self) -> Result<Vec<VmInterface>, VmError> {
        let out = self.virsh("domiflist").await?;
        parse_domiflist(&out).map_err(|reason| VmError::VirshOutput {
            command: format!("virsh -c {} domiflist {}", self.uri, self.domain),
            reason,
        })
    }
}

/// `virsh domstate` prints one line such as `running` or `shut off`.
pub fn parse_domstate(out: &str) -> VmState {
    match out.trim() {
        "running" => VmState::Running,
        "shut off" => VmState::ShutOff,
        "paused" => VmState::Paused,
        "crashed" => VmState::Crashed,
        "" => VmState::Unknown,
        other => VmState::Other(other.to_string()),
    }
}

/// `virsh -q domiflist` prints `IFACE TYPE SOURCE MODEL MAC` per NIC, with
/// `-` as the interface of a domain that is not running.
pub fn parse_domiflist(out: &str) -> Result<Vec<VmInterface>, String> {
    out.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [tap, .., mac] = fields.as_slice() else {
                return Err(format!("line {line:?} has no MAC column"));
            };
            if fields.len() != 5 {
                return Err(format!(
                    "line {line:?} has {} columns, expected 5",
                    fields.len()
                ));
            }
            let mac: MacAddr = mac
                .parse()
                .map_err(|e: ztps_types::MacParseError| e.to_string())?;
            let tap = (*tap != "-").then(|| tap.to_string());
            Ok(VmInterface {
                tap,
                mac,
                host_ifindex: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn domstate_words() {
        assert_eq!(parse_domstate("running\n\n"), VmState::Running);
        assert_eq!(parse_domstate("shut off\n"), VmState::ShutOff);
        assert_eq!(
            parse_domstate("in shutdown\n"),
            VmState::Other("in shutdown".into())
        );
        assert!(!parse_domstate("shut off").is_active());
        assert!(parse_domstate("in shutdown").is_active());
    }

    #[test]
    fn domiflist_rows() {
        let out = " vnet3   bridge   br0   virtio   08:00:27:85:0c:f8\n -       bridge   br0   e1000    52:54:00:00:00:02\n\n";
        let ifs = parse_domiflist(out).unwrap();
        assert_eq!(ifs.len(), 2);
        assert_eq!(ifs[0].tap.as_deref(), Some("vnet3"));
        assert_eq!(ifs[0].mac.to_string(), "08:00:27:85:0c:f8");
        assert_eq!(ifs[1].tap, None);
        assert!(parse_domiflist("").unwrap().is_empty());
    }

    #[test]
    fn domiflist_garbage_is_an_error() {
        assert!(
            parse_domiflist(" vnet0 bridge br0 virtio zz:00:27:85:0c:f8\n")
                .unwrap_err()
                .contains("is not a MAC address")
        );
        assert!(parse_domiflist("error\n").is_err());
        assert!(parse_domiflist("a b c d e f 08:00:27:85:0c:f8\n").is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_domiflist(&s);
            let _ = parse_domstate(&s);
        }
    }
}

//! The EOS backend: `virtual-machine NAME restart` in configuration mode,
//! sent through eAPI by whatever implements [`EosCli`] (the agent's eAPI
//! client).

use std::future::Future;

use tracing::info;

use crate::control::check_name;
use crate::{MacAddr, VmControl, VmError, VmInterface, VmState};

/// Runs commands in EOS configuration mode. The implementation adds
/// whatever its transport needs around them (`enable`, `configure`).
pub trait EosCli: Send + Sync {
    fn configure(
        &self,
        cmds: &[String],
    ) -> impl Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send;
}

/// A VM defined in EOS's `virtual-machine NAME` configuration.
#[derive(Debug)]
pub struct EosVm<E> {
    name: String,
    cli: E,
    macs: Vec<MacAddr>,
}

impl<E: EosCli> EosVm<E> {
    /// `macs` are the VM's NIC MACs as configured (eAPI does not report
    /// them), used to recognise its taps on the bridge.
    pub fn new(name: &str, cli: E, macs: Vec<MacAddr>) -> Result<Self, VmError> {
        check_name(name)?;
        Ok(EosVm {
            name: name.to_string(),
            cli,
            macs,
        })
    }

    pub fn cli(&self) -> &E {
        &self.cli
    }
}

impl<E: EosCli> VmControl for EosVm<E> {
    async fn restart(&self, reason: &str) -> Result<(), VmError> {
        info!(vm = %self.name, reason, "restarting VM through EOS");
        let cmds = [format!("virtual-machine {} restart", self.name)];
        self.cli
            .configure(&cmds)
            .await
            .map_err(|source| VmError::Eos {
                vm: self.name.clone(),
                source,
            })
    }

    async fn state(&self) -> Result<VmState, VmError> {
        Ok(VmState::Unknown)
    }

    async fn interfaces(&self) -> Result<Vec<VmInterface>, VmError> {
        Ok(self
            .macs
            .iter()
            .map(|&mac| VmInterface {
                tap: None,
                mac,
                host_ifindex: None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records every batch of commands; fails when `fail` is set.
    #[derive(Debug, Default)]
    struct RecordingCli {
        sent: Mutex<Vec<Vec<String>>>,
        fail: Option<String>,
    }

    impl EosCli for RecordingCli {
        async fn configure(
            &self,
            cmds: &[String],
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            self.sent.lock().unwrap().push(cmds.to_vec());
            match &self.fail {
                Some(msg) => Err(msg.clone().into()),
                None => Ok(()),
            }
        }
    }

    fn mac() -> MacAddr {
        "52:54:00:00:00:01".parse().unwrap()
    }

    #[tokio::test]
    async fn restart_sends_the_config_mode_command() {
        let vm = EosVm::new("ztps", RecordingCli::default(), vec![mac()]).unwrap();
        vm.restart("detached").await.unwrap();
        assert_eq!(
            *vm.cli().sent.lock().unwrap(),
            vec![vec!["virtual-machine ztps restart".to_string()]]
        );
    }

    #[tokio::test]
    async fn a_refused_command_is_an_error_naming_the_vm() {
        let cli = RecordingCli {
            fail: Some(
                "CLI command 3 of 3 'virtual-machine ztps restart' failed: invalid command".into(),
            ),
            ..Default::default()
        };
        let vm = EosVm::new("ztps", cli, vec![]).unwrap();
        let err = vm.restart("unhealthy").await.unwrap_err();
        assert!(
            matches!(&err, VmError::Eos { vm, .. } if vm == "ztps"),
            "{err}"
        );
        assert!(err.to_string().contains("invalid command"), "{err}");
    }

    #[tokio::test]
    async fn names_that_would_inject_commands_are_refused() {
        for bad in ["", "ztps\nreload now", "ztps restart", "a\tb"] {
            let err = EosVm::new(bad, RecordingCli::default(), vec![]).unwrap_err();
            assert!(matches!(err, VmError::InvalidName(_)), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn state_is_unknown_and_interfaces_come_from_configuration() {
        let vm = EosVm::new("ztps", RecordingCli::default(), vec![mac()]).unwrap();
        assert_eq!(vm.state().await.unwrap(), VmState::Unknown);
        assert_eq!(
            vm.interfaces().await.unwrap(),
            vec![VmInterface {
                tap: None,
                mac: mac(),
                host_ifindex: None
            }]
        );
        assert!(vm.cli().sent.lock().unwrap().is_empty());
    }
}

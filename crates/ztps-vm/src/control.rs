//! What the supervisor needs from a VM backend.

use std::fmt;
use std::future::Future;

use crate::{MacAddr, VmError};

/// The VM's run state as the backend reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmState {
    Running,
    ShutOff,
    Paused,
    Crashed,
    /// Another state the backend named (e.g. libvirt's "in shutdown").
    Other(String),
    /// The backend cannot tell (EOS: eAPI has no structured VM state).
    Unknown,
}

impl VmState {
    /// Whether the VM is meant to be up (`destroy` applies before `start`).
    pub fn is_active(&self) -> bool {
        !matches!(self, VmState::ShutOff | VmState::Crashed | VmState::Unknown)
    }
}

impl fmt::Display for VmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmState::Running => f.write_str("running"),
            VmState::ShutOff => f.write_str("shut off"),
            VmState::Paused => f.write_str("paused"),
            VmState::Crashed => f.write_str("crashed"),
            VmState::Other(s) => f.write_str(s),
            VmState::Unknown => f.write_str("unknown"),
        }
    }
}

/// One network interface of the VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInterface {
    /// The host-side tap device, when the backend knows it and the VM runs.
    pub tap: Option<String>,
    /// The guest's MAC (the tap carries [`MacAddr::tap_mac`] of it).
    pub mac: MacAddr,
    /// The host-side link by index, when the backend knows it that way
    /// (a container's veth, whose name and MAC Docker picks).
    pub host_ifindex: Option<u32>,
}

/// A way to control the VM. Implementations: [`crate::eos::EosVm`],
/// [`crate::libvirt::LibvirtVm`], and [`AnyVm`] to pick one at run time.
pub trait VmControl: Send + Sync {
    /// Restarts the VM (starts it if it is not running).
    fn restart(&self, reason: &str) -> impl Future<Output = Result<(), VmError>> + Send;
    /// The VM's state, [`VmState::Unknown`] where the backend cannot tell.
    fn state(&self) -> impl Future<Output = Result<VmState, VmError>> + Send;
    /// The VM's interfaces, for the attachment check.
    fn interfaces(&self) -> impl Future<Output = Result<Vec<VmInterface>, VmError>> + Send;
}

/// Either backend, chosen from configuration at run time.
#[derive(Debug)]
pub enum AnyVm<E> {
    Eos(crate::eos::EosVm<E>),
    Libvirt(crate::libvirt::LibvirtVm),
    /// Boxed: the container's spec and client dwarf the other variants.
    Container(Box<crate::container::DockerContainer>),
}

impl<E: crate::eos::EosCli> VmControl for AnyVm<E> {
    async fn restart(&self, reason: &str) -> Result<(), VmError> {
        match self {
            AnyVm::Eos(vm) => vm.restart(reason).await,
            AnyVm::Libvirt(vm) => vm.restart(reason).await,
            AnyVm::Container(vm) => vm.restart(reason).await,
        }
    }

    async fn state(&self) -> Result<VmState, VmError> {
        match self {
            AnyVm::Eos(vm) => vm.state().await,
            AnyVm::Libvirt(vm) => vm.state().await,
            AnyVm::Container(vm) => vm.state().await,
        }
    }

    async fn interfaces(&self) -> Result<Vec<VmInterface>, VmError> {
        match self {
            AnyVm::Eos(vm) => vm.interfaces().await,
            AnyVm::Libvirt(vm) => vm.interfaces().await,
            AnyVm::Container(vm) => vm.interfaces().await,
        }
    }
}

/// Rejects names that would smuggle extra words or lines into a CLI command.
pub(crate) fn check_name(name: &str) -> Result<(), VmError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(VmError::InvalidName(name.to_string()));
    }
    Ok(())
}

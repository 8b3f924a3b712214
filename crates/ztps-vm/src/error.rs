//! The one error type of this crate.

use std::time::Duration;

/// Errors from VM control, attachment checks and health waits.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// A MAC address that is not one.
    #[error(transparent)]
    InvalidMac(#[from] ztps_types::MacParseError),
    /// A VM or domain name that cannot be put into a command safely.
    #[error(
        "invalid VM name {0:?}: it must be non-empty, without whitespace or control characters"
    )]
    InvalidName(String),
    /// EOS refused or failed `virtual-machine NAME restart`.
    #[error("EOS could not restart virtual-machine {vm}: {source}")]
    Eos {
        vm: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `virsh` could not be started at all.
    #[error("cannot run {program}: {source} (install libvirt-clients)")]
    VirshSpawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// `virsh` ran and failed; `stderr` is libvirt's own message.
    #[error("`{command}` failed: {stderr}")]
    Virsh { command: String, stderr: String },
    /// `virsh` answered something this crate does not understand.
    #[error("cannot understand the output of `{command}`: {reason}")]
    VirshOutput { command: String, reason: String },
    /// The Docker Engine refused or failed a call about the container.
    #[error("Docker could not {action} for container {container}: {reason}")]
    Docker {
        action: String,
        container: String,
        reason: String,
    },
    /// Reading the bridge's ports failed.
    #[error("cannot list the ports of the VM's bridge: {0}")]
    Bridge(#[from] ztps_net::NetError),
    /// The bridge inspector cannot put a tap back on the bridge.
    #[error("cannot put tap {tap} back on the bridge: this inspector only reads the bridge")]
    CannotReattach { tap: String },
    /// A health-check URL this client cannot use.
    #[error("invalid health-check URL {url:?}: {reason}")]
    InvalidHealthUrl { url: String, reason: String },
    /// The ZTPServer did not answer 200 in time.
    #[error("{url} did not answer 200 within {waited:?}; last: {last}")]
    NeverHealthy {
        url: String,
        waited: Duration,
        last: String,
    },
}

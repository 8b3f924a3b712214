//! Keeping the ZTPServer VM running and reachable.
//!
//! - [`control`]: the [`VmControl`] trait and its backends, [`eos`] (EOS
//!   `virtual-machine NAME restart` through eAPI), [`libvirt`] (`virsh`) and
//!   [`container`] (the appliance as a Docker container, Engine API).
//! - [`attach`]: is one of the bridge's ports the VM's tap?
//! - [`health`]: does the ZTPServer answer `GET /bootstrap` with 200?
//! - [`policy`]: when a restart is due, with grace, backoff and an hourly cap.
//! - [`supervisor`]: all of the above in one `tick(now)` for the agent's loop.
//!
//! Unlike the guide's boot script, nothing here restarts a VM that is
//! attached and healthy.

pub mod attach;
pub mod container;
pub mod control;
pub mod eos;
mod error;
pub mod health;
pub mod libvirt;
pub mod policy;
pub mod supervisor;

pub use attach::{Attachment, BridgeInspector, NetlinkBridge};
pub use control::{VmControl, VmInterface, VmState};
pub use error::VmError;
pub use health::{Health, HealthProbe, HttpHealthCheck, WrongServer};
pub use policy::{Decision, PolicyConfig, Problem, RestartPolicy};
pub use supervisor::{Supervisor, TickReport};
/// The workspace's one MAC type (with [`MacAddr::tap_mac`]), re-exported.
pub use ztps_types::MacAddr;

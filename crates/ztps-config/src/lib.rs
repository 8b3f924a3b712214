//! Typed configuration of ztps-eos.
//!
//! Two TOML documents: the agent config (`ztps-agent.toml`, read by the agent
//! on the switch) and the fabric description (written by an operator, from
//! which every file for a spine is rendered, the agent config included).
//! Loading collects every problem, each located by file, line, column and key.

mod agent;
pub mod catalogue;
mod checks;
mod diag;
mod fabric;
mod leaf;
mod load;
pub mod rules;
mod settings;
mod source;
#[doc(hidden)]
pub mod testing;
mod timeline;
mod types;

use std::path::PathBuf;

pub use agent::{
    AgentConfig, AutoP2pConfig, BridgeConfig, ContainerConfig, DEFAULT_AGENT_CONFIG_PATH,
    DEFAULT_DOCKER_SOCKET, DhcpConfig, EapiConfig, EapiTransport, EventsConfig, ForwardingConfig,
    RangeConfig, RateLimitConfig, ReservationConfig, StatusConfig, SubnetConfig, VmBackend,
    VmConfig,
};
pub use catalogue::{Catalogue, DataDiskFile, EosImage, Extension, LeafSoftware};
pub use diag::{Diagnostic, Diagnostics, KeyPath, Location, Segment};
pub use fabric::{
    AGENT_FLASH_PATH, AGENT_SWIX_PATH, AgentInstall, AgentInstallConfig, ApplianceBackend,
    ContainerSpec, DiskFormat, Fabric, FabricDhcpConfig, Host, LeafLink, LoopbackConfig,
    MIN_VM_MEMORY_MIB, NicModel, NodeIdentifier, Spine, VmSpec, ZtpServerConfig,
};
pub use leaf::{
    AdminUser, LeafConfigSource, LeafConfigs, LeafPlan, LeafSpec, PlannedUplink, Underlay,
};
pub use load::{
    MAX_CONFIG_BYTES, load_agent_config, load_fabric, load_fabric_and_files, parse_agent_config,
    parse_fabric, parse_fabric_and_files, read,
};
pub use settings::{DhcpSettings, EventsSettings, StatusSettings, VmSettings};
pub use timeline::{
    BOOTSTRAP_SYSLOG_PORT, TimelineConfig, bootstrap_conf, control_plane_acl_lines,
};
pub use types::{MacAddr, PasswordHash, kernel_interface_name};

/// Everything that can go wrong with configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The cause is the source; the binary prints the chain once.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not a file to read as configuration (a directory, a FIFO, a device,
    /// too big, not UTF-8); refused before reading or parsing.
    #[error("{}: {reason}", path.display())]
    Unreasonable { path: PathBuf, reason: String },
    /// Every problem found, one per line.
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("no fabric file given")]
    NoFabricFiles,
    #[error("the fabric describes no spine; add a [spines.NAME] table")]
    NoSpines,
    #[error("the fabric describes several spines; choose one with --spine (one of: {})", known.join(", "))]
    SpineRequired { known: Vec<String> },
    #[error("the fabric has no spine named {name:?}; it has: {}", known.join(", "))]
    UnknownSpine { name: String, known: Vec<String> },
    #[error(
        "spine {name} does not host the ZTPServer (it has no [spines.{name}.vm]); only the host spine has a VM, an agent and DHCP"
    )]
    NotHost { name: String },
    #[error("no spine hosts the ZTPServer; give one spine a [spines.NAME.vm] table")]
    NoHost,
    #[error("cannot write TOML: {0}")]
    Serialize(#[source] toml::ser::Error),
}

impl Error {
    /// The diagnostics, when the error is a list of configuration problems.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            Error::Invalid(diagnostics) => Some(diagnostics),
            _ => None,
        }
    }
}

//! Packages the agent for EOS: a binary RPM holding `/usr/bin/ztps-agent`,
//! wrapped in a SWIX extension (a stored zip with `manifest.txt`).
//!
//! ```no_run
//! use ztps_swix::{BuildTime, PackageSpec, write_swix};
//! # fn main() -> Result<(), ztps_swix::SwixError> {
//! let spec = PackageSpec::agent(env!("CARGO_PKG_VERSION"), BuildTime::from_env_or_now()?);
//! let binary = std::fs::read("/proc/self/exe").unwrap_or_default();
//! let summary = write_swix(&spec, &binary, std::path::Path::new("ztps-agent.swix"))?;
//! println!("{} sha1 {}", summary.rpm_file_name, summary.rpm_sha1);
//! # Ok(()) }
//! ```

mod error;
mod extension;
mod manifest;
mod package;
mod spec;

pub use error::SwixError;
pub use extension::{SwixSummary, swix_bytes, write_swix};
pub use manifest::Manifest;
pub use package::build_rpm;
pub use spec::{Arch, BuildTime, DEFAULT_INSTALL_PATH, PackageSpec, PayloadCompression};

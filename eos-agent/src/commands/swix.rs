//! `ztps-agent swix`: this very binary as an RPM inside a SWIX extension.

use std::process::ExitCode;

use anyhow::Context as _;
use ztps_swix::{Arch, BuildTime, PackageSpec};

use crate::cli::{RpmArch, SwixArgs};

/// The running executable's bytes: what gets packaged is what runs.
pub fn own_binary() -> anyhow::Result<Vec<u8>> {
    std::fs::read("/proc/self/exe").context("cannot read the running binary (/proc/self/exe)")
}

/// The agent's package spec; the build time honours `SOURCE_DATE_EPOCH`.
pub fn agent_spec(version: Option<&str>) -> anyhow::Result<PackageSpec> {
    let build_time = BuildTime::from_env_or_now().context("bad SOURCE_DATE_EPOCH")?;
    let spec = PackageSpec::agent(version.unwrap_or(crate::version::version()), build_time);
    spec.validate().context("cannot package the agent")?;
    Ok(spec)
}

/// The SWIX of the running binary, in memory, for a switch that boots
/// `eos_image`: an x86_64 RPM for a 64-bit image (EOS64*.swi), otherwise
/// i686, the one a 32-bit userland's rpm accepts.
pub fn own_swix(version: Option<&str>, eos_image: &str) -> anyhow::Result<Vec<u8>> {
    let mut spec = agent_spec(version)?;
    spec.arch = Arch::for_eos_image(eos_image);
    let binary = own_binary()?;
    let (bytes, _) = ztps_swix::swix_bytes(&spec, &binary).context("cannot build the SWIX")?;
    Ok(bytes)
}

pub fn run(args: &SwixArgs) -> anyhow::Result<ExitCode> {
    super::files::refuse_existing(&args.out, args.force)?;
    let mut spec = agent_spec(args.version.as_deref())?;
    spec.arch = match args.arch {
        RpmArch::X86_64 => Arch::X86_64,
        RpmArch::I686 | RpmArch::Auto => Arch::I686,
    };
    let binary = own_binary()?;
    let summary = ztps_swix::write_swix(&spec, &binary, &args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    super::files::print(&format!(
        "wrote {} ({} bytes): {} ({} bytes, sha1 {}) installs {}\n",
        summary.path.display(),
        summary.swix_size,
        summary.rpm_file_name,
        summary.rpm_size,
        summary.rpm_sha1,
        spec.install_path
    ))?;
    Ok(ExitCode::SUCCESS)
}

//! `ztps-agent run`: logging first, then the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::agent;
use crate::cli::RunArgs;

/// Where syslog listens on EOS (and every Linux host).
const SYSLOG_SOCKET: &str = "/dev/log";

/// `PER_LINUX32`, the personality `setarch i686`/`linux32` sets: uname then
/// reports i686 although the kernel is 64-bit.
const PER_LINUX32: u32 = 0x0008;

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    // Before anything touches the host: a kernel the agent cannot serve on
    // must not get a half-configured bridge.
    let machine = nix::sys::utsname::uname()
        .map(|u| u.machine().to_string_lossy().into_owned())
        .unwrap_or_default();
    let personality = std::fs::read_to_string("/proc/self/personality")
        .ok()
        .and_then(|text| u32::from_str_radix(text.trim(), 16).ok())
        .unwrap_or(0);
    if let Err(refusal) = kernel_check(&machine, personality) {
        anyhow::bail!(refusal);
    }
    agent::logging::init((!args.no_syslog).then(|| PathBuf::from(SYSLOG_SOCKET)));
    if !args.procmgr_args.is_empty() {
        tracing::info!(ignored = ?args.procmgr_args, "ignoring arguments added by the process manager");
    }
    agent::run(&args.config)?;
    Ok(ExitCode::SUCCESS)
}

/// The agent is a static x86_64 program: it needs a 64-bit x86 kernel. A
/// 32-bit EOS userland on the 64-bit kernel is fine; under the `linux32`
/// personality uname says i686 there, so that alone is no 32-bit kernel.
fn kernel_check(machine: &str, personality: u32) -> Result<(), String> {
    match machine {
        "x86_64" => Ok(()),
        "i386" | "i486" | "i586" | "i686" if personality & 0xff == PER_LINUX32 => Ok(()),
        "i386" | "i486" | "i586" | "i686" => Err(format!(
            "ztps-agent refuses to run on a 32-bit kernel (uname machine {machine}): it is a \
             static x86_64 program and needs the 64-bit kernel that EOS runs on current \
             platforms (a 32-bit EOS userland is fine); nothing was changed on this switch"
        )),
        other => Err(format!(
            "ztps-agent refuses to run on a {other:?} kernel: it is built for x86_64 (64-bit \
             x86); nothing was changed on this switch"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_64_bit_x86_kernel_runs_the_agent() {
        assert!(kernel_check("x86_64", 0).is_ok());
        // A 64-bit kernel under linux32 (setarch i686): uname says i686.
        assert!(kernel_check("i686", PER_LINUX32).is_ok());
        let refusal = kernel_check("i686", 0).unwrap_err();
        assert!(
            refusal.contains("refuses to run on a 32-bit kernel (uname machine i686)"),
            "{refusal}"
        );
        assert!(kernel_check("i386", 0).is_err());
        assert!(
            kernel_check("aarch64", 0)
                .unwrap_err()
                .contains("built for x86_64")
        );
    }
}

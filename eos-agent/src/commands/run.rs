//! `ztps-agent run`: logging first, then the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::agent;
use crate::cli::RunArgs;

/// Where syslog listens on EOS (and every Linux host).
const SYSLOG_SOCKET: &str = "/dev/log";

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    agent::logging::init((!args.no_syslog).then(|| PathBuf::from(SYSLOG_SOCKET)));
    if !args.procmgr_args.is_empty() {
        tracing::info!(ignored = ?args.procmgr_args, "ignoring arguments added by the process manager");
    }
    agent::run(&args.config)?;
    Ok(ExitCode::SUCCESS)
}

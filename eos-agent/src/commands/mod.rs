//! One module per subcommand.

mod appliance;
mod bundle;
mod check;
mod docs;
mod files;
mod leaf_configs;
mod readme;
mod render;
mod run;
mod status;
mod swix;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ztps_config::Fabric;

use crate::cli::Command;

pub fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check(args) => check::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Bundle(args) => bundle::run(&args),
        Command::Swix(args) => swix::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&args),
    }
}

/// Loads and merges fabric files; configuration problems come back one per line.
pub fn load_fabric(paths: &[PathBuf]) -> anyhow::Result<Fabric> {
    let names = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    ztps_config::load_fabric(paths).with_context(|| format!("invalid fabric ({names})"))
}

//! EOS eAPI simulator: the pieces of the `eos-sim` binary.

mod boot;
pub mod cli;
mod cli_engine;
mod config;
mod eapi;
pub mod fastcli;
pub mod faults;
mod kernel;
mod lldp;
mod replies;
mod server;
mod sim;
mod tls;
mod vm;

use std::sync::Arc;

pub use cli::Args;

/// Boots (from the flash, if any), binds every listener, announces them on
/// stdout, serves until signalled.
pub async fn run(args: Args) -> anyhow::Result<()> {
    args.check()?;
    let sim = Arc::new(sim::Sim::new(args)?);
    boot::boot(&sim).await?;
    let listeners = server::Listeners::bind(&sim).await?;
    tokio::spawn(lldp::advertise(sim.clone()));
    listeners.announce()?;
    listeners.run(sim).await
}

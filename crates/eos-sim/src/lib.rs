//! EOS eAPI simulator: the pieces of the `eos-sim` binary.

pub mod cli;
mod cli_engine;
mod eapi;
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

/// Binds every listener, announces them on stdout, serves until signalled.
pub async fn run(args: Args) -> anyhow::Result<()> {
    args.check()?;
    let sim = Arc::new(sim::Sim::new(args));
    let listeners = server::Listeners::bind(&sim).await?;
    listeners.announce()?;
    listeners.run(sim).await
}

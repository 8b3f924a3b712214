//! Runs the embedded DHCP server on its own, for tests and the benchmark:
//! `ztps-dhcpd CONFIG.toml`. Prints `ready` on stdout once it serves;
//! stops cleanly (leases durable) on SIGTERM or SIGINT.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use ztps_dhcp::{Event, Server, ServerConfig};
use ztps_net::iftable::InterfaceTable;
use ztps_net::watch::Watch;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let path = std::env::args()
        .nth(1)
        .context("usage: ztps-dhcpd CONFIG.toml")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let config = ServerConfig::from_toml(&text).with_context(|| format!("in {path}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let table = InterfaceTable::new();
        let _watch = Watch::start(table.clone()).await?;
        let (events_tx, mut events_rx) = tokio::sync::mpsc::channel::<Vec<Event>>(64);
        let server = Server::new(config, table, events_tx)?;
        let handle = server.handle();
        tokio::spawn(async move {
            while let Some(batch) = events_rx.recv().await {
                for event in batch {
                    tracing::info!(target: "ztps_dhcpd::events", ?event);
                }
            }
        });
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let serving = handle.clone();
        tokio::spawn(async move {
            // The journal loads on the server's thread; ready means answering.
            while !serving.is_serving() {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            println!("ready");
        });
        server
            .run(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            })
            .await?;
        let m = handle.metrics();
        tracing::info!(
            acks = m.sent_ack,
            offers = m.sent_offer,
            received_discover = m.received_discover,
            received_request = m.received_request,
            rate_limited = m.rate_limited,
            pool_exhausted = m.pool_exhausted,
            not_served = m.ignored_not_served,
            journal_fsyncs = m.journal_fsyncs,
            journal_bytes = m.journal_bytes_written,
            "stopped"
        );
        anyhow::Ok(())
    })?;
    Ok(())
}

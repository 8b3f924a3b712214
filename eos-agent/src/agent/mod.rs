//! `ztps-agent run`: the daemon EOS starts as `daemon ztps`.
//!
//! Start-up follows DESIGN.md's data flow: bridge → forwarding → DHCP (fed
//! by the netlink interface table) → eAPI watch → VM supervisor → events →
//! status endpoint. Then it serves until SIGTERM/SIGINT, reloading on
//! SIGHUP. Transient trouble (eAPI down, a netlink hiccup) is waited out
//! and logged when it changes; only a configuration or privilege problem
//! that no retry can fix stops it, with a message saying what to change.

mod bridge;
mod dhcp;
mod eapi_watch;
mod events;
pub mod logging;
mod metrics;
mod settings;
mod signals;
mod state;
mod status;
mod syslog_rx;
mod timeline;
mod vm;

#[cfg(test)]
pub(crate) mod test_plan;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use ztps_dhcp::{DhcpError, Server, ServerConfig};
use ztps_eapi::EapiClient;
use ztps_events::{Event, Hub};
use ztps_net::iftable::InterfaceTable;
use ztps_net::sysctl::Sysctl;
use ztps_net::watch::Watch;
use ztps_vm::container::DockerContainer;
use ztps_vm::control::AnyVm;
use ztps_vm::eos::EosVm;
use ztps_vm::libvirt::LibvirtVm;
use ztps_vm::{NetlinkBridge, RestartPolicy, Supervisor};

use bridge::Host;
use eapi_watch::WatchTarget;
use settings::Settings;
use signals::{Request, Signals};
use state::{DhcpView, Shared};

/// How often the bridge and forwarding are re-ensured, and a stopped DHCP
/// server is started again.
const MAINTENANCE: Duration = Duration::from_secs(10);
/// Upper bound of the wait between start-up attempts of the bridge.
const MAX_STARTUP_RETRY: Duration = Duration::from_secs(30);
/// Batches of DHCP events waiting for the hub (the server sends one every
/// few tens of milliseconds at most); it counts what does not fit.
const DHCP_EVENT_QUEUE: usize = 64;
/// How long the tasks have, once cancelled, to finish before they are
/// aborted (a task wedged in a syscall must not hold the shutdown).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The agent's long-lived tasks: each ends when `cancel` fires (at its next
/// await point), and shutdown waits for them in `set`.
struct Tasks {
    cancel: CancellationToken,
    set: JoinSet<()>,
}

impl Tasks {
    fn new() -> Self {
        Tasks {
            cancel: CancellationToken::new(),
            set: JoinSet::new(),
        }
    }

    /// Runs `task` until it ends or the agent stops.
    fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let cancel = self.cancel.clone();
        self.set.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Cancels every task and waits for them, aborting stragglers after
    /// [`SHUTDOWN_GRACE`].
    async fn stop(mut self) {
        self.cancel.cancel();
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(result) = self.set.join_next().await {
                if let Err(e) = result
                    && e.is_panic()
                {
                    error!(error = %e, "a task panicked");
                }
            }
        })
        .await;
        if drained.is_err() {
            warn!(
                left = self.set.len(),
                "tasks did not stop within {SHUTDOWN_GRACE:?}; aborting them"
            );
            self.set.shutdown().await;
        }
    }
}

/// Runs the daemon with the config at `path` until it is told to stop.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let settings = settings::load(path)?;
        let mut signals = Signals::install().context("cannot install signal handlers")?;
        let Some(mut agent) = Agent::start(settings, &mut signals).await? else {
            return Ok(());
        };
        agent.serve(&mut signals).await;
        agent.shutdown().await
    })
}

/// The DHCP server's task and the way to stop it.
struct DhcpTask {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), DhcpError>>,
}

/// The running daemon.
struct Agent {
    settings: Settings,
    shared: Shared,
    hub: Hub,
    table: InterfaceTable,
    host: Host,
    /// Keeps the netlink watch (and so the interface table) running.
    _watch: Watch,
    dhcp: Option<DhcpTask>,
    dhcp_events: mpsc::Sender<Vec<ztps_dhcp::Event>>,
    eapi: Option<watch::Sender<WatchTarget<EapiClient>>>,
    eapi_client: Option<watch::Sender<Arc<EapiClient>>>,
    vm_interval: Option<watch::Sender<Duration>>,
    tasks: Tasks,
    bridge_error: Option<String>,
    forwarding_error: Option<String>,
}

impl Agent {
    /// Brings every step up in order; `None` when told to stop meanwhile.
    async fn start(settings: Settings, signals: &mut Signals) -> anyhow::Result<Option<Agent>> {
        let path = settings.path.display().to_string();
        let timeline = timeline::Timeline::new(&settings.config);
        let (hub, webhook) = events::hub(&settings.config.events, &timeline)
            .with_context(|| format!("config {path}"))?;
        timeline.attach(hub.handle());
        let mut shared = Shared::new(hub.handle(), Arc::default(), path.clone());
        shared.timeline = timeline.clone();
        shared.webhook = webhook;
        let mut tasks = Tasks::new();
        let (connection, handle) = ztps_net::bridge::connection()
            .context("cannot open a netlink socket (is this Linux?)")?;
        tasks.spawn(connection);
        let host = Host {
            handle,
            sysctl: Sysctl::system(),
        };

        // 1. Bridge: retried while the failure is one a retry can fix.
        let mut bridge_error = None;
        if let Some(target) = &settings.bridge {
            let mut pause = Duration::from_secs(1);
            while let Err(e) =
                bridge::ensure_bridge(&host, target, &shared, &mut bridge_error).await
            {
                if bridge::is_fatal(&e) {
                    return Err(anyhow::Error::new(e)
                        .context(format!("{path}: [bridge] {} cannot be set up", target.name)));
                }
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    request = signals.next() => if let Request::Stop(why) = request {
                        info!(signal = why, "stopping during start-up");
                        return Ok(None);
                    },
                }
                pause = (pause * 2).min(MAX_STARTUP_RETRY);
            }
        } else {
            shared.update(|s| s.bridge.state = "disabled".into());
        }

        // The leaves' bootstrap logs, on the address they reach at Day-0.
        let t = &settings.config.timeline;
        if t.enable {
            tasks.spawn(timeline::run(timeline.clone()));
            match t.syslog_address(settings.config.bridge.as_ref().map(|b| &b.address)) {
                Some(listen) => tasks.spawn(syslog_rx::run(
                    listen,
                    t.syslog_rate_per_sec,
                    timeline.clone(),
                )),
                None => warn!(
                    "no [bridge] and no timeline.syslog_listen: the leaves' bootstrap logs are not received"
                ),
            }
        }

        // 2. Forwarding.
        let mut forwarding_error = None;
        bridge::ensure_forwarding(&host, settings.forwarding, &shared, &mut forwarding_error);

        // 3. DHCP, resolving ingress interfaces through the netlink-fed table.
        let table = InterfaceTable::new();
        let net_watch = Watch::start(table.clone())
            .await
            .context("cannot watch links and addresses over netlink")?;
        let (dhcp_events, dhcp_rx) = mpsc::channel(DHCP_EVENT_QUEUE);
        let dhcp = if settings.config.dhcp.enabled {
            Some(
                start_dhcp(&settings.dhcp, &table, &dhcp_events, &shared).with_context(|| {
                    format!(
                        "cannot start the DHCP server (config {path}); is another DHCP server (dhcpd) bound to port {}?",
                        settings.dhcp.port
                    )
                })?,
            )
        } else {
            info!(config = %path, "DHCP is off (dhcp.enabled = false); everything else runs");
            None
        };
        tasks.spawn(forward_dhcp_events(dhcp_rx, shared.clone()));

        // 4. eAPI watch.
        let wake = Arc::new(Notify::new());
        let (mut eapi, mut eapi_client) = (None, None);
        if let Some(e) = &settings.eapi {
            let client = Arc::new(
                e.client()
                    .with_context(|| format!("config {path}: [eapi]"))?,
            );
            let (target_tx, target_rx) = watch::channel(WatchTarget {
                view: client.clone(),
                settings: e.watch.clone(),
            });
            tasks.spawn(eapi_watch::run(
                target_rx,
                table.clone(),
                shared.clone(),
                wake.clone(),
            ));
            eapi = Some(target_tx);
            eapi_client = Some(watch::channel(client).0);
        }

        // 5. VM supervisor.
        let mut vm_interval = None;
        if let Some(v) = &settings.vm {
            let bridge_name = settings
                .bridge
                .as_ref()
                .map(|b| b.name.clone())
                .unwrap_or_default();
            let control = match v.backend {
                ztps_config::VmBackend::Eos => {
                    let client = eapi_client
                        .as_ref()
                        .context("the EOS VM backend needs eAPI")?;
                    AnyVm::Eos(EosVm::new(
                        &v.name,
                        vm::EapiCli(client.subscribe()),
                        vec![v.mac],
                    )?)
                }
                ztps_config::VmBackend::Libvirt => {
                    AnyVm::Libvirt(LibvirtVm::new(&v.libvirt_uri, &v.name)?)
                }
                ztps_config::VmBackend::Container => {
                    // ztps-config requires [vm.container] for this backend.
                    let spec = v
                        .container
                        .clone()
                        .context("vm.backend = \"container\" needs [vm.container]")?;
                    AnyVm::Container(Box::new(DockerContainer::new(&v.docker_socket, spec)?))
                }
            };
            let supervisor = Supervisor::new(
                control,
                NetlinkBridge::new(host.handle.clone(), &bridge_name),
                v.health_check()?,
                RestartPolicy::new(v.policy.clone()),
            );
            let (tx, rx) = watch::channel(v.interval);
            let reporter = vm::Reporter::new(&v.name, &bridge_name, &v.health_url);
            tasks.spawn(vm::run(supervisor, reporter, rx, shared.clone()));
            vm_interval = Some(tx);
        } else {
            shared.update(|s| {
                s.vm.managed = false;
                s.vm.attachment = "unmanaged".into();
            });
        }

        // 6. Events: link changes from netlink, at once.
        tasks.spawn(forward_net_events(
            net_watch.subscribe(),
            shared.clone(),
            wake,
        ));

        // 7. Status endpoint.
        if settings.config.status.enable {
            let endpoint = status::Endpoint {
                registry: Arc::new(metrics::registry(&shared)),
                shared: shared.clone(),
                table: table.clone(),
            };
            tasks.spawn(serve_status(
                endpoint,
                settings.config.status.listen,
                tasks.cancel.clone(),
            ));
        }

        info!(
            config = %path,
            bridge = settings.bridge.as_ref().map_or("none", |b| b.name.as_str()),
            eapi = settings.eapi.as_ref().map_or("none".to_string(), |e| e.transport.endpoint()),
            vm = settings.vm.as_ref().map_or("unmanaged", |v| v.name.as_str()),
            "ztps-agent running"
        );
        Ok(Some(Agent {
            settings,
            shared,
            hub,
            table,
            host,
            _watch: net_watch,
            dhcp,
            dhcp_events,
            eapi,
            eapi_client,
            vm_interval,
            tasks,
            bridge_error,
            forwarding_error,
        }))
    }

    /// Serves until a stop signal.
    async fn serve(&mut self, signals: &mut Signals) {
        let mut maintenance = tokio::time::interval(MAINTENANCE);
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        maintenance.tick().await;
        loop {
            tokio::select! {
                request = signals.next() => match request {
                    Request::Stop(why) => {
                        info!(signal = why, "stopping");
                        return;
                    }
                    Request::Reload => self.reload().await,
                },
                _ = maintenance.tick() => self.maintain().await,
                result = dhcp_finished(&mut self.dhcp) => {
                    self.dhcp = None;
                    self.shared.set_dhcp(None);
                    match result {
                        Ok(()) => error!("DHCP server stopped unexpectedly; starting it again shortly"),
                        Err(e) => error!(error = %format!("{e:#}"), "DHCP server failed; starting it again shortly"),
                    }
                }
            }
        }
    }

    /// The periodic re-ensuring of the host steps and of a running server.
    async fn maintain(&mut self) {
        if let Some(target) = &self.settings.bridge {
            let _ = bridge::ensure_bridge(&self.host, target, &self.shared, &mut self.bridge_error)
                .await;
        }
        bridge::ensure_forwarding(
            &self.host,
            self.settings.forwarding,
            &self.shared,
            &mut self.forwarding_error,
        );
        if self.dhcp.is_none() && self.settings.config.dhcp.enabled {
            self.restart_dhcp(&self.settings.dhcp.clone()).await;
        }
    }

    /// Stops the running server (its leases durable) and starts one with
    /// `config`; if that fails the previous config is tried again.
    async fn restart_dhcp(&mut self, config: &ServerConfig) {
        let previous = self.shared.dhcp().map(|v| v.config);
        if let Some(running) = self.dhcp.take() {
            stop_dhcp(running).await;
            self.shared.set_dhcp(None);
        }
        self.shared.metrics.dhcp_server_restarts.inc();
        match start_dhcp(config, &self.table, &self.dhcp_events, &self.shared) {
            Ok(task) => self.dhcp = Some(task),
            Err(e) => {
                error!(error = %e, "cannot start the DHCP server with the new settings");
                if let Some(old) = previous {
                    match start_dhcp(&old, &self.table, &self.dhcp_events, &self.shared) {
                        Ok(task) => {
                            warn!("DHCP server running with the previous settings");
                            self.dhcp = Some(task);
                        }
                        Err(e) => {
                            error!(error = %e, "cannot start the DHCP server; retrying shortly")
                        }
                    }
                }
            }
        }
    }

    /// SIGHUP: a config that fails validation is rejected and the running
    /// one kept; a valid one is applied where that needs no restart.
    async fn reload(&mut self) {
        let path = self.settings.path.display().to_string();
        let new = settings::load(&self.settings.path).and_then(|s| {
            let client = s.eapi.as_ref().map(|e| e.client()).transpose()?;
            Ok((s, client))
        });
        let (new, client) = match new {
            Ok(ok) => ok,
            Err(e) => {
                let reason = format!("{e:#}");
                error!(config = %path, %reason, "new configuration rejected; keeping the running one");
                self.shared.metrics.config_rejected.inc();
                self.shared.hub.emit(Event::ConfigRejected { path, reason });
                return;
            }
        };
        let old = &self.settings;
        if old.config.dhcp != new.config.dhcp
            || bridge_name(&old.config) != bridge_name(&new.config)
        {
            if new.config.dhcp.enabled {
                info!("DHCP settings changed; restarting the DHCP server");
                self.restart_dhcp(&new.dhcp).await;
            } else if let Some(running) = self.dhcp.take() {
                // At once: no new answer after the reload; leases stay on
                // flash for the day DHCP is turned on again.
                stop_dhcp(running).await;
                self.shared.set_dhcp(None);
                info!(
                    "DHCP turned off (dhcp.enabled = false); the bridge, forwarding, eAPI watch and VM keep running"
                );
            }
        }
        if let (Some(target), Some(e), Some(client)) = (&self.eapi, &new.eapi, client)
            && self.settings.eapi.as_ref() != Some(e)
        {
            let client = Arc::new(client);
            info!(endpoint = %client.endpoint(), poll_interval = ?e.watch.poll_interval, "eAPI settings applied");
            if let Some(vm_client) = &self.eapi_client {
                vm_client.send_replace(client.clone());
            }
            target.send_replace(WatchTarget {
                view: client,
                settings: e.watch.clone(),
            });
        }
        if let (Some(tx), Some(v)) = (&self.vm_interval, &new.vm) {
            tx.send_if_modified(|interval| std::mem::replace(interval, v.interval) != v.interval);
        }
        let restart = self.settings.needs_restart(&new);
        if !restart.is_empty() {
            warn!(sections = ?restart, "these changes take effect when the agent restarts");
        }
        self.shared.timeline.reconfigure(&new.config);
        info!(config = %path, "configuration reloaded");
        self.shared.metrics.config_reloads.inc();
        self.shared.hub.emit(Event::ConfigReloaded { path });
        // Sections that need a restart keep running with what they started with.
        let mut applied = new;
        applied.config.bridge = self.settings.config.bridge.clone();
        applied.bridge = self.settings.bridge.clone();
        applied.forwarding = self.settings.forwarding;
        self.settings = applied;
    }

    /// Stops every task; the DHCP server last, with its leases durable.
    async fn shutdown(mut self) -> anyhow::Result<()> {
        self.tasks.stop().await;
        if let Some(running) = self.dhcp.take() {
            stop_dhcp(running).await;
        }
        self.hub.shutdown().await;
        // Removal must not cut the fabric: whatever the agent set up on the
        // host stays, and the log says so for the operator removing it.
        info!(
            bridge = self
                .settings
                .config
                .bridge
                .as_ref()
                .map(|b| b.name.as_str())
                .unwrap_or("none"),
            "stopped; the bridge, IPv4 forwarding and the VM are left as they are"
        );
        Ok(())
    }
}

fn start_dhcp(
    config: &ServerConfig,
    table: &InterfaceTable,
    events: &mpsc::Sender<Vec<ztps_dhcp::Event>>,
    shared: &Shared,
) -> Result<DhcpTask, DhcpError> {
    let server = Server::new(config.clone(), table.clone(), events.clone())?;
    shared.set_dhcp(Some(DhcpView {
        handle: server.handle(),
        config: Arc::new(config.clone()),
    }));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Ok(DhcpTask { stop, task })
}

async fn stop_dhcp(running: DhcpTask) {
    let _ = running.stop.send(());
    match running.task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error!(error = %e, "DHCP server stopped with an error"),
        Err(e) => error!(error = %e, "DHCP server task failed"),
    }
}

/// The bridge the DHCP server never serves, if there is one.
fn bridge_name(config: &ztps_config::AgentConfig) -> Option<&str> {
    config.bridge.as_ref().map(|b| b.name.as_str())
}

/// Resolves when the running DHCP server's task ends; never without one.
async fn dhcp_finished(dhcp: &mut Option<DhcpTask>) -> anyhow::Result<()> {
    match dhcp {
        Some(running) => Ok((&mut running.task).await??),
        None => std::future::pending().await,
    }
}

async fn forward_dhcp_events(mut rx: mpsc::Receiver<Vec<ztps_dhcp::Event>>, shared: Shared) {
    while let Some(batch) = rx.recv().await {
        for event in batch {
            shared.hub.emit(events::from_dhcp(event));
        }
    }
}

async fn forward_net_events(
    mut rx: broadcast::Receiver<ztps_net::watch::NetEvent>,
    shared: Shared,
    wake: Arc<Notify>,
) {
    loop {
        match rx.recv().await {
            Ok(event) => {
                if let Some(e) = events::from_net(&event) {
                    shared.hub.emit(e);
                    // Let the eAPI watch confirm with EOS soon.
                    wake.notify_one();
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => warn!(missed = n, "link events missed"),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Binds and serves the status endpoint; a bind failure (the port still
/// held by a previous instance) is retried, not fatal.
async fn serve_status(
    endpoint: status::Endpoint,
    listen: std::net::SocketAddr,
    cancel: CancellationToken,
) {
    let mut logged = false;
    loop {
        match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => {
                info!(%listen, "status endpoint listening");
                return endpoint.serve(listener, cancel).await;
            }
            Err(e) => {
                if !logged {
                    error!(%listen, error = %e, "status endpoint cannot listen; retrying");
                    logged = true;
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

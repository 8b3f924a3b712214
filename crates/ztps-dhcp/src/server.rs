//! The running server: socket, handler, journal writer and event channel.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use ztps_net::iftable::InterfaceTable;

use crate::config::ServerConfig;
use crate::event::Event;
use crate::handler::{Ingress, Reply, ReplyKind, State, handle};
use crate::journal::{self, Appender, Record};
use crate::leases::Lease;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::{DhcpError, socket};

/// How often expired entries are swept and compaction is considered.
const HOUSEKEEPING: Duration = Duration::from_secs(5);
/// The journal is compacted when it is larger than this and more than four
/// times what its live leases need: rare rewrites, because flash wears out.
const COMPACT_MIN_BYTES: u64 = 256 * 1024;
/// Large enough for jumbo frames; longer datagrams arrive truncated and fail
/// validation.
const RECV_BUFFER: usize = 9216;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The embedded DHCP server, set up but not yet running.
#[derive(Debug)]
pub struct Server {
    config: Arc<ServerConfig>,
    table: InterfaceTable,
    events: mpsc::Sender<Event>,
    state: Arc<Mutex<State>>,
    metrics: Arc<Metrics>,
    socket: std::net::UdpSocket,
    appender: Appender,
}

/// A view of a server for status pages; cheap to clone.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    state: Arc<Mutex<State>>,
    metrics: Arc<Metrics>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic cannot leave the lease table half-updated in a way that is
    // worse than stopping to serve, so keep going with the data.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ServerHandle {
    /// Every lease, offer and probation entry, ordered by address.
    pub fn leases(&self) -> Vec<Lease> {
        lock(&self.state).leases().all()
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }
}

impl Server {
    /// Validates the configuration, replays the lease journal (reporting
    /// and dropping a damaged tail), compacts it and binds the socket.
    pub fn new(
        config: ServerConfig,
        table: InterfaceTable,
        events: mpsc::Sender<Event>,
    ) -> Result<Server, DhcpError> {
        config.validate()?;
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let mut state = State::new(config.clone(), metrics.clone());
        let loaded = journal::load(&config.lease_file)?;
        if let Some(problem) = &loaded.problem {
            Metrics::inc(&metrics.journal_corrupt_records);
            tracing::warn!(
                file = %config.lease_file.display(),
                %problem,
                skipped_bytes = loaded.skipped_bytes,
                kept_records = loaded.records.len(),
                "lease journal has a damaged tail; it is skipped"
            );
        }
        for record in &loaded.records {
            state.leases.apply(record);
        }
        let now = now_ms() / 1000;
        state.leases.sweep(now);
        journal::compact(
            &config.lease_file,
            &state.leases.durable_records(now),
            &metrics,
        )?;
        tracing::info!(leases = state.leases.len(), file = %config.lease_file.display(), "leases loaded");
        let appender = Appender::open(&config.lease_file, metrics.clone())?;
        let socket = socket::bind(config.port)?;
        Ok(Server {
            config,
            table,
            events,
            state: Arc::new(Mutex::new(state)),
            metrics,
            socket,
            appender,
        })
    }

    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            state: self.state.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Serves until `shutdown` completes; then every acknowledged lease is
    /// durable and the journal is compacted. Must run inside tokio.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), DhcpError> {
        let Server {
            config,
            table,
            events,
            state,
            metrics,
            socket,
            appender,
        } = self;
        let socket =
            UdpSocket::from_std(socket).map_err(DhcpError::socket("register with tokio"))?;
        let fd = socket::fd(&socket);
        let (durable_tx, mut durable_rx) = mpsc::unbounded_channel();
        let writer = Writer::spawn(appender, durable_tx)?;
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        let emit = |event: Event| {
            if events.try_send(event).is_err() {
                Metrics::inc(&metrics.events_dropped);
            }
        };
        tracing::info!(port = config.port, "DHCP server running");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                received = socket.async_io(Interest::READABLE, || socket::recv(fd, &mut buf)) => {
                    let received = match received {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!(error = %e, "receive failed");
                            continue;
                        }
                    };
                    let Some(interface) = table.get(received.ifindex) else {
                        Metrics::inc(&metrics.ignored_not_served);
                        continue;
                    };
                    let ingress = Ingress { interface, source: received.source };
                    let packet = buf.get(..received.len).unwrap_or(&[]);
                    let (reply, records, new_events) = {
                        let mut state = lock(&state);
                        let reply = handle(&mut state, &ingress, packet, now_ms());
                        (reply, state.take_records(), state.take_events())
                    };
                    new_events.into_iter().for_each(emit);
                    if !records.is_empty() {
                        writer.send(Command::Append(records, Vec::new()))?;
                    }
                    if let Some(reply) = reply {
                        match reply.durable.clone() {
                            Some(record) => writer.send(Command::Append(vec![record], vec![reply]))?,
                            None => send_reply(&socket, fd, reply, &metrics, &emit).await,
                        }
                    }
                }
                Some(replies) = durable_rx.recv() => {
                    for reply in replies {
                        send_reply(&socket, fd, reply, &metrics, &emit).await;
                    }
                }
                _ = housekeeping.tick() => {
                    let now = now_ms() / 1000;
                    let records = {
                        let mut state = lock(&state);
                        state.leases.sweep(now);
                        state.leases.durable_records(now)
                    };
                    let live: u64 = records.iter().map(|r| r.encode().len() as u64).sum();
                    let size = writer.size.load(Ordering::Relaxed);
                    if size > COMPACT_MIN_BYTES && size > 4 * live {
                        writer.send(Command::Compact(records))?;
                    }
                }
            }
        }
        // Flush whatever is queued, then leave a compact journal behind.
        let records = lock(&state).leases.durable_records(now_ms() / 1000);
        writer.send(Command::Compact(records))?;
        writer.finish()?;
        while let Ok(replies) = durable_rx.try_recv() {
            for reply in replies {
                send_reply(&socket, fd, reply, &metrics, &emit).await;
            }
        }
        tracing::info!("DHCP server stopped; leases are durable");
        Ok(())
    }
}

async fn send_reply(
    socket: &UdpSocket,
    fd: i32,
    reply: Reply,
    metrics: &Metrics,
    emit: &impl Fn(Event),
) {
    let sent = socket
        .async_io(Interest::WRITABLE, || {
            socket::send(fd, &reply.packet, reply.to, reply.ifindex, reply.from)
        })
        .await;
    match sent {
        Ok(_) => {
            Metrics::inc(match reply.kind {
                ReplyKind::Offer => &metrics.sent_offer,
                ReplyKind::Ack => &metrics.sent_ack,
                ReplyKind::Nak => &metrics.sent_nak,
            });
            if let Some(event) = reply.on_sent {
                emit(event);
            }
        }
        Err(e) => {
            Metrics::inc(&metrics.send_errors);
            tracing::warn!(to = %reply.to, ifindex = reply.ifindex, error = %e, "cannot send reply");
        }
    }
}

enum Command {
    /// Make these records durable, then release these replies.
    Append(Vec<Record>, Vec<Reply>),
    /// Rewrite the journal to exactly these records.
    Compact(Vec<Record>),
}

/// The journal writer thread. fsync blocks, so it runs off the runtime;
/// while it syncs, new appends queue up and share the next fsync.
struct Writer {
    commands: std::sync::mpsc::Sender<Command>,
    thread: std::thread::JoinHandle<Result<(), DhcpError>>,
    size: Arc<AtomicU64>,
}

impl Writer {
    fn spawn(
        mut appender: Appender,
        durable: mpsc::UnboundedSender<Vec<Reply>>,
    ) -> Result<Writer, DhcpError> {
        let (commands, rx) = std::sync::mpsc::channel::<Command>();
        let size = Arc::new(AtomicU64::new(appender.size()));
        let size_out = size.clone();
        let thread = std::thread::Builder::new()
            .name("dhcp-journal".into())
            .spawn(move || {
                let result = write_loop(&rx, &mut appender, &durable, &size);
                if let Err(e) = &result {
                    // The server stops on its next append; say why here.
                    tracing::error!(error = %e, "lease journal writer failed; no more ACKs can be made durable");
                }
                result
            })
            .map_err(|source| DhcpError::Journal {
                path: "dhcp-journal thread".into(),
                what: "spawn",
                source,
            })?;
        Ok(Writer {
            commands,
            thread,
            size: size_out,
        })
    }

    fn send(&self, command: Command) -> Result<(), DhcpError> {
        self.commands
            .send(command)
            .map_err(|_| DhcpError::JournalStopped)
    }

    /// Waits until everything sent is durable.
    fn finish(self) -> Result<(), DhcpError> {
        drop(self.commands);
        self.thread.join().map_err(|_| DhcpError::JournalStopped)?
    }
}

/// Takes every command queued while the previous fsync ran and makes the
/// whole batch durable with one more (group commit).
fn write_loop(
    rx: &std::sync::mpsc::Receiver<Command>,
    appender: &mut Appender,
    durable: &mpsc::UnboundedSender<Vec<Reply>>,
    size: &AtomicU64,
) -> Result<(), DhcpError> {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let mut records = Vec::new();
        let mut replies = Vec::new();
        for command in batch {
            match command {
                Command::Append(r, w) => {
                    records.extend(r);
                    replies.extend(w);
                }
                Command::Compact(live) => {
                    flush(appender, &mut records, &mut replies, durable)?;
                    appender.compact(&live)?;
                }
            }
        }
        flush(appender, &mut records, &mut replies, durable)?;
        size.store(appender.size(), Ordering::Relaxed);
    }
    Ok(())
}

/// Appends the pending records with one fsync and releases their replies.
/// A failed write withholds the replies: an ACK is never sent for a lease
/// that is not durable. The error stops the writer, and with it the server.
fn flush(
    appender: &mut Appender,
    records: &mut Vec<Record>,
    replies: &mut Vec<Reply>,
    durable: &mpsc::UnboundedSender<Vec<Reply>>,
) -> Result<(), DhcpError> {
    if records.is_empty() {
        return Ok(());
    }
    appender.append_durably(records)?;
    records.clear();
    if !replies.is_empty() {
        let _ = durable.send(std::mem::take(replies));
    }
    Ok(())
}

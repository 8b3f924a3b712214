//! The running server, on threads of its own.
//!
//! The network thread (a current-thread tokio runtime of its own) receives
//! datagrams, handles them and sends OFFERs and NAKs at once: they promise
//! nothing durable, so they never wait for a sync. The ACKs and their
//! journal records go to the journal thread, which lets a first REQUEST
//! wait up to [`COMMIT_DELAY`] for others, writes the records of all of
//! them, syncs once and only then sends their ACKs (group commit). The
//! journal's start-up load and every compaction also run there, never on
//! the caller's runtime, which the agent shares with netlink, eAPI and the
//! status endpoint.

use std::future::Future;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use ztps_net::iftable::InterfaceTable;
use ztps_net::neighbour::Neighbours;

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
/// Datagrams handled per wake-up at most, so the housekeeping and the stop
/// request get their turn under a flood.
const MAX_BATCH: usize = 64;
/// Records per sync at most.
const MAX_COMMIT: usize = 256;

/// How long the first REQUEST of a batch waits for others to share its sync.
/// A DHCP client waits seconds for an ACK; a few milliseconds are nothing to
/// it, and the sync, not the handling, is what an ACK costs.
const COMMIT_DELAY: Duration = Duration::from_millis(10);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The embedded DHCP server, set up but not yet running: it holds the lock
/// on its lease journal and its socket.
#[derive(Debug)]
pub struct Server {
    config: Arc<ServerConfig>,
    table: InterfaceTable,
    events: mpsc::Sender<Event>,
    state: Arc<Mutex<State>>,
    metrics: Arc<Metrics>,
    serving: Arc<AtomicBool>,
    socket: std::net::UdpSocket,
    lock: Flock<std::fs::File>,
}

/// A view of a server for status pages; cheap to clone.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    state: Arc<Mutex<State>>,
    metrics: Arc<Metrics>,
    serving: Arc<AtomicBool>,
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

    /// Whether the leases are loaded and requests are being answered.
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }
}

/// `<lease file>.lock`: the journal itself is replaced by every compaction,
/// so a lock on it would not outlive the first one.
fn lock_path(lease_file: &Path) -> PathBuf {
    let mut name = lease_file.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    lease_file.with_file_name(name)
}

/// Takes the lease journal's lock, or says who holds it.
fn lock_journal(lease_file: &Path) -> Result<Flock<std::fs::File>, DhcpError> {
    let path = lock_path(lease_file);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| DhcpError::Journal {
            path: path.clone(),
            what: "open the lock file",
            source,
        })?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == nix::errno::Errno::EWOULDBLOCK {
            DhcpError::JournalLocked {
                path: lease_file.to_path_buf(),
                lock: path.clone(),
            }
        } else {
            DhcpError::Journal {
                path: path.clone(),
                what: "lock",
                source: errno.into(),
            }
        }
    })
}

impl Server {
    /// Takes the journal's lock, then binds the socket. Cheap: the journal
    /// is read by [`Server::run`], on the server's own thread.
    pub fn new(
        config: ServerConfig,
        table: InterfaceTable,
        events: mpsc::Sender<Event>,
    ) -> Result<Server, DhcpError> {
        // Before the bind: a second instance must not get as far as port 67.
        let lock = lock_journal(&config.lease_file)?;
        let socket = socket::bind(config.port)?;
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let state = State::new(config.clone(), metrics.clone());
        Ok(Server {
            config,
            table,
            events,
            state: Arc::new(Mutex::new(state)),
            metrics,
            serving: Arc::new(AtomicBool::new(false)),
            socket,
            lock,
        })
    }

    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            state: self.state.clone(),
            metrics: self.metrics.clone(),
            serving: self.serving.clone(),
        }
    }

    /// The local address of the socket (tests bind port 0).
    pub fn local_port(&self) -> Option<u16> {
        self.socket.local_addr().ok().map(|a| a.port())
    }

    /// Loads the journal, then serves until `shutdown` completes; then every
    /// acknowledged lease is durable and the journal is compacted.
    ///
    /// The work runs on the server's own threads; this future only waits,
    /// so it may run on any runtime, a shared current-thread one included.
    /// Dropping it stops the server too, without waiting.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), DhcpError> {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (done_tx, mut done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("ztps-dhcp".into())
            .spawn(move || {
                let _ = done_tx.send(self.serve(stop_rx));
            })
            .map_err(|e| DhcpError::Thread(format!("cannot start it: {e}")))?;
        let ended = |r: Result<Result<(), DhcpError>, oneshot::error::RecvError>| {
            r.unwrap_or_else(|_| Err(DhcpError::Thread("it ended without a result".into())))
        };
        tokio::pin!(shutdown);
        tokio::select! {
            result = &mut done_rx => return ended(result),
            () = &mut shutdown => {}
        }
        let _ = stop_tx.send(());
        ended(done_rx.await)
    }

    /// The server thread: its own runtime, the journal thread, the loop.
    fn serve(self, stop: oneshot::Receiver<()>) -> Result<(), DhcpError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(DhcpError::socket("start the server's runtime"))?;
        let Server {
            config,
            table,
            events,
            state,
            metrics,
            serving,
            socket,
            lock: _lock,
        } = self;
        let appender = load(&config, &state, &metrics)?;
        let send_socket = socket
            .try_clone()
            .map_err(DhcpError::socket("duplicate for the journal thread"))?;
        let (jobs, journal) =
            Journal::start(appender, send_socket, metrics.clone(), events.clone())?;
        let network = Network {
            config,
            table,
            events,
            state,
            metrics,
            neighbours: Neighbours::open().ok(),
        };
        serving.store(true, Ordering::Release);
        let served = runtime.block_on(network.run(socket, jobs, journal.failed, stop));
        serving.store(false, Ordering::Release);
        // The loop dropped its end of the job channel: the journal thread
        // finishes what it was given (the final compaction last) and ends.
        let written = journal
            .thread
            .join()
            .unwrap_or_else(|_| Err(DhcpError::Thread("the journal thread panicked".into())));
        served.and(written)?;
        tracing::info!("DHCP server stopped; leases are durable");
        Ok(())
    }
}

/// Replays the journal into the lease table and compacts it, keeping a copy
/// of a damaged one first.
fn load(
    config: &ServerConfig,
    state: &Mutex<State>,
    metrics: &Arc<Metrics>,
) -> Result<Appender, DhcpError> {
    let path = &config.lease_file;
    let loaded = journal::load(path)?;
    if let Some(problem) = loaded.problem() {
        Metrics::add(
            &metrics.journal_corrupt_records,
            loaded.damaged.len() as u64,
        );
        let copy = journal::keep_corrupt_copy(path)?;
        tracing::warn!(
            file = %path.display(),
            %problem,
            copy = %copy.display(),
            kept_records = loaded.records.len(),
            "lease journal is damaged; the valid records are kept and a copy of the file is left beside it"
        );
    }
    let now = now_ms() / 1000;
    let records = {
        let mut state = lock(state);
        for record in &loaded.records {
            state.leases.apply(record);
        }
        state.leases.sweep(now);
        state.leases.durable_records(now)
    };
    let appender = journal::compact(path, &records, metrics.clone())?;
    tracing::info!(leases = records.len(), file = %path.display(), version = loaded.version, "leases loaded");
    Ok(appender)
}

/// What the network thread hands the journal thread, in order.
enum Job {
    /// Make these durable, then send these ACKs.
    Commit {
        records: Vec<Record>,
        acks: Vec<Reply>,
    },
    /// Rewrite the journal as exactly these records.
    Compact(Vec<Record>),
}

struct Journal {
    thread: std::thread::JoinHandle<Result<(), DhcpError>>,
    /// Resolves when the journal thread ends (by failure, or at shutdown).
    failed: oneshot::Receiver<()>,
}

impl Journal {
    fn start(
        appender: Appender,
        socket: std::net::UdpSocket,
        metrics: Arc<Metrics>,
        events: mpsc::Sender<Event>,
    ) -> Result<(std_mpsc::Sender<Job>, Journal), DhcpError> {
        let (jobs, rx) = std_mpsc::channel();
        let (ended_tx, failed) = oneshot::channel();
        let neighbours = Neighbours::open().ok();
        let thread = std::thread::Builder::new()
            .name("ztps-dhcp-sync".into())
            .spawn(move || {
                let mut writer = Writer {
                    appender,
                    socket,
                    metrics,
                    events,
                    neighbours,
                };
                let result = writer.run(&rx);
                let _ = ended_tx.send(());
                result
            })
            .map_err(|e| DhcpError::Thread(format!("cannot start the journal thread: {e}")))?;
        Ok((jobs, Journal { thread, failed }))
    }
}

/// The journal thread's side.
struct Writer {
    appender: Appender,
    socket: std::net::UdpSocket,
    metrics: Arc<Metrics>,
    events: mpsc::Sender<Event>,
    neighbours: Option<Neighbours>,
}

impl Writer {
    fn run(&mut self, rx: &std_mpsc::Receiver<Job>) -> Result<(), DhcpError> {
        let mut records = Vec::new();
        let mut acks = Vec::new();
        while let Ok(job) = rx.recv() {
            let mut compaction = None;
            match job {
                Job::Compact(live) => compaction = Some(live),
                Job::Commit {
                    records: mut r,
                    acks: mut a,
                } => {
                    records.append(&mut r);
                    acks.append(&mut a);
                    // Commit delay: REQUESTs arriving meanwhile share the sync.
                    let deadline = Instant::now() + COMMIT_DELAY;
                    while records.len() < MAX_COMMIT {
                        let left = deadline.saturating_duration_since(Instant::now());
                        match rx.recv_timeout(left) {
                            Ok(Job::Commit {
                                records: mut r,
                                acks: mut a,
                            }) => {
                                records.append(&mut r);
                                acks.append(&mut a);
                            }
                            Ok(Job::Compact(live)) => {
                                compaction = Some(live);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                }
            }
            if !records.is_empty() {
                // A failure withholds every ACK and stops the server.
                if let Err(e) = self.appender.append_durably(&records) {
                    Metrics::inc(&self.metrics.journal_errors);
                    return Err(e);
                }
                records.clear();
            }
            for reply in acks.drain(..) {
                send_now(
                    &self.socket,
                    &mut self.neighbours,
                    reply,
                    &self.metrics,
                    &self.events,
                );
            }
            if let Some(live) = compaction {
                self.appender.compact(&live)?;
            }
        }
        Ok(())
    }
}

/// The network thread's side.
struct Network {
    config: Arc<ServerConfig>,
    table: InterfaceTable,
    events: mpsc::Sender<Event>,
    state: Arc<Mutex<State>>,
    metrics: Arc<Metrics>,
    neighbours: Option<Neighbours>,
}

impl Network {
    async fn run(
        mut self,
        socket: std::net::UdpSocket,
        jobs: std_mpsc::Sender<Job>,
        mut journal_ended: oneshot::Receiver<()>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<(), DhcpError> {
        let socket =
            UdpSocket::from_std(socket).map_err(DhcpError::socket("register with tokio"))?;
        let mut batch = Batch::new();
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut size_hint = 0u64;
        tracing::info!(port = self.config.port, "DHCP server running");
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = &mut journal_ended => {
                    // It only ends early on a failure, which join reports.
                    return Err(DhcpError::JournalStopped);
                }
                ready = socket.readable() => {
                    if let Err(e) = ready {
                        tracing::warn!(error = %e, "socket readiness failed");
                        continue;
                    }
                    batch.receive(&socket, &self.table, &self.state, &self.metrics);
                    batch.events.drain(..).for_each(|e| emit(&self.events, &self.metrics, e));
                    for reply in batch.immediate.drain(..) {
                        send_async(&socket, &mut self.neighbours, reply, &self.metrics, &self.events).await;
                    }
                    if !batch.after_sync.is_empty() || !batch.records.is_empty() {
                        size_hint += batch.records.iter().map(|r| r.encoded_len() as u64).sum::<u64>();
                        let job = Job::Commit {
                            records: std::mem::take(&mut batch.records),
                            acks: std::mem::take(&mut batch.after_sync),
                        };
                        if jobs.send(job).is_err() {
                            return Err(DhcpError::JournalStopped);
                        }
                    }
                }
                _ = housekeeping.tick() => {
                    let now = now_ms() / 1000;
                    let records = {
                        let mut state = lock(&self.state);
                        state.leases.sweep(now);
                        state.leases.durable_records(now)
                    };
                    let live: u64 = records.iter().map(|r| r.encoded_len() as u64).sum();
                    if size_hint > COMPACT_MIN_BYTES && size_hint > 4 * live {
                        size_hint = live;
                        if jobs.send(Job::Compact(records)).is_err() {
                            return Err(DhcpError::JournalStopped);
                        }
                    }
                }
            }
        }
        // Every ACK sent was durable first; leave a compact journal behind.
        let records = lock(&self.state).leases.durable_records(now_ms() / 1000);
        let _ = jobs.send(Job::Compact(records));
        Ok(())
    }
}

fn emit(events: &mpsc::Sender<Event>, metrics: &Metrics, event: Event) {
    if events.try_send(event).is_err() {
        Metrics::inc(&metrics.events_dropped);
    }
}

/// The datagrams that were queued at one wake-up, handled together; the
/// buffers are reused from batch to batch.
struct Batch {
    buf: Vec<u8>,
    /// Replies that need no sync (OFFER, NAK).
    immediate: Vec<Reply>,
    /// ACKs: sent only once this batch's records are durable.
    after_sync: Vec<Reply>,
    /// Records to make durable before `after_sync` is sent.
    records: Vec<Record>,
    events: Vec<Event>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            buf: vec![0u8; RECV_BUFFER],
            immediate: Vec::new(),
            after_sync: Vec::new(),
            records: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Receives and handles every queued datagram (up to [`MAX_BATCH`]).
    fn receive(
        &mut self,
        socket: &UdpSocket,
        table: &InterfaceTable,
        state: &Mutex<State>,
        metrics: &Metrics,
    ) {
        let fd = socket.as_fd().as_raw_fd();
        let mut state = lock(state);
        for _ in 0..MAX_BATCH {
            // try_io clears tokio's readiness on WouldBlock, so the next
            // readable() waits for new datagrams.
            let received = match socket
                .try_io(Interest::READABLE, || socket::recv(fd, &mut self.buf))
            {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    if Metrics::fetch_inc(&metrics.receive_errors) == 0 {
                        tracing::warn!(error = %e, "receive failed (further failures are only counted)");
                    }
                    break;
                }
            };
            let Some(interface) = table.get(received.ifindex) else {
                Metrics::inc(&metrics.ignored_not_served);
                continue;
            };
            let ingress = Ingress {
                interface,
                source: received.source,
            };
            let packet = self.buf.get(..received.len).unwrap_or(&[]);
            let reply = handle(&mut state, &ingress, packet, now_ms());
            self.records.append(&mut state.records);
            self.events.append(&mut state.events);
            if let Some(mut reply) = reply {
                if let Some(record) = reply.durable.take() {
                    self.records.push(record);
                }
                // Every ACK waits for the sync of its batch, even one with no
                // record of its own: an earlier datagram may have produced
                // the record it relies on.
                match reply.kind {
                    ReplyKind::Ack => self.after_sync.push(reply),
                    ReplyKind::Offer | ReplyKind::Nak => self.immediate.push(reply),
                }
            }
        }
    }
}

/// Sets the neighbour entry a unicast to a client without an address needs,
/// or turns the reply into a broadcast when that is not possible.
fn prepare(neighbours: &mut Option<Neighbours>, reply: &mut Reply) {
    let Some(mac) = reply.neighbour.take() else {
        return;
    };
    let set = neighbours
        .as_mut()
        .map(|n| n.set(reply.ifindex, *reply.to.ip(), mac.0));
    if !matches!(set, Some(Ok(()))) {
        reply.to = std::net::SocketAddrV4::new(std::net::Ipv4Addr::BROADCAST, reply.to.port());
    }
}

fn sent(
    reply: Reply,
    result: std::io::Result<usize>,
    metrics: &Metrics,
    events: &mpsc::Sender<Event>,
) {
    match result {
        Ok(_) => {
            Metrics::inc(match reply.kind {
                ReplyKind::Offer => &metrics.sent_offer,
                ReplyKind::Ack => &metrics.sent_ack,
                ReplyKind::Nak => &metrics.sent_nak,
            });
            if let Some(event) = reply.on_sent {
                emit(events, metrics, event);
            }
        }
        Err(e) => {
            let first = Metrics::fetch_inc(&metrics.send_errors) == 0;
            if first {
                tracing::warn!(to = %reply.to, ifindex = reply.ifindex, error = %e, "cannot send a reply (further failures are only counted)");
            } else {
                tracing::debug!(to = %reply.to, ifindex = reply.ifindex, error = %e, "cannot send a reply");
            }
        }
    }
}

async fn send_async(
    socket: &UdpSocket,
    neighbours: &mut Option<Neighbours>,
    mut reply: Reply,
    metrics: &Metrics,
    events: &mpsc::Sender<Event>,
) {
    prepare(neighbours, &mut reply);
    let fd = socket.as_fd().as_raw_fd();
    let result = socket
        .async_io(Interest::WRITABLE, || {
            socket::send(fd, &reply.packet, reply.to, reply.ifindex, reply.from)
        })
        .await;
    sent(reply, result, metrics, events);
}

/// Sends from the journal thread, which has no runtime: the socket is
/// non-blocking, so a full send buffer is waited out with poll.
fn send_now(
    socket: &std::net::UdpSocket,
    neighbours: &mut Option<Neighbours>,
    mut reply: Reply,
    metrics: &Metrics,
    events: &mpsc::Sender<Event>,
) {
    prepare(neighbours, &mut reply);
    let fd = socket.as_raw_fd();
    let mut result = socket::send(fd, &reply.packet, reply.to, reply.ifindex, reply.from);
    for _ in 0..3 {
        match &result {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut fds = [nix::poll::PollFd::new(
                    socket.as_fd(),
                    nix::poll::PollFlags::POLLOUT,
                )];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16));
                result = socket::send(fd, &reply.packet, reply.to, reply.ifindex, reply.from);
            }
            _ => break,
        }
    }
    sent(reply, result, metrics, events);
}

//! The running server, on threads of its own.
//!
//! The network thread (a plain loop around one `epoll_wait`) receives datagrams,
//! handles them and sends OFFERs and NAKs at once: they promise nothing
//! durable, so they never wait for a sync. The ACKs and their journal
//! records wait [`COMMIT_DELAY`] for others, then go to the journal thread,
//! which writes the records of all of them, syncs once and only then sends
//! their ACKs (group commit). The journal's
//! start-up load and every compaction also run on these threads, never on
//! the caller's runtime, which the agent shares with netlink, eAPI and the
//! status endpoint.
//!
//! What an exchange costs at a few hundred a second is mostly wake-ups, so
//! the design counts them: the network thread sleeps in `epoll_wait` on the
//! socket's readability only (the ACKs leaving from the other thread do
//! not wake it) and hands a batch of ACKs to the journal thread at its
//! first wake-up after the commit delay (within [`COMMIT_SLACK`]), so the
//! journal thread wakes once per batch, not per REQUEST; events reach the
//! agent in batches ([`Outbox`]), not one wake-up of its runtime each.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::io::{PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
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
/// Datagrams received per system call at most.
const RECV_SLOTS: usize = socket::RECV_SLOTS_MAX;
/// How long an event may wait to be sent with others (see [`Outbox`]).
const EVENT_DELAY: Duration = Duration::from_millis(50);
/// Pending events that are sent at once, whatever their age.
const EVENT_BURST: usize = 256;

/// How long the first REQUEST of a batch waits for others to share its sync.
/// A DHCP client waits seconds for an ACK; a few milliseconds are nothing to
/// it, and the sync, not the handling, is what an ACK costs.
const COMMIT_DELAY: Duration = Duration::from_millis(8);
/// How much later than [`COMMIT_DELAY`] the batch may leave for the journal
/// thread: it goes at the first wake-up of the network thread after the
/// delay (the next datagram, usually), and only a wake-up of its own once
/// this much more has passed.
const COMMIT_SLACK: Duration = Duration::from_millis(4);

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
    events: mpsc::Sender<Vec<Event>>,
    state: Arc<Mutex<State>>,
    metrics: Arc<Metrics>,
    serving: Arc<AtomicBool>,
    socket: std::net::UdpSocket,
    lock: Flock<std::fs::File>,
    sync_gate: Arc<SyncGate>,
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
        events: mpsc::Sender<Vec<Event>>,
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
            sync_gate: Arc::default(),
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

    /// Test seam: while the returned guard lives, the journal thread stops
    /// before each sync, as a very slow disk would stop it. The ACKs of
    /// that batch wait; OFFERs and NAKs must not.
    #[doc(hidden)]
    pub fn hold_syncs(&self) -> SyncHold {
        self.sync_gate.close();
        SyncHold {
            gate: self.sync_gate.clone(),
        }
    }

    /// Loads the journal, then serves until `shutdown` completes; then every
    /// acknowledged lease is durable and the journal is compacted.
    ///
    /// The work runs on the server's own threads; this future only waits,
    /// so it may run on any runtime, a shared current-thread one included.
    /// Dropping it stops the server too, without waiting.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), DhcpError> {
        let (wake, wake_tx) = std::io::pipe().map_err(DhcpError::socket("create a pipe"))?;
        let journal_wake = wake_tx
            .try_clone()
            .map_err(DhcpError::socket("duplicate a pipe"))?;
        let control = Arc::new(Control::default());
        // Dropped on every way out of this future: the thread then stops.
        let stopper = Stopper {
            control: control.clone(),
            pipe: wake_tx,
        };
        let (done_tx, mut done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("ztps-dhcp".into())
            .spawn(move || {
                let _ = done_tx.send(self.serve(wake, journal_wake, &control));
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
        drop(stopper);
        ended(done_rx.await)
    }

    /// The server thread: the journal thread, then the network loop.
    fn serve(
        self,
        wake: PipeReader,
        journal_wake: PipeWriter,
        control: &Arc<Control>,
    ) -> Result<(), DhcpError> {
        let Server {
            config,
            table,
            events,
            state,
            metrics,
            serving,
            socket,
            lock: _lock,
            sync_gate,
        } = self;
        let outbox = Arc::new(Outbox::new(events, metrics.clone()));
        let appender = load(&config, &state, &metrics)?;
        let send_socket = socket
            .try_clone()
            .map_err(DhcpError::socket("duplicate for the journal thread"))?;
        let (jobs, journal) = Journal::start(JournalParts {
            appender,
            socket: send_socket,
            metrics: metrics.clone(),
            outbox: outbox.clone(),
            gate: sync_gate,
            wake: journal_wake,
            control: control.clone(),
        })?;
        let network = Network {
            config,
            table,
            outbox: outbox.clone(),
            state,
            metrics,
        };
        serving.store(true, Ordering::Release);
        let served = network.run(&socket, &jobs, &wake, control);
        serving.store(false, Ordering::Release);
        // Every ACK sent was durable first; leave a compact journal behind.
        if served.is_ok() {
            let records = lock(&network.state).leases.durable_records(now_ms() / 1000);
            let _ = jobs.send(Job::Compact(records));
        }
        // With its end of the job channel dropped, the journal thread
        // finishes what it was given (the final compaction last) and ends.
        drop(jobs);
        let written = journal
            .thread
            .join()
            .unwrap_or_else(|_| Err(DhcpError::Thread("the journal thread panicked".into())));
        outbox.flush();
        served.and(written)?;
        tracing::info!("DHCP server stopped; leases are durable");
        Ok(())
    }
}

/// What the threads tell each other besides jobs, each flag followed by a
/// byte on the network thread's wake pipe.
#[derive(Debug, Default)]
struct Control {
    /// The caller asked the server to stop.
    stop: AtomicBool,
    /// The journal thread ended (it only does so early on a failure).
    journal_ended: AtomicBool,
}

/// Asks the network thread to stop when dropped.
struct Stopper {
    control: Arc<Control>,
    pipe: PipeWriter,
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.control.stop.store(true, Ordering::Release);
        let _ = self.pipe.write(&[1]);
    }
}

/// Holds the journal thread before its syncs (see [`Server::hold_syncs`]).
#[derive(Debug, Default)]
struct SyncGate {
    closed: Mutex<bool>,
    opened: Condvar,
}

impl SyncGate {
    fn close(&self) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }

    fn open(&self) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.opened.notify_all();
    }

    fn wait_open(&self) {
        let mut closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        while *closed {
            closed = self
                .opened
                .wait(closed)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Releases the held syncs when dropped.
#[derive(Debug)]
#[doc(hidden)]
pub struct SyncHold {
    gate: Arc<SyncGate>,
}

impl Drop for SyncHold {
    fn drop(&mut self) {
        self.gate.open();
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
}

/// What the journal thread works with.
struct JournalParts {
    appender: Appender,
    socket: std::net::UdpSocket,
    metrics: Arc<Metrics>,
    outbox: Arc<Outbox>,
    gate: Arc<SyncGate>,
    /// Written when the thread ends, so that the network thread notices.
    wake: PipeWriter,
    control: Arc<Control>,
}

impl Journal {
    fn start(parts: JournalParts) -> Result<(std_mpsc::Sender<Job>, Journal), DhcpError> {
        let (jobs, rx) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ztps-dhcp-sync".into())
            .spawn(move || {
                let JournalParts {
                    appender,
                    socket,
                    metrics,
                    outbox,
                    gate,
                    mut wake,
                    control,
                } = parts;
                let mut writer = Writer {
                    appender,
                    socket,
                    metrics,
                    outbox,
                    gate,
                    neighbours: Neighbours::open().ok(),
                };
                let result = writer.run(&rx);
                control.journal_ended.store(true, Ordering::Release);
                let _ = wake.write(&[1]);
                result
            })
            .map_err(|e| DhcpError::Thread(format!("cannot start the journal thread: {e}")))?;
        Ok((jobs, Journal { thread }))
    }
}

/// The journal thread's side.
struct Writer {
    appender: Appender,
    socket: std::net::UdpSocket,
    metrics: Arc<Metrics>,
    outbox: Arc<Outbox>,
    gate: Arc<SyncGate>,
    neighbours: Option<Neighbours>,
}

impl Writer {
    fn run(&mut self, rx: &std_mpsc::Receiver<Job>) -> Result<(), DhcpError> {
        let mut records = Vec::new();
        let mut acks = Vec::new();
        loop {
            // Idle: wait for work, or until the pending events are due.
            let job = match self.outbox.due() {
                None => match rx.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
                Some(due) => match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                    Ok(job) => job,
                    Err(std_mpsc::RecvTimeoutError::Timeout) => {
                        self.outbox.flush_due(Instant::now());
                        continue;
                    }
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                },
            };
            let mut compaction = None;
            match job {
                Job::Compact(live) => compaction = Some(live),
                Job::Commit {
                    records: mut r,
                    acks: mut a,
                } => {
                    records.append(&mut r);
                    acks.append(&mut a);
                    // Batches that queued up during the last sync share
                    // this one.
                    while let Ok(job) = rx.try_recv() {
                        match job {
                            Job::Commit {
                                records: mut r,
                                acks: mut a,
                            } => {
                                records.append(&mut r);
                                acks.append(&mut a);
                            }
                            Job::Compact(live) => {
                                compaction = Some(live);
                                break;
                            }
                        }
                    }
                }
            }
            if !records.is_empty() {
                self.gate.wait_open();
                // A failure withholds every ACK and stops the server.
                if let Err(e) = self.appender.append_durably(&records) {
                    Metrics::inc(&self.metrics.journal_errors);
                    return Err(e);
                }
                records.clear();
            }
            let mut events = Vec::new();
            for reply in acks.drain(..) {
                if let Some(event) =
                    send_now(&self.socket, &mut self.neighbours, reply, &self.metrics)
                {
                    events.push(event);
                }
            }
            let now = Instant::now();
            self.outbox.push(events, now);
            self.outbox.flush_due(now);
            if let Some(live) = compaction {
                self.appender.compact(&live)?;
            }
        }
        self.outbox.flush();
        Ok(())
    }
}

/// The network thread's side.
struct Network {
    config: Arc<ServerConfig>,
    table: InterfaceTable,
    outbox: Arc<Outbox>,
    state: Arc<Mutex<State>>,
    metrics: Arc<Metrics>,
}

/// The network thread's epoll tokens.
const DATAGRAMS: u64 = 1;
const WOKEN: u64 = 2;

/// A poll timeout that ends at or just after `left`, never before it.
fn poll_timeout(left: Duration) -> PollTimeout {
    let ms = left.as_nanos().div_ceil(1_000_000);
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

impl Network {
    /// Receives, handles and answers until told to stop. One thread, one
    /// `epoll_wait` per wake-up: the socket (readable only, so that the
    /// ACKs the journal thread sends do not wake this one) and the wake
    /// pipe.
    fn run(
        &self,
        socket: &std::net::UdpSocket,
        jobs: &std_mpsc::Sender<Job>,
        wake: &PipeReader,
        control: &Control,
    ) -> Result<(), DhcpError> {
        let mut neighbours = Neighbours::open().ok();
        let mut batch = Batch::new();
        let mut next_housekeeping = Instant::now() + HOUSEKEEPING;
        let mut size_hint = 0u64;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| DhcpError::socket("epoll_create")(e.into()))?;
        epoll
            .add(socket, EpollEvent::new(EpollFlags::EPOLLIN, DATAGRAMS))
            .and_then(|()| epoll.add(wake, EpollEvent::new(EpollFlags::EPOLLIN, WOKEN)))
            .map_err(|e| DhcpError::socket("epoll_ctl")(e.into()))?;
        let mut ready = [EpollEvent::empty(); 2];
        // The ACKs (and records) waiting out their commit delay, and when
        // the first of them came.
        let mut commit: Option<(Instant, Vec<Record>, Vec<Reply>)> = None;
        tracing::info!(port = self.config.port, "DHCP server running");
        loop {
            let mut deadline = self
                .outbox
                .due()
                .map_or(next_housekeeping, |due| due.min(next_housekeeping));
            if let Some((since, ..)) = &commit {
                deadline = deadline.min(*since + COMMIT_DELAY + COMMIT_SLACK);
            }
            let timeout = poll_timeout(deadline.saturating_duration_since(Instant::now()));
            let n = match epoll.wait(&mut ready, timeout) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => return Err(DhcpError::socket("epoll_wait")(e.into())),
            };
            let fired = ready.get(..n).unwrap_or(&[]);
            let datagrams = fired.iter().any(|e| e.data() == DATAGRAMS);
            let woken = fired.iter().any(|e| e.data() == WOKEN);
            if woken {
                let mut bytes = [0u8; 8];
                let mut reader = wake;
                let _ = reader.read(&mut bytes);
                if control.journal_ended.load(Ordering::Acquire) {
                    // It only ends early on a failure, which join reports.
                    return Err(DhcpError::JournalStopped);
                }
                if control.stop.load(Ordering::Acquire) {
                    if let Some((_, records, acks)) = commit.take() {
                        let _ = jobs.send(Job::Commit { records, acks });
                    }
                    return Ok(());
                }
            }
            if datagrams {
                batch.receive(socket, &self.table, &self.state, &self.metrics);
                let now = Instant::now();
                self.outbox.push(batch.events.drain(..), now);
                let mut sent_events = Vec::new();
                for reply in batch.immediate.drain(..) {
                    if let Some(event) = send_now(socket, &mut neighbours, reply, &self.metrics) {
                        sent_events.push(event);
                    }
                }
                self.outbox.push(sent_events, now);
                if !batch.after_sync.is_empty() || !batch.records.is_empty() {
                    size_hint += batch
                        .records
                        .iter()
                        .map(|r| r.encoded_len() as u64)
                        .sum::<u64>();
                    let (_, records, acks) =
                        commit.get_or_insert_with(|| (now, Vec::new(), Vec::new()));
                    records.append(&mut batch.records);
                    acks.append(&mut batch.after_sync);
                }
            }
            // The commit delay is over: the batch goes to the journal
            // thread, which wakes once for it.
            if let Some((since, ..)) = &commit
                && since.elapsed() >= COMMIT_DELAY
                && let Some((_, records, acks)) = commit.take()
                && jobs.send(Job::Commit { records, acks }).is_err()
            {
                return Err(DhcpError::JournalStopped);
            }
            let now = Instant::now();
            if now >= next_housekeeping {
                next_housekeeping = now + HOUSEKEEPING;
                let secs = now_ms() / 1000;
                // The records are built only when a compaction is due:
                // a copy of every lease each time would hold up requests.
                let compaction = {
                    let mut state = lock(&self.state);
                    state.leases.sweep(secs);
                    let due = size_hint > COMPACT_MIN_BYTES;
                    let live = if due {
                        state.leases.durable_bytes(secs)
                    } else {
                        0
                    };
                    (due && size_hint > 4 * live).then(|| {
                        size_hint = live;
                        state.leases.durable_records(secs)
                    })
                };
                if let Some(records) = compaction
                    && jobs.send(Job::Compact(records)).is_err()
                {
                    return Err(DhcpError::JournalStopped);
                }
            }
            self.outbox.flush_due(now);
        }
    }
}

/// Events on their way to the agent, sent in batches. Each send to an idle
/// receiver wakes the agent's runtime, and at a few hundred exchanges a
/// second a wake-up per event would cost more than the exchange itself;
/// so an event waits up to [`EVENT_DELAY`] for others (or until
/// [`EVENT_BURST`] are pending), and they travel as one message. Both
/// threads push here, in the order things happened (an ACK's event after
/// its OFFER's), and whichever finds the oldest event due sends them all.
struct Outbox {
    pending: Mutex<Pending>,
    tx: mpsc::Sender<Vec<Event>>,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct Pending {
    events: Vec<Event>,
    /// When the oldest pending event was pushed.
    since: Option<Instant>,
}

impl Outbox {
    fn new(tx: mpsc::Sender<Vec<Event>>, metrics: Arc<Metrics>) -> Outbox {
        Outbox {
            pending: Mutex::new(Pending::default()),
            tx,
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, events: impl IntoIterator<Item = Event>, now: Instant) {
        let mut pending = self.lock();
        let before = pending.events.len();
        pending.events.extend(events);
        if pending.events.len() > before {
            pending.since.get_or_insert(now);
        }
    }

    /// When the pending events are due, if there are any.
    fn due(&self) -> Option<Instant> {
        self.lock().since.map(|since| since + EVENT_DELAY)
    }

    fn flush_due(&self, now: Instant) {
        let mut pending = self.lock();
        let due = pending
            .since
            .is_some_and(|since| now >= since + EVENT_DELAY || pending.events.len() >= EVENT_BURST);
        if due {
            self.send(&mut pending);
        }
    }

    fn flush(&self) {
        self.send(&mut self.lock());
    }

    /// Sends under the lock, so that two flushes never interleave.
    fn send(&self, pending: &mut Pending) {
        pending.since = None;
        if pending.events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut pending.events);
        let count = events.len() as u64;
        if self.tx.try_send(events).is_err() {
            Metrics::add(&self.metrics.events_dropped, count);
        }
    }
}

/// The datagrams that were queued at one wake-up, handled together; the
/// buffers are reused from batch to batch.
struct Batch {
    receiver: socket::MultiReceiver,
    /// The ingress interfaces as the table had them at `ingress_version`:
    /// no copy of an interface per datagram.
    ingress: HashMap<u32, Ingress>,
    ingress_version: u64,
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
            receiver: socket::MultiReceiver::new(RECV_SLOTS, RECV_BUFFER),
            ingress: HashMap::new(),
            ingress_version: u64::MAX,
            immediate: Vec::new(),
            after_sync: Vec::new(),
            records: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Receives and handles every queued datagram (up to [`MAX_BATCH`]).
    fn receive(
        &mut self,
        socket: &std::net::UdpSocket,
        table: &InterfaceTable,
        state: &Mutex<State>,
        metrics: &Metrics,
    ) {
        let fd = socket.as_raw_fd();
        let mut state = lock(state);
        let mut handled = 0;
        while handled < MAX_BATCH {
            let count = match self.receiver.recv(fd) {
                Ok(count) => count,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if Metrics::fetch_inc(&metrics.receive_errors) == 0 {
                        tracing::warn!(error = %e, "receive failed (further failures are only counted)");
                    }
                    break;
                }
            };
            let version = table.version();
            if version != self.ingress_version {
                self.ingress.clear();
                self.ingress_version = version;
            }
            for i in 0..count {
                let Some((received, packet)) = self.receiver.get(i) else {
                    continue;
                };
                let ingress = match self.ingress.entry(received.ifindex) {
                    Entry::Occupied(known) => known.into_mut(),
                    Entry::Vacant(new) => {
                        let Some(interface) = table.get(received.ifindex) else {
                            Metrics::inc(&metrics.ignored_not_served);
                            continue;
                        };
                        new.insert(Ingress {
                            interface,
                            source: received.source,
                        })
                    }
                };
                ingress.source = received.source;
                let reply = handle(&mut state, ingress, packet, now_ms());
                self.records.append(&mut state.records);
                self.events.append(&mut state.events);
                if let Some(mut reply) = reply {
                    if let Some(record) = reply.durable.take() {
                        self.records.push(record);
                    }
                    // Every ACK waits for the sync of its batch, even one
                    // with no record of its own: an earlier datagram may
                    // have produced the record it relies on.
                    match reply.kind {
                        ReplyKind::Ack => self.after_sync.push(reply),
                        ReplyKind::Offer | ReplyKind::Nak => self.immediate.push(reply),
                    }
                }
            }
            handled += count;
            // A short read means the queue is empty: no call to hear so.
            if count < RECV_SLOTS {
                break;
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

/// Counts a send; the event to emit once the reply left, if any.
fn sent(reply: Reply, result: std::io::Result<usize>, metrics: &Metrics) -> Option<Event> {
    match result {
        Ok(_) => {
            Metrics::inc(match reply.kind {
                ReplyKind::Offer => &metrics.sent_offer,
                ReplyKind::Ack => &metrics.sent_ack,
                ReplyKind::Nak => &metrics.sent_nak,
            });
            reply.on_sent
        }
        Err(e) => {
            let first = Metrics::fetch_inc(&metrics.send_errors) == 0;
            if first {
                tracing::warn!(to = %reply.to, ifindex = reply.ifindex, error = %e, "cannot send a reply (further failures are only counted)");
            } else {
                tracing::debug!(to = %reply.to, ifindex = reply.ifindex, error = %e, "cannot send a reply");
            }
            None
        }
    }
}

/// Sends a reply from either thread. The socket is non-blocking; a full
/// send buffer (rare: replies are small) is waited out with poll, briefly.
fn send_now(
    socket: &std::net::UdpSocket,
    neighbours: &mut Option<Neighbours>,
    mut reply: Reply,
    metrics: &Metrics,
) -> Option<Event> {
    prepare(neighbours, &mut reply);
    let fd = socket.as_raw_fd();
    let mut result = socket::send(fd, &reply.packet, reply.to, reply.ifindex, reply.from);
    for _ in 0..3 {
        match &result {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::from(100u16));
                result = socket::send(fd, &reply.packet, reply.to, reply.ifindex, reply.from);
            }
            _ => break,
        }
    }
    sent(reply, result, metrics)
}

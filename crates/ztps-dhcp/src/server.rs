//! The running server: one loop that receives a batch of datagrams, handles
//! them, makes their lease records durable with one sync and sends replies.

use std::future::Future;
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
/// Datagrams handled per wake-up at most, which bounds how long an OFFER
/// waits behind the rest of its batch.
const MAX_BATCH: usize = 64;

/// How long the first REQUEST of a batch waits for others to share its sync.
/// A DHCP client waits seconds for an ACK; a millisecond is nothing to it.
const COMMIT_DELAY: Duration = Duration::from_millis(10);

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
    ///
    /// The journal sync runs on the thread that runs this future: on a
    /// multi-thread runtime inside `block_in_place` (other tasks move to
    /// other workers), on a current-thread runtime inline, which stalls that
    /// runtime for one fdatasync per batch (about 1-3 ms on disk), so give
    /// the server a runtime of its own there. Handing the sync to another
    /// thread cost more CPU than the sync itself: two cross-thread wake-ups
    /// per ACK.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), DhcpError> {
        let Server {
            config,
            table,
            events,
            state,
            metrics,
            socket,
            mut appender,
        } = self;
        let socket =
            UdpSocket::from_std(socket).map_err(DhcpError::socket("register with tokio"))?;
        let mut batch = Batch::new(socket::fd(&socket));
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
                ready = socket.readable() => {
                    if let Err(e) = ready {
                        tracing::warn!(error = %e, "socket readiness failed");
                        continue;
                    }
                    batch.receive(&socket, &table, &state, &metrics);
                    batch.emit_events(&emit);
                    // OFFERs and NAKs promise nothing durable: out before the sync.
                    for reply in batch.immediate.drain(..) {
                        send_reply(&socket, batch.fd, reply, &metrics, &emit).await;
                    }
                    // Commit delay: the sync, not the handling, is what an ACK
                    // costs, so REQUESTs arriving shortly after the first one
                    // share its sync instead of paying their own.
                    if !batch.records.is_empty() {
                        let deadline = tokio::time::Instant::now() + COMMIT_DELAY;
                        while batch.records.len() < MAX_BATCH {
                            match tokio::time::timeout_at(deadline, socket.readable()).await {
                                Ok(Ok(())) => {
                                    batch.receive(&socket, &table, &state, &metrics);
                                    batch.emit_events(&emit);
                                    for reply in batch.immediate.drain(..) {
                                        send_reply(&socket, batch.fd, reply, &metrics, &emit).await;
                                    }
                                }
                                Ok(Err(_)) | Err(_) => break,
                            }
                        }
                    }
                    // One write and one fdatasync for the whole batch (group
                    // commit); a failure withholds every ACK and stops the server.
                    if !batch.records.is_empty() {
                        let records = &batch.records;
                        blocking(|| appender.append_durably(records))?;
                        batch.records.clear();
                    }
                    for reply in batch.after_sync.drain(..) {
                        send_reply(&socket, batch.fd, reply, &metrics, &emit).await;
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
                    let size = appender.size();
                    if size > COMPACT_MIN_BYTES && size > 4 * live {
                        blocking(|| appender.compact(&records))?;
                    }
                }
            }
        }
        // Every batch was made durable before its ACKs left; leave a compact
        // journal behind.
        let records = lock(&state).leases.durable_records(now_ms() / 1000);
        blocking(|| appender.compact(&records))?;
        tracing::info!("DHCP server stopped; leases are durable");
        Ok(())
    }
}

/// Runs blocking journal I/O without starving other tasks where tokio can
/// avoid it (see [`Server::run`]).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The datagrams that were queued at one wake-up, handled together; the
/// buffers are reused from batch to batch.
struct Batch {
    fd: i32,
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
    fn new(fd: i32) -> Batch {
        Batch {
            fd,
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
        let fd = self.fd;
        let mut state = lock(state);
        for _ in 0..MAX_BATCH {
            // try_io clears tokio's readiness on WouldBlock, so the next
            // readable() waits for new datagrams.
            let received =
                match socket.try_io(Interest::READABLE, || socket::recv(fd, &mut self.buf)) {
                    Ok(r) => r,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "receive failed");
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
                // Every ACK waits for the batch's sync, even one with no
                // record of its own: an earlier datagram of the same batch
                // may have produced the record it relies on.
                match reply.kind {
                    ReplyKind::Ack => self.after_sync.push(reply),
                    ReplyKind::Offer | ReplyKind::Nak => self.immediate.push(reply),
                }
            }
        }
    }

    fn emit_events(&mut self, emit: &impl Fn(Event)) {
        self.events.drain(..).for_each(emit);
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

#[cfg(test)]
mod tests {
    use super::blocking;

    /// The journal sync must work on every runtime the agent may use: in a
    /// task or in `block_on`, multi-thread or current-thread.
    #[test]
    fn blocking_io_runs_on_every_runtime_flavor() {
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        assert_eq!(multi.block_on(async { blocking(|| 1) }), 1);
        let task = multi.spawn(async { blocking(|| 2) });
        assert_eq!(multi.block_on(task).unwrap(), 2);
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(current.block_on(async { blocking(|| 3) }), 3);
        assert_eq!(blocking(|| 4), 4, "outside any runtime");
    }
}

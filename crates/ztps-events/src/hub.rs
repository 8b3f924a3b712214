//! The hub: takes events from anywhere in the agent without blocking,
//! folds repeats, fans records out to the sinks from one tokio task, and
//! keeps the most recent ones for the status page.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Clock, Deduper, Event, Record, Sink};

#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Repeats of the same event within this window fold into one count.
    pub dedup_window: Duration,
    /// Records kept for `recent()`.
    pub recent_capacity: usize,
    /// Events waiting for the hub task; beyond this `emit` drops (and counts).
    pub queue_capacity: usize,
    /// How often folds of expired windows are emitted.
    pub tick: Duration,
    /// How often sinks flush their buffers (the JSON log on flash).
    pub flush_interval: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            dedup_window: Duration::from_secs(60),
            recent_capacity: 256,
            queue_capacity: 1024,
            tick: Duration::from_secs(1),
            flush_interval: Duration::from_secs(30),
        }
    }
}

#[derive(Debug)]
enum Command {
    Emit(Event, Timestamp),
    Shutdown,
}

/// What every handle shares.
#[derive(Debug)]
struct Shared {
    recent: Mutex<VecDeque<Record>>,
    recent_capacity: usize,
    dropped: AtomicU64,
    clock: Arc<dyn Clock>,
}

/// The cheap, cloneable side of the hub that the agent's tasks hold.
#[derive(Debug, Clone)]
pub struct HubHandle {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl HubHandle {
    /// Queues an event, stamped now. Never waits: when the hub is behind
    /// the event is dropped and counted.
    pub fn emit(&self, event: Event) {
        let now = self.shared.clock.now();
        if self.tx.try_send(Command::Emit(event, now)).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The last `n` records delivered, oldest first.
    pub fn recent(&self, n: usize) -> Vec<Record> {
        let recent = lock(&self.shared.recent);
        let skip = recent.len().saturating_sub(n);
        recent.iter().skip(skip).cloned().collect()
    }

    /// Events dropped because the hub's queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// Owner of the hub task.
#[derive(Debug)]
pub struct Hub {
    handle: HubHandle,
    task: JoinHandle<Vec<Box<dyn Sink>>>,
}

impl Hub {
    /// Starts the hub task on the current tokio runtime.
    pub fn spawn(config: HubConfig, sinks: Vec<Box<dyn Sink>>, clock: Arc<dyn Clock>) -> Self {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            recent: Mutex::new(VecDeque::with_capacity(config.recent_capacity)),
            recent_capacity: config.recent_capacity.max(1),
            dropped: AtomicU64::new(0),
            clock,
        });
        let worker = Worker {
            dedup: Deduper::new(config.dedup_window),
            failing: vec![false; sinks.len()],
            sinks,
            shared: shared.clone(),
        };
        let task = tokio::spawn(worker.run(rx, config));
        Self {
            handle: HubHandle { tx, shared },
            task,
        }
    }

    pub fn handle(&self) -> HubHandle {
        self.handle.clone()
    }

    /// Delivers what is queued, emits pending folds, flushes every sink
    /// and stops. Returns the sinks (tests inspect them).
    pub async fn shutdown(self) -> Vec<Box<dyn Sink>> {
        // A full queue still drains: the task reads until it sees Shutdown.
        if self.handle.tx.send(Command::Shutdown).await.is_err() {
            tracing::debug!("event hub task already gone");
        }
        self.task.await.unwrap_or_default()
    }
}

struct Worker {
    dedup: Deduper,
    sinks: Vec<Box<dyn Sink>>,
    failing: Vec<bool>,
    shared: Arc<Shared>,
}

impl Worker {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        config: HubConfig,
    ) -> Vec<Box<dyn Sink>> {
        let mut tick = tokio::time::interval(config.tick.max(Duration::from_millis(10)));
        let mut flush = tokio::time::interval(config.flush_interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = rx.recv() => match command {
                    Some(Command::Emit(event, time)) => {
                        let records = self.dedup.observe(event, time);
                        self.publish(records);
                    }
                    Some(Command::Shutdown) | None => break,
                },
                // No open window, nothing to expire: no wake-up every
                // second on an idle agent.
                _ = tick.tick(), if self.dedup.has_open_windows() => {
                    let now = self.shared.clock.now();
                    let folds = self.dedup.expire(now);
                    self.publish(folds);
                }
                _ = flush.tick() => self.flush(),
            }
        }
        let folds = self.dedup.drain();
        self.publish(folds);
        self.flush();
        self.sinks
    }

    fn publish(&mut self, records: Vec<Record>) {
        for record in records {
            tracing::debug!(kind = record.event.kind(), message = %record.message, "event");
            for (index, sink) in self.sinks.iter_mut().enumerate() {
                let result = sink.deliver(&record);
                note_outcome(&mut self.failing[index], sink.name(), result);
            }
            let mut recent = lock(&self.shared.recent);
            if recent.len() >= self.shared.recent_capacity {
                recent.pop_front();
            }
            recent.push_back(record);
        }
    }

    fn flush(&mut self) {
        for (index, sink) in self.sinks.iter_mut().enumerate() {
            let result = sink.flush();
            note_outcome(&mut self.failing[index], sink.name(), result);
        }
    }
}

/// Logs a sink's failure when it starts failing and when it recovers,
/// not on every record.
fn note_outcome(failing: &mut bool, sink: &str, result: Result<(), crate::EventsError>) {
    match result {
        Err(error) if !*failing => {
            tracing::warn!(sink, error = %error, "event sink failing");
            *failing = true;
        }
        Ok(()) if *failing => {
            tracing::info!(sink, "event sink working again");
            *failing = false;
        }
        _ => {}
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

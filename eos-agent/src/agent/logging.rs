//! Logging: tracing to stderr (ProcMgr keeps it in the agent's log) and to
//! syslog with tag `ZTPS`, facility local0 (what `show logging` shows),
//! both filtered by `RUST_LOG` (default `info`): a level, or directives
//! such as `info,ztps_dhcp=debug`. (A target filter rather than
//! `EnvFilter`: the same syntax less span and field matching, and no regex
//! engine in a binary that must stay small.)

use std::io::{IsTerminal as _, Write};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

const FACILITY_LOCAL0: u8 = 16;
const TAG: &str = "ZTPS";
/// Syslog daemons drop or split longer datagrams.
const MAX_DATAGRAM: usize = 2048;
/// Log lines waiting for the syslog writer thread; beyond this they are
/// dropped (and counted): a stalled syslogd costs lines, never the agent.
const QUEUE_LINES: usize = 1024;
/// A send that takes longer than this gives the line up and reconnects.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Lines of the log writer dropped since start (queue full or send failed).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Log lines that did not reach syslog (for `/metrics`).
pub fn syslog_lines_dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Installs the global subscriber. `syslog_socket` is `/dev/log` on EOS;
/// `None` logs to stderr only.
pub fn init(syslog_socket: Option<PathBuf>) {
    let (filter, bad) = filter(std::env::var("RUST_LOG").ok().as_deref());
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(filter.clone());
    let syslog = syslog_socket.map(|path| {
        tracing_subscriber::fmt::layer()
            .with_writer(Syslog::new(path))
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_level(false)
            // Events reach syslog through their own sink, with their own severity.
            .with_filter(filter.with_target(super::events::LOG_TARGET, LevelFilter::OFF))
    });
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(syslog)
        .try_init();
    if let Some(bad) = bad {
        tracing::warn!(rust_log = %bad, "RUST_LOG is not a list of [target=]level directives; logging at info");
    }
}

/// The filter `RUST_LOG` asks for (default `info`), and the value when it
/// cannot be read.
fn filter(rust_log: Option<&str>) -> (Targets, Option<String>) {
    let default = || Targets::new().with_default(LevelFilter::INFO);
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => (default(), None),
        Some(text) => match text.parse::<Targets>() {
            Ok(targets) => (targets, None),
            Err(_) => (default(), Some(text.to_string())),
        },
    }
}

/// RFC 5424 severity of a tracing level.
fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// The datagram for one formatted log line (RFC 3164, as glibc sends).
pub fn datagram(level: &Level, line: &str, pid: u32, timestamp: &str) -> Vec<u8> {
    let priority = FACILITY_LOCAL0 * 8 + severity(level);
    let mut text = format!("<{priority}>{timestamp} {TAG}[{pid}]: {}", line.trim_end());
    if text.len() > MAX_DATAGRAM {
        let mut cut = MAX_DATAGRAM;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text.into_bytes()
}

/// Hands each log line to a writer thread through a bounded queue; the
/// thread sends it as one datagram to the syslog socket, connecting lazily
/// and again after the daemon restarts. Logging never waits: a full queue
/// (syslogd stalled or gone) drops the line and counts it; stderr still
/// has every line.
#[derive(Debug, Clone)]
struct Syslog {
    queue: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
}

impl Syslog {
    fn new(path: PathBuf) -> Self {
        Self::with_capacity(path, QUEUE_LINES)
    }

    fn with_capacity(path: PathBuf, capacity: usize) -> Self {
        let (queue, lines) = sync_channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        // Without the thread the receiver is gone and every line counts
        // as dropped, which `/metrics` shows.
        let _ = std::thread::Builder::new()
            .name("ztps-syslog".into())
            .spawn(move || write_lines(&path, &lines, &counter));
        Syslog { queue, dropped }
    }

    fn send(&self, bytes: Vec<u8>) {
        match self.queue.try_send(bytes) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.drop_one(),
        }
    }

    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The writer thread: blocking sends with a timeout, off the runtime.
fn write_lines(path: &std::path::Path, lines: &Receiver<Vec<u8>>, dropped: &AtomicU64) {
    let mut socket: Option<UnixDatagram> = None;
    let count = || {
        dropped.fetch_add(1, Ordering::Relaxed);
        DROPPED.fetch_add(1, Ordering::Relaxed);
    };
    while let Ok(line) = lines.recv() {
        let mut sent = false;
        for _ in 0..2 {
            if socket.is_none() {
                socket = UnixDatagram::unbound()
                    .and_then(|s| {
                        s.set_write_timeout(Some(SEND_TIMEOUT))?;
                        s.connect(path).map(|()| s)
                    })
                    .ok();
            }
            match socket.as_ref().map(|s| s.send(&line)) {
                Some(Ok(_)) => {
                    sent = true;
                    break;
                }
                // Stalled: give this line up, keep the socket.
                Some(Err(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                // The daemon restarted (ECONNREFUSED/ENOTCONN): reconnect once.
                Some(Err(_)) => socket = None,
                None => break,
            }
        }
        if !sent {
            count();
        }
    }
}

/// One event's text, sent when the formatter is done with it.
struct Line {
    syslog: Syslog,
    level: Level,
    buffer: Vec<u8>,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let timestamp = jiff::Zoned::now().strftime("%b %e %H:%M:%S").to_string();
        let text = String::from_utf8_lossy(&self.buffer);
        self.syslog
            .send(datagram(&self.level, &text, std::process::id(), &timestamp));
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            syslog: self.clone(),
            level: Level::INFO,
            buffer: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        Line {
            syslog: self.clone(),
            level: *meta.level(),
            buffer: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_levels_and_directives() {
        use tracing::Level;
        let (f, bad) = filter(None);
        assert!(
            f.would_enable("ztps_dhcp::server", &Level::INFO)
                && !f.would_enable("x", &Level::DEBUG)
        );
        assert!(bad.is_none());
        let (f, _) = filter(Some("warn,ztps_dhcp=debug"));
        assert!(f.would_enable("ztps_dhcp::server", &Level::DEBUG));
        assert!(!f.would_enable("ztps_eapi", &Level::INFO));
        let (f, _) = filter(Some("debug"));
        assert!(f.would_enable("anything", &Level::DEBUG));
        let (f, bad) = filter(Some("ztps=loud"));
        assert_eq!(bad.as_deref(), Some("ztps=loud"));
        assert!(f.would_enable("x", &Level::INFO));
    }

    #[test]
    fn datagrams_carry_local0_severity_tag_and_pid() {
        let d = datagram(
            &Level::WARN,
            "eAPI unreachable reason=x\n",
            42,
            "Nov  3 05:01:02",
        );
        assert_eq!(
            String::from_utf8(d).unwrap(),
            "<132>Nov  3 05:01:02 ZTPS[42]: eAPI unreachable reason=x"
        );
        let d = datagram(&Level::ERROR, &"é".repeat(3000), 1, "t");
        assert!(d.len() <= MAX_DATAGRAM);
        assert!(
            String::from_utf8(d)
                .unwrap()
                .starts_with("<131>t ZTPS[1]: ")
        );
    }

    #[test]
    fn lines_reach_a_syslog_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let syslog = Syslog::new(path);
        {
            let mut line = Line {
                syslog: syslog.clone(),
                level: Level::INFO,
                buffer: Vec::new(),
            };
            line.write_all(b"bridge adjusted\n").unwrap();
        }
        let mut buf = [0u8; 512];
        server
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let n = server.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("<134>"), "{text}");
        assert!(
            text.ends_with(&format!("ZTPS[{}]: bridge adjusted", std::process::id())),
            "{text}"
        );
    }

    #[test]
    fn a_stalled_syslogd_costs_lines_not_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        // Bound and never read: the kernel queue fills, then sends block.
        let server = UnixDatagram::bind(&path).unwrap();
        let syslog = Syslog::with_capacity(path, 8);
        let lines = 5_000u64;
        for i in 0..lines {
            let mut line = Line {
                syslog: syslog.clone(),
                level: Level::WARN,
                buffer: Vec::new(),
            };
            write!(line, "line {i}").unwrap();
        }
        // The loop above returned although nobody reads the socket: the
        // lines that did not fit were dropped and counted.
        assert!(syslog.dropped() > 0, "nothing dropped of {lines}");
        // The daemon wakes up: every line is either delivered or counted.
        server
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut buf = [0u8; 512];
        let mut received = Vec::new();
        while received.len() as u64 + syslog.dropped() < lines {
            let n = server.recv(&mut buf).expect("the remaining lines arrive");
            received.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(received.len() as u64 + syslog.dropped(), lines);
        assert!(
            received.iter().all(|l| l.starts_with("<132>")),
            "{received:?}"
        );
    }
}

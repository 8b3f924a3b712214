//! Logging: tracing to stderr (ProcMgr keeps it in the agent's log) and to
//! syslog with tag `ZTPS`, facility local0 (what `show logging` shows),
//! both filtered by `RUST_LOG` (default `info`): a level, or directives
//! such as `info,ztps_dhcp=debug`. (A target filter rather than
//! `EnvFilter`: the same syntax less span and field matching, and no regex
//! engine in a binary that must stay small.)

use std::io::{IsTerminal as _, Write};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

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

/// Sends each log line as one datagram to the syslog socket, connecting
/// lazily and again after the daemon restarts; lines are dropped while
/// there is no daemon (stderr still has them).
#[derive(Debug, Clone)]
struct Syslog {
    path: PathBuf,
    socket: Arc<Mutex<Option<UnixDatagram>>>,
}

impl Syslog {
    fn new(path: PathBuf) -> Self {
        Syslog {
            path,
            socket: Arc::default(),
        }
    }

    fn send(&self, bytes: &[u8]) {
        let mut socket = self.socket.lock().unwrap_or_else(PoisonError::into_inner);
        for _ in 0..2 {
            if socket.is_none() {
                *socket = UnixDatagram::unbound()
                    .and_then(|s| s.connect(&self.path).map(|()| s))
                    .ok();
            }
            match socket.as_ref().map(|s| s.send(bytes)) {
                Some(Ok(_)) => return,
                Some(Err(_)) => *socket = None,
                None => return,
            }
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
        self.syslog.send(&datagram(
            &self.level,
            &text,
            std::process::id(),
            &timestamp,
        ));
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
        let n = server.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("<134>"), "{text}");
        assert!(
            text.ends_with(&format!("ZTPS[{}]: bridge adjusted", std::process::id())),
            "{text}"
        );
    }
}

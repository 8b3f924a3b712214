//! Syslog datagrams to the local daemon (`/dev/log`), facility local0,
//! tag `ZTPS`, which is where EOS operators look (`show logging`).

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use jiff::tz::TimeZone;

use super::Sink;
use crate::{EventsError, Record};

pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";
const FACILITY_LOCAL0: u8 = 16;
const TAG: &str = "ZTPS";
/// Longer messages are cut; syslog daemons drop or split oversized datagrams.
const MAX_MESSAGE_BYTES: usize = 1024;

/// Wire format of the datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyslogFormat {
    /// `<PRI>Mmm dd hh:mm:ss TAG[pid]: msg`, what glibc's syslog(3) sends
    /// to /dev/log and every local daemon accepts.
    #[default]
    Rfc3164,
    /// `<PRI>1 TIMESTAMP HOST TAG PID MSGID - msg`, with the event kind as MSGID.
    Rfc5424,
}

#[derive(Debug)]
pub struct SyslogSink {
    path: PathBuf,
    socket: Option<UnixDatagram>,
    format: SyslogFormat,
    time_zone: TimeZone,
    hostname: String,
    pid: u32,
}

impl SyslogSink {
    /// A sink sending to the unix datagram socket at `path`. It connects
    /// on first use, and again after the daemon restarts.
    pub fn new(path: impl Into<PathBuf>, format: SyslogFormat) -> Self {
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .filter(|h| !h.is_empty() && !h.contains(' '))
            .unwrap_or_else(|| "-".into());
        Self {
            path: path.into(),
            socket: None,
            format,
            time_zone: TimeZone::system(),
            hostname,
            pid: std::process::id(),
        }
    }

    /// RFC 3164 timestamps are local time; this chooses whose.
    pub fn with_time_zone(mut self, time_zone: TimeZone) -> Self {
        self.time_zone = time_zone;
        self
    }

    /// `<PRI>` value: facility local0 (16) * 8 + severity.
    pub fn priority(record: &Record) -> u8 {
        FACILITY_LOCAL0 * 8 + record.severity.code()
    }

    /// The datagram for `record`.
    pub fn format(&self, record: &Record) -> String {
        let pri = Self::priority(record);
        let msg = sanitize(&record.message);
        match self.format {
            SyslogFormat::Rfc3164 => {
                let local = record.time.to_zoned(self.time_zone.clone());
                let stamp = local.strftime("%b %e %H:%M:%S");
                format!("<{pri}>{stamp} {TAG}[{}]: {msg}", self.pid)
            }
            SyslogFormat::Rfc5424 => format!(
                "<{pri}>1 {} {} {TAG} {} {} - {msg}",
                record.time,
                self.hostname,
                self.pid,
                record.event.kind()
            ),
        }
    }

    fn connect(&mut self) -> Result<&UnixDatagram, EventsError> {
        if self.socket.is_none() {
            let err = |action| {
                let path = self.path.clone();
                move |source| EventsError::Syslog {
                    path,
                    action,
                    source,
                }
            };
            let socket = UnixDatagram::unbound().map_err(err("creating a socket"))?;
            socket.connect(&self.path).map_err(err("connecting"))?;
            // A stalled daemon must cost us a dropped line, never a stalled agent.
            socket
                .set_nonblocking(true)
                .map_err(err("setting non-blocking"))?;
            self.socket = Some(socket);
        }
        self.socket.as_ref().ok_or_else(|| EventsError::Syslog {
            path: self.path.clone(),
            action: "connecting",
            source: std::io::ErrorKind::NotConnected.into(),
        })
    }
}

impl Sink for SyslogSink {
    fn name(&self) -> &'static str {
        "syslog"
    }

    fn deliver(&mut self, record: &Record) -> Result<(), EventsError> {
        let line = self.format(record);
        let first = self.connect()?.send(line.as_bytes());
        let result = match first {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(e),
            // The daemon restarted (ECONNREFUSED/ENOTCONN): reconnect once.
            Err(_) => {
                self.socket = None;
                self.connect()?.send(line.as_bytes()).map(|_| ())
            }
        };
        result.map_err(|source| EventsError::Syslog {
            path: self.path.clone(),
            action: "sending (message dropped)",
            source,
        })
    }
}

/// One line, no control characters, bounded length.
fn sanitize(message: &str) -> String {
    let mut out: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_makes_one_bounded_line() {
        assert_eq!(sanitize("a\nb\tc"), "a b c");
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let cut = sanitize(&long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES && cut.len() >= MAX_MESSAGE_BYTES - 1);
    }
}

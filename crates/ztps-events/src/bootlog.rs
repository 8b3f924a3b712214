//! The syslog lines ZTPServer's bootstrap sends from a leaf, and the
//! milestones the timeline keys on.
//!
//! The bootstrap (ZTPServer 2.1.0, `client/bootstrap`) logs through
//! Python's `SysLogHandler` with the formatter `ZTPS - %(levelname)s:
//! %(message)s`, and prefixes each message with the leaf's serial once it
//! knows it. A datagram is therefore
//! `<PRI>ZTPS - LEVEL: SERIAL: message` (and a NUL, Python's default):
//! no timestamp, no hostname. The receiver stamps it on arrival.
//!
//! Anything else on the port (a stray RFC 3164 sender, garbage) is refused
//! with a reason; nothing here panics, and what is kept is bounded and
//! printable, since it ends up in logs, events and a webhook.

use serde::{Deserialize, Serialize};

use crate::EventsError;

/// Datagrams longer than this are refused (the bootstrap's lines are
/// short; a traceback line is a few hundred bytes).
pub const MAX_DATAGRAM: usize = 4096;
/// The message is cut to this many characters.
pub const MAX_MESSAGE_CHARS: usize = 512;
/// A serial longer than this is not one (EOS serials are 11–12 characters).
const MAX_SERIAL: usize = 64;
const TAG: &str = "ZTPS - ";

/// One bootstrap log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapLine {
    /// The syslog severity from PRI (0–7).
    pub severity: u8,
    /// Python's level name (`INFO`, `ERROR`, ...).
    pub level: String,
    /// The leaf's serial, when the bootstrap already knew it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The message, printable, at most [`MAX_MESSAGE_CHARS`] characters.
    pub message: String,
}

/// What a line means for the leaf's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Milestone {
    /// "Collecting node information": the bootstrap runs and reaches us.
    Collecting,
    /// "Server response to POST nodes: status=N, ...".
    PostNodes { status: u16 },
    /// "Applying definition NAME".
    ApplyingDefinition { name: String },
    /// "Definition NAME applied successfully".
    DefinitionApplied { name: String },
    /// "ZTP bootstrap completed successfully!": EOS reboots next.
    Completed,
    /// "Bootstrap process failed...: REASON".
    Failed { reason: String },
    /// Any other line: still proof the bootstrap runs.
    Other,
}

fn refuse(reason: &'static str) -> EventsError {
    EventsError::BootstrapLog { reason }
}

/// Parses one datagram.
pub fn parse(datagram: &[u8]) -> Result<BootstrapLine, EventsError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(refuse("longer than a bootstrap line can be"));
    }
    let rest = datagram
        .strip_prefix(b"<")
        .ok_or(refuse("no <PRI> at the start"))?;
    let close = rest
        .iter()
        .take(4)
        .position(|&b| b == b'>')
        .ok_or(refuse("PRI is not closed by '>' within 3 digits"))?;
    let digits = &rest[..close];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(refuse("PRI is not a number"));
    }
    let pri: u16 = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    if pri > 191 {
        return Err(refuse("PRI is above 191"));
    }
    let text = String::from_utf8_lossy(&rest[close + 1..]);
    let text = text.trim_end_matches(['\0', '\n', '\r']);
    let body = text
        .strip_prefix(TAG)
        .ok_or(refuse("not tagged 'ZTPS - ' (not ZTPServer's bootstrap)"))?;
    let (level, body) = body
        .split_once(": ")
        .ok_or(refuse("no 'LEVEL: ' after the tag"))?;
    if level.is_empty() || level.len() > 16 || !level.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(refuse("the level is not a logging level name"));
    }
    // The serial is one token before ": "; a message's own "x: y" has
    // spaces before its colon ("Server response to POST nodes: ...").
    let (serial, message) = match body.split_once(": ") {
        Some((s, m)) if is_serial(s) => (Some(s.to_string()), m),
        _ => (None, body),
    };
    Ok(BootstrapLine {
        severity: (pri & 7) as u8,
        level: level.to_string(),
        serial,
        message: printable(message),
    })
}

fn is_serial(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SERIAL
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Control characters become spaces (a line must not forge another line
/// in a log), and the length is capped.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    out.truncate(out.trim_end().len());
    out
}

impl BootstrapLine {
    /// The milestone the line marks, by the bootstrap's own words.
    pub fn milestone(&self) -> Milestone {
        let m = self.message.as_str();
        if m == "Collecting node information" {
            Milestone::Collecting
        } else if let Some(rest) = m.strip_prefix("Server response to POST nodes: status=") {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            match digits.parse() {
                Ok(status) => Milestone::PostNodes { status },
                Err(_) => Milestone::Other,
            }
        } else if let Some(name) = m
            .strip_prefix("Definition ")
            .and_then(|r| r.strip_suffix(" applied successfully"))
        {
            Milestone::DefinitionApplied { name: name.into() }
        } else if let Some(name) = m.strip_prefix("Applying definition ") {
            Milestone::ApplyingDefinition { name: name.into() }
        } else if m == "ZTP bootstrap completed successfully!" {
            Milestone::Completed
        } else if m.starts_with("Bootstrap process failed")
            || m == "Bootstrap process keyboard-interrupted"
        {
            let reason = m.split_once(": ").map_or(m, |(_, r)| r);
            Milestone::Failed {
                reason: reason.into(),
            }
        } else {
            Milestone::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstraps_own_lines_parse() {
        // As Python's SysLogHandler sends them: user facility, NUL-ended.
        let line = parse(b"<14>ZTPS - INFO: LAB00000001: Collecting node information\0").unwrap();
        assert_eq!(
            line,
            BootstrapLine {
                severity: 6,
                level: "INFO".into(),
                serial: Some("LAB00000001".into()),
                message: "Collecting node information".into(),
            }
        );
        assert_eq!(line.milestone(), Milestone::Collecting);
        let post = parse(
            b"<14>ZTPS - INFO: JPE1: Server response to POST nodes: status=400, location=None",
        )
        .unwrap();
        assert_eq!(post.milestone(), Milestone::PostNodes { status: 400 });
        let failed = parse(
            b"<11>ZTPS - ERROR: JPE1: Bootstrap process failed: node not found on server (status=400)\0",
        )
        .unwrap();
        assert_eq!(failed.severity, 3);
        assert_eq!(
            failed.milestone(),
            Milestone::Failed {
                reason: "node not found on server (status=400)".into()
            }
        );
        let applied =
            parse(b"<14>ZTPS - INFO: JPE1: Definition leaf1 applied successfully").unwrap();
        assert_eq!(
            applied.milestone(),
            Milestone::DefinitionApplied {
                name: "leaf1".into()
            }
        );
        let applying = parse(b"<14>ZTPS - INFO: JPE1: Applying definition leaf1").unwrap();
        assert_eq!(
            applying.milestone(),
            Milestone::ApplyingDefinition {
                name: "leaf1".into()
            }
        );
        let done = parse(b"<14>ZTPS - INFO: JPE1: ZTP bootstrap completed successfully!").unwrap();
        assert_eq!(done.milestone(), Milestone::Completed);
    }

    #[test]
    fn a_line_before_the_serial_is_known_has_none() {
        let line = parse(b"<14>ZTPS - INFO: Server response to POST nodes: status=201").unwrap();
        assert_eq!(line.serial, None);
        assert_eq!(line.milestone(), Milestone::PostNodes { status: 201 });
    }

    #[test]
    fn other_traffic_is_refused_with_a_reason() {
        for bad in [
            &b""[..],
            b"hello",
            b"<>ZTPS - INFO: x",
            b"<9999>ZTPS - INFO: x",
            b"<192>ZTPS - INFO: x",
            b"<14>Dec  1 01:00:00 host sshd[1]: x",
            b"<14>ZTPS - info: x",
            b"<14>ZTPS - INFO",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(matches!(e, EventsError::BootstrapLog { .. }), "{bad:?}");
        }
        assert!(parse(&vec![b'a'; MAX_DATAGRAM + 1]).is_err());
    }

    #[test]
    fn messages_are_printable_and_bounded() {
        let mut datagram = b"<14>ZTPS - INFO: S1: a\nforged line\x1b[31m".to_vec();
        datagram.extend(std::iter::repeat_n(b'x', 2000));
        let line = parse(&datagram).unwrap();
        assert!(!line.message.chars().any(char::is_control));
        assert_eq!(line.message.chars().count(), MAX_MESSAGE_CHARS);
        let bytes = parse(b"<14>ZTPS - INFO: S1: \xff\xfe ok").unwrap();
        assert!(bytes.message.ends_with("ok"));
    }
}

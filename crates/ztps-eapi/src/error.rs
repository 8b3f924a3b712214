//! The one error type of this crate.

use std::path::PathBuf;
use std::time::Duration;

/// A JSON-RPC error code as EOS uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1000: the command is valid but could not run (e.g. "BGP inactive").
    CouldNotRun,
    /// 1002: invalid command (unknown, or a config command outside `configure`).
    InvalidCommand,
    /// 1003: the command has no JSON output; ask for `format: text`.
    NoJsonOutput,
    /// 1005: the user may not run the command.
    Unauthorized,
    /// -32600..-32699 and other JSON-RPC protocol errors (e.g. -32600 invalid request).
    Protocol(i64),
    /// Any other code EOS may send.
    Other(i64),
}

impl ErrorCode {
    pub fn from_code(code: i64) -> Self {
        match code {
            1000 => Self::CouldNotRun,
            1002 => Self::InvalidCommand,
            1003 => Self::NoJsonOutput,
            1005 => Self::Unauthorized,
            -32768..=-32000 => Self::Protocol(code),
            other => Self::Other(other),
        }
    }

    pub fn code(self) -> i64 {
        match self {
            Self::CouldNotRun => 1000,
            Self::InvalidCommand => 1002,
            Self::NoJsonOutput => 1003,
            Self::Unauthorized => 1005,
            Self::Protocol(c) | Self::Other(c) => c,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self {
            Self::CouldNotRun => "could not run command",
            Self::InvalidCommand => "invalid command",
            Self::NoJsonOutput => "no JSON output for this command",
            Self::Unauthorized => "unauthorized",
            Self::Protocol(_) => "JSON-RPC protocol error",
            Self::Other(_) => "error",
        };
        write!(f, "{} ({what})", self.code())
    }
}

/// Everything that can go wrong talking to eAPI.
#[derive(Debug, thiserror::Error)]
pub enum EapiError {
    /// EOS answered with a JSON-RPC error for one of the commands.
    #[error("eAPI command {command:?} failed with code {code}: {message}{}", fmt_details(.details))]
    Command {
        code: ErrorCode,
        /// The command that failed (the first that did: EOS stops there),
        /// or the whole batch when EOS did not say which.
        command: String,
        message: String,
        /// The `errors` strings EOS gave for the failing command.
        details: Vec<String>,
        /// Results of the commands that ran before the failing one.
        partial_results: Vec<serde_json::Value>,
    },
    /// HTTP 401: the credentials were refused.
    #[error("eAPI at {endpoint} refused the credentials (HTTP 401)")]
    Unauthorized { endpoint: String },
    /// The HTTP layer answered something other than success.
    #[error("eAPI at {endpoint} answered HTTP {status}")]
    HttpStatus { endpoint: String, status: u16 },
    #[error("eAPI request {commands:?} to {endpoint} timed out after {after:?}")]
    Timeout {
        endpoint: String,
        commands: Vec<String>,
        after: Duration,
    },
    /// Could not connect, connection dropped, TLS failed...
    #[error("eAPI transport to {endpoint} failed: {reason}")]
    Transport { endpoint: String, reason: String },
    /// The reply body was longer than the client accepts: EOS's largest
    /// `show` replies are a few hundred KiB, so this is a broken or hostile peer.
    #[error(
        "eAPI reply from {endpoint} exceeds {limit} bytes; refused (a larger reply is not one EOS sends)"
    )]
    ReplyTooLarge { endpoint: String, limit: usize },
    /// The reply was not the JSON-RPC we expect.
    #[error("malformed eAPI reply from {endpoint} to {commands:?}: {reason}")]
    MalformedReply {
        endpoint: String,
        commands: Vec<String>,
        reason: String,
    },
    /// A reply for `command` did not have the shape of the typed model.
    #[error("unexpected reply shape for {command:?}: {source}")]
    Decode {
        command: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("eAPI credentials: {0}")]
    Credentials(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("invalid eAPI client configuration: {0}")]
    Config(String),
}

fn fmt_details(details: &[String]) -> String {
    if details.is_empty() {
        String::new()
    } else {
        format!(" ({})", details.join("; "))
    }
}

impl EapiError {
    /// Transport-level failures are the only ones worth retrying: the
    /// command never reached EOS, or we do not know whether it did.
    pub fn is_transport(&self) -> bool {
        matches!(self, Self::Transport { .. } | Self::Timeout { .. })
    }

    /// The JSON-RPC code, when EOS sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Command { code, .. } => Some(*code),
            _ => None,
        }
    }
}

//! The one error type of this crate.

use std::path::PathBuf;

/// Errors of the DHCP server: configuration, sockets and the lease journal.
/// Bad packets are not errors: they are counted and reported as events.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    /// The configuration text could not be parsed.
    #[error("invalid DHCP configuration: {0}")]
    ConfigSyntax(#[from] toml::de::Error),
    /// The configuration parsed but is inconsistent.
    #[error("invalid DHCP configuration: {0}")]
    Config(String),
    /// The server socket could not be set up (port 67 needs root or
    /// CAP_NET_BIND_SERVICE, and no other DHCP server may hold it).
    #[error("cannot set up the DHCP socket ({what}): {source}")]
    Socket {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The lease journal could not be read, written or compacted.
    #[error("lease journal {path}: {what}: {source}")]
    Journal {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The journal writer stopped, so no ACK can be made durable any more.
    #[error("the lease journal writer stopped")]
    JournalStopped,
    /// The journal was written by a newer build.
    #[error(
        "lease journal {path} is format version {found}, newer than this build reads ({supported}); run the newer build or move the file away"
    )]
    JournalVersion {
        path: PathBuf,
        found: u16,
        supported: u16,
    },
    /// Another server holds the journal: a second instance would bind
    /// port 67 too and replace the journal under the first one.
    #[error(
        "lease journal {path} is in use by another DHCP server (another ztps-agent?): its lock {lock} is held; stop the other instance first"
    )]
    JournalLocked { path: PathBuf, lock: PathBuf },
    /// The server's thread could not be started, or ended without a word.
    #[error("the DHCP server thread: {0}")]
    Thread(String),
}

impl DhcpError {
    pub(crate) fn socket(what: &'static str) -> impl FnOnce(std::io::Error) -> DhcpError {
        move |source| DhcpError::Socket { what, source }
    }
}

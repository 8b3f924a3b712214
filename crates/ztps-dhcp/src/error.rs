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
}

impl DhcpError {
    pub(crate) fn socket(what: &'static str) -> impl FnOnce(std::io::Error) -> DhcpError {
        move |source| DhcpError::Socket { what, source }
    }
}

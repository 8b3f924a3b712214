//! The one error type of this crate. Each variant says what failed and, where
//! the cause is usually the environment, what to do about it.

/// Errors from netlink and sysctl operations.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The netlink socket could not be opened.
    #[error("cannot open a netlink socket: {0}")]
    Connect(#[source] std::io::Error),
    /// The initial dump of links or addresses failed (`&str` names which).
    #[error("netlink dump of {0} failed: {1}")]
    NetlinkDump(&'static str, #[source] rtnetlink::Error),
    /// The kernel refused a netlink request (EPERM/EACCES).
    #[error("{action}: permission denied; the agent needs root or CAP_NET_ADMIN")]
    PermissionDenied { action: String },
    /// A netlink request failed for another reason.
    #[error("{action}: {source}")]
    Netlink {
        action: String,
        #[source]
        source: rtnetlink::Error,
    },
    /// A link that must exist does not.
    #[error("no link named {name:?}")]
    LinkNotFound { name: String },
    /// The bridge's name is held by a link of another kind; it is never replaced.
    #[error(
        "{name:?} exists but is a {kind} link, not a bridge; it is left alone: delete or rename it, or configure another bridge name"
    )]
    NotABridge { name: String, kind: String },
    /// The bridge has the wanted address with another prefix length.
    #[error(
        "bridge {bridge:?} already has {addr}/{have}, but /{want} is configured; fix the configuration or the address"
    )]
    AddressPrefixMismatch {
        bridge: String,
        addr: std::net::Ipv4Addr,
        have: u8,
        want: u8,
    },
    /// The link to attach already belongs to another bridge or bond.
    #[error("{port:?} is already enslaved to {other:?}; detach it before adding it to {bridge:?}")]
    PortOfOtherMaster {
        port: String,
        bridge: String,
        other: String,
    },
    /// A sysctl file could not be read.
    #[error("cannot read sysctl {path}: {source}")]
    SysctlRead {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A sysctl file could not be written; `hint` says what to do.
    #[error("cannot write sysctl {path}: {source}{hint}")]
    SysctlWrite {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
        hint: &'static str,
    },
    /// A sysctl did not keep the value just written.
    #[error("sysctl {path} reads {found:?} right after {wanted:?} was written")]
    SysctlNotApplied {
        path: std::path::PathBuf,
        wanted: String,
        found: String,
    },
}

//! What the server tells the agent, over a channel. This crate knows no
//! sinks; the agent decides where events go.

use std::net::Ipv4Addr;

/// The client's Ethernet address (the server answers Ethernet clients only).
pub use ztps_types::MacAddr;

/// One thing that happened in the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A class member asked for an address.
    Discover {
        interface: String,
        mac: MacAddr,
        serial: Option<String>,
        model: Option<String>,
    },
    Offer {
        interface: String,
        mac: MacAddr,
        ip: Ipv4Addr,
    },
    /// Sent only once the lease is durable.
    Ack {
        interface: String,
        mac: MacAddr,
        ip: Ipv4Addr,
        serial: Option<String>,
        lease_secs: u32,
    },
    Nak {
        interface: String,
        mac: MacAddr,
        requested: Option<Ipv4Addr>,
        reason: &'static str,
    },
    /// The client found the address in use; it is on probation.
    Decline {
        interface: String,
        mac: MacAddr,
        ip: Ipv4Addr,
    },
    PoolExhausted {
        interface: String,
        pool: String,
    },
    Malformed {
        interface: String,
        reason: String,
    },
}

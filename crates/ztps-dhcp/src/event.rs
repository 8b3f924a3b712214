//! What the server tells the agent, over a channel. This crate knows no
//! sinks; the agent decides where events go.

use std::net::Ipv4Addr;

/// A MAC (or other hardware) address, shown as `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HwAddr(pub Vec<u8>);

impl std::fmt::Display for HwAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// One thing that happened in the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A class member asked for an address.
    Discover {
        interface: String,
        mac: HwAddr,
        serial: Option<String>,
        model: Option<String>,
    },
    Offer {
        interface: String,
        mac: HwAddr,
        ip: Ipv4Addr,
    },
    /// Sent only once the lease is durable.
    Ack {
        interface: String,
        mac: HwAddr,
        ip: Ipv4Addr,
        serial: Option<String>,
        lease_secs: u32,
    },
    Nak {
        interface: String,
        mac: HwAddr,
        requested: Option<Ipv4Addr>,
        reason: &'static str,
    },
    /// The client found the address in use; it is on probation.
    Decline {
        interface: String,
        mac: HwAddr,
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

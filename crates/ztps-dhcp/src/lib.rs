//! An embedded DHCPv4 server for zero-touch provisioning.
//!
//! It serves each routed point-to-point link from the link's own address
//! (the other host of a /31 or /30), explicit subnets, and relayed clients,
//! answering only the configured vendor classes and handing them the
//! bootstrap URL. Leases go to an fsync'd journal before they are ACKed.
//! It knows nothing of EOS: the agent hands it a [`ServerConfig`], an
//! [`InterfaceTable`](ztps_net::iftable::InterfaceTable) kept current by
//! netlink, and a channel for batches of [`Event`]s.
//!
//! - [`packet`]: the validating request parser (no panics, no overreads).
//! - [`handler`]: the pure request handler the server, tests and fuzzer drive.
//! - [`pool`], [`leases`], [`journal`]: addresses, bindings, durability.
//! - [`server`] and [`socket`]: the one `IP_PKTINFO` socket and the loop.

pub mod class;
pub mod config;
mod error;
pub mod event;
pub mod handler;
pub mod journal;
pub mod leases;
pub mod metrics;
pub mod packet;
pub mod pool;
mod quiet;
pub mod ratelimit;
pub mod server;
pub mod socket;

pub use config::ServerConfig;
pub use error::DhcpError;
pub use event::Event;
pub use server::{Server, ServerHandle};

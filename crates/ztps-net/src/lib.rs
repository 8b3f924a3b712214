//! Host networking for the agent, over rtnetlink and procfs.
//!
//! - [`watch`] and [`iftable`]: a stream of link and address events, and the
//!   interface table it keeps current (the DHCP server resolves each packet's
//!   ingress interface through it).
//! - [`bridge`]: ensure the bridge the ZTPServer VM hangs off exists, is up and
//!   has its address, without ever tearing down one that carries ports.
//! - [`sysctl`]: ensure IPv4 forwarding, reading before writing.

pub mod bridge;
mod error;
pub mod iftable;
pub mod neighbour;
pub mod sysctl;
pub mod watch;

pub use error::NetError;

//! Value types that several ztps-eos crates share. Each concept has one type
//! and one parser here, so the config, the DHCP server, the events and the VM
//! supervisor cannot disagree on what a valid value is.

pub mod ifname;
mod mac;
mod redact;

pub use mac::{MacAddr, MacParseError};
pub use redact::{error_chain, url_origin};

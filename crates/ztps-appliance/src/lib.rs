//! Day-1 inputs of the ZTPServer appliance built by `vm-image/build`.
//!
//! One image serves every site: what differs per site arrives on a cloud-init
//! NoCloud seed disk ([`seed`]), and what ZTPServer serves to each leaf is
//! generated from a plain description of the spine and its leaves
//! ([`ztpserver`]). Inputs are plain structs so that the fabric description
//! maps onto them without this crate knowing it.

mod error;
mod fat;
pub mod interface;
pub mod seed;
mod yaml;
pub mod ztpserver;

pub use error::Error;
pub use seed::{NicMatch, SeedSpec, write_seed_image};
pub use ztpserver::{DataFile, LeafSpec, NodeIdentifier, ZtpsFabric};

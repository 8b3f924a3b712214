//! Day-1 inputs of the ZTPServer appliance built by `vm-image/build`.
//!
//! One image serves every site: what differs per site arrives on a cloud-init
//! NoCloud seed disk ([`seed`]), and what ZTPServer serves to each leaf is
//! generated from the spine's leaf links as the fabric describes them
//! ([`ztpserver`], which takes ztps-config's own [`ztps_config::LeafLink`]).
//! Names are checked with ztps-config's rules, the ones `check` applies.

pub mod data_disk;
mod error;
mod fat;
pub mod seed;
pub mod seed_check;
mod yaml;
pub mod ztpserver;

pub use data_disk::{DataDiskSummary, write_data_disk, write_data_disk_file};
pub use error::Error;
pub use seed::{NicMatch, SeedFiles, SeedSpec, write_seed_image};
pub use seed_check::{check_seed_dir, check_seed_files};
pub use ztps_config::{LeafLink, NodeIdentifier};
pub use ztpserver::{DataFile, ZtpsFabric};

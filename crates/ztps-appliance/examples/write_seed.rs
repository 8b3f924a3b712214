//! Writes a NoCloud seed disk from JSON, for shell scripts (ci/test-image)
//! until `ztps-agent render seed` exists.
//!
//!   write_seed SEED.json [FABRIC.json] OUT.img
//!
//! SEED.json is a `SeedSpec`; FABRIC.json, if given, a `ZtpsFabric` whose
//! rendered ZTPServer data is added to the seed's files.

use std::path::PathBuf;

use anyhow::Context as _;
use ztps_appliance::{SeedSpec, ZtpsFabric, write_seed_image, ztpserver};

fn main() -> anyhow::Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (seed, fabric, out) = match args.as_slice() {
        [seed, out] => (seed, None, out),
        [seed, fabric, out] => (seed, Some(fabric), out),
        _ => anyhow::bail!("usage: write_seed SEED.json [FABRIC.json] OUT.img"),
    };
    let text =
        std::fs::read_to_string(seed).with_context(|| format!("reading {}", seed.display()))?;
    let mut spec: SeedSpec =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", seed.display()))?;
    if let Some(fabric) = fabric {
        let text = std::fs::read_to_string(fabric)
            .with_context(|| format!("reading {}", fabric.display()))?;
        let fabric: ZtpsFabric =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", fabric.display()))?;
        spec.ztpserver_files.extend(ztpserver::render(&fabric)?);
    }
    write_seed_image(&spec, out)?;
    println!("{}", out.display());
    Ok(())
}

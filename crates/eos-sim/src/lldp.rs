//! LLDP neighbours from a file the test (or the lab) writes.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LldpFile {
    #[serde(default)]
    pub neighbors: Vec<Neighbor>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbor {
    /// Local port, any EOS spelling (`Ethernet1`, `Et1`).
    pub port: String,
    pub system_name: String,
    /// The neighbour's port (`Ethernet49`).
    pub port_id: String,
    #[serde(default = "default_chassis")]
    pub chassis_id: String,
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    #[serde(default)]
    pub system_description: Option<String>,
}

fn default_chassis() -> String {
    "0000.0000.0000".into()
}

fn default_ttl() -> u32 {
    120
}

/// Reads the file; a missing file means no neighbours.
pub fn read(path: Option<&Path>) -> anyhow::Result<LldpFile> {
    let Some(path) = path else { return Ok(LldpFile::default()) };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LldpFile::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut file: LldpFile = if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
    } else {
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
    };
    for n in &mut file.neighbors {
        n.port = ztps_eapi::ifname::canonical_eos(&n.port)
            .with_context(|| format!("{}: {:?} is not an EOS interface name", path.display(), n.port))?;
    }
    Ok(file)
}

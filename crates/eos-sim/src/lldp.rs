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
    let Some(path) = path else {
        return Ok(LldpFile::default());
    };
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
        n.port = ztps_eapi::ifname::canonical_eos(&n.port).with_context(|| {
            format!(
                "{}: {:?} is not an EOS interface name",
                path.display(),
                n.port
            )
        })?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_files_read_alike_and_names_are_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("n.toml");
        std::fs::write(
            &toml_path,
            "[[neighbors]]\nport = \"et49/1\"\nsystem_name = \"leaf1\"\nport_id = \"Ethernet1\"\n",
        )
        .unwrap();
        let json_path = dir.path().join("n.json");
        std::fs::write(
            &json_path,
            r#"{"neighbors": [{"port": "Ethernet49/1", "system_name": "leaf1", "port_id": "Ethernet1"}]}"#,
        )
        .unwrap();
        for path in [&toml_path, &json_path] {
            let f = read(Some(path)).unwrap();
            assert_eq!(f.neighbors[0].port, "Ethernet49/1");
            assert_eq!(f.neighbors[0].ttl, 120);
        }
    }

    #[test]
    fn missing_file_is_empty_and_bad_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read(Some(&dir.path().join("absent.json")))
                .unwrap()
                .neighbors
                .is_empty()
        );
        let path = dir.path().join("bad.json");
        std::fs::write(
            &path,
            r#"{"neighbors": [{"port": "br0", "system_name": "x", "port_id": "y"}]}"#,
        )
        .unwrap();
        let err = format!("{:#}", read(Some(&path)).unwrap_err());
        assert!(
            err.contains("\"br0\" is not an EOS interface name"),
            "{err}"
        );
    }
}

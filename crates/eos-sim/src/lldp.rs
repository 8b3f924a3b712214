//! LLDP: neighbours from a file the test writes, or from the real lldpd
//! of the namespace, which eos-sim also tells what to advertise.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;

use crate::sim::Sim;

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
    #[serde(default)]
    pub port_description: Option<String>,
}

fn default_chassis() -> String {
    "0000.0000.0000".into()
}

fn default_ttl() -> u32 {
    120
}

/// The neighbours, from lldpd when there is one, else from the file.
pub async fn neighbors(sim: &Sim) -> anyhow::Result<LldpFile> {
    match &sim.args.lldpd_socket {
        Some(socket) => {
            let out = lldpcli(
                sim,
                socket,
                &["-f", "json0", "show", "neighbors", "details"],
                None,
            )
            .await?;
            let v: Value = serde_json::from_str(&out).context("parsing lldpcli's JSON")?;
            Ok(from_lldpcli(&v))
        }
        None => read(sim.args.lldp_file.as_deref()),
    }
}

async fn lldpcli(
    sim: &Sim,
    socket: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<String> {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(&sim.args.lldpcli);
    cmd.arg("-u")
        .arg(socket)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("running {}", sim.args.lldpcli.display()))?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.unwrap_or_default().as_bytes()).await?;
    }
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .context("lldpcli did not answer in 10 s")??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // lldpcli reports a failed command on stderr but may still exit 0.
    if !out.status.success() || stderr.contains("error") || stderr.contains("unable") {
        anyhow::bail!("lldpcli {}: {}", args.join(" "), stderr.trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// lldpcli's `json0` output (every value a list, whatever the count) as
/// EOS's neighbour table: local kernel ports become EOS names.
fn from_lldpcli(v: &Value) -> LldpFile {
    let first = |v: &Value, key: &str| v.get(key).and_then(|l| l.get(0)).cloned();
    let value = |v: &Option<Value>, key: &str| {
        v.as_ref()
            .and_then(|x| x.get(key))
            .and_then(|x| x.get(0))
            .and_then(|x| x.get("value"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut neighbors = Vec::new();
    let interfaces = v
        .get("lldp")
        .and_then(|l| l.get(0))
        .and_then(|l| l.get("interface"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for i in &interfaces {
        let Some(port) = i
            .get("name")
            .and_then(Value::as_str)
            .and_then(ztps_eapi::ifname::kernel_to_eos)
        else {
            continue;
        };
        let chassis = first(i, "chassis");
        let remote_port = first(i, "port");
        let chassis_id = chassis
            .as_ref()
            .and_then(|c| c.get("id"))
            .and_then(|x| x.get(0))
            .and_then(|x| x.get("value"))
            .and_then(Value::as_str)
            .map(dotted_mac)
            .unwrap_or_else(default_chassis);
        let port_id = remote_port
            .as_ref()
            .and_then(|p| p.get("id"))
            .and_then(|x| x.get(0))
            .and_then(|x| x.get("value"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // The TTL moved from the chassis to the port between lldpd versions.
        let ttl = value(&remote_port, "ttl")
            .or_else(|| value(&chassis, "ttl"))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(default_ttl);
        neighbors.push(Neighbor {
            port,
            system_name: value(&chassis, "name").unwrap_or_default(),
            port_id,
            chassis_id,
            ttl,
            system_description: value(&chassis, "descr"),
            port_description: value(&remote_port, "descr"),
        });
    }
    LldpFile { neighbors }
}

/// `9e:e2:34:ce:f3:5a` as EOS writes chassis IDs: `9ee2.34ce.f35a`.
fn dotted_mac(mac: &str) -> String {
    let hex: String = mac.chars().filter(char::is_ascii_hexdigit).collect();
    if hex.len() != 12 || mac.len() != 17 {
        return mac.to_string();
    }
    format!("{}.{}.{}", &hex[..4], &hex[4..8], &hex[8..])
}

/// What lldpd should advertise for this switch: EOS's system name and
/// description, and each Ethernet port under its EOS name (lldpd would send
/// `et49`) with its description.
async fn advertisement(sim: &Sim) -> anyhow::Result<String> {
    let links = crate::kernel::links().await?;
    let hostname = sim.fqdn();
    let version = sim.device().version.clone();
    let mut script = format!(
        "configure system hostname {}\nconfigure system description \"Arista Networks EOS version {} running on an Arista Networks {}\"\n",
        quote(&hostname),
        version,
        sim.identity.model()
    );
    for l in links {
        if l.name.kind != ztps_eapi::ifname::InterfaceKind::Ethernet {
            continue;
        }
        let eos = l.name.eos_name();
        let description = if l.description.is_empty() {
            eos.clone()
        } else {
            l.description.clone()
        };
        script.push_str(&format!(
            "configure ports {} lldp portidsubtype local {} description {}\n",
            l.name.kernel_name(),
            eos,
            quote(&description)
        ));
    }
    Ok(script)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace(['"', '\\'], ""))
}

/// Keeps lldpd advertising what the switch is: at start, after every
/// change (hostname, description, reload) and every few seconds, which
/// also covers an lldpd that starts after eos-sim or ports that appear later.
pub async fn advertise(sim: std::sync::Arc<Sim>) {
    let Some(socket) = sim.args.lldpd_socket.clone() else {
        return;
    };
    let mut applied: Option<String> = None;
    let mut last_error: Option<String> = None;
    let mut quiet_rounds: u32 = 0;
    loop {
        let wanted = advertisement(&sim).await;
        let result = match wanted {
            Ok(script) if applied.as_ref() == Some(&script) => Ok(()),
            Ok(script) => lldpcli(&sim, &socket, &[], Some(&script))
                .await
                .map(|_| applied = Some(script)),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                if last_error.take().is_some() {
                    tracing::info!("lldpd reachable again");
                }
            }
            Err(e) => {
                let e = format!("{e:#}");
                if last_error.as_ref() != Some(&e) {
                    tracing::warn!("cannot update lldpd: {e}");
                }
                last_error = Some(e);
                applied = None;
            }
        }
        let period = if last_error.is_some() { 1 } else { 5 };
        tokio::select! {
            () = sim.lldp_changed.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(period)) => {
                quiet_rounds += 1;
                // Resend everything now and then even when nothing changed
                // here: lldpd may have restarted and forgotten it.
                if quiet_rounds.is_multiple_of(6) {
                    applied = None;
                }
            }
        }
    }
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

    /// `lldpcli -f json0 show neighbors details` of lldpd 1.0.16 (trimmed).
    const LLDPCLI_JSON0: &str = r#"{"lldp": [{"interface": [
        {"name": "et49", "via": "LLDP", "rid": "1",
         "chassis": [{"id": [{"type": "mac", "value": "9e:e2:34:ce:f3:5a"}],
                      "name": [{"value": "spine1"}],
                      "descr": [{"value": "Arista Networks EOS version 4.33.2F"}]}],
         "port": [{"id": [{"type": "local", "value": "Ethernet1"}],
                   "descr": [{"value": "to leaf1"}],
                   "ttl": [{"value": "10"}]}]},
        {"name": "eth0", "via": "LLDP",
         "chassis": [{"name": [{"value": "not-an-eos-port"}]}],
         "port": [{"id": [{"type": "mac", "value": "00:11:22:33:44:55"}]}]}
    ]}]}"#;

    #[test]
    fn lldpcli_json0_becomes_eos_neighbours() {
        let v: Value = serde_json::from_str(LLDPCLI_JSON0).unwrap();
        let file = from_lldpcli(&v);
        assert_eq!(file.neighbors.len(), 1, "{file:?}");
        let n = &file.neighbors[0];
        assert_eq!(n.port, "Ethernet49");
        assert_eq!(n.system_name, "spine1");
        assert_eq!(n.port_id, "Ethernet1");
        assert_eq!(n.chassis_id, "9ee2.34ce.f35a");
        assert_eq!(n.ttl, 10);
        assert_eq!(n.port_description.as_deref(), Some("to leaf1"));
        // No lldpd answer at all is no neighbours, not a panic.
        assert!(from_lldpcli(&serde_json::json!({})).neighbors.is_empty());
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

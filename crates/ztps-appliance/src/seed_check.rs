//! The appliance's boot-time seed check, in Rust: the same rules as
//! `vm-image/rootfs/usr/local/sbin/ztps-seed-check`, which the image runs at
//! boot. `ztps-agent render seed` applies them to what it is about to write,
//! so it never writes a seed the appliance would refuse; the test
//! `tests/seed_check.rs` feeds the same bad seeds to both and requires both
//! to refuse. Change the two together.
//!
//! The rules are about the files as they reach the appliance (JSON, which
//! cloud-init reads as YAML), not about [`SeedSpec`](crate::SeedSpec): a seed
//! edited by hand or truncated on its way is caught too.

use std::net::Ipv4Addr;
use std::path::Path;

use base64::Engine as _;
use ipnet::Ipv4Net;
use serde_json::{Map, Value};

use crate::seed::{DATA_ROOT, SERVER_CONF, SeedFiles};
use crate::ztpserver::check_server_url;
use crate::{Error, seed};

/// The seed's three file names, as on the `cidata` disk.
pub const SEED_FILES: [&str; 3] = ["meta-data", "user-data", "network-config"];

fn bad(file: &'static str, key: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::BadSeed {
        file,
        key: key.into(),
        reason: reason.into(),
    }
}

/// Checks a seed folder holding `meta-data`, `user-data`, `network-config`.
pub fn check_seed_dir(dir: &Path) -> Result<(), Error> {
    let mut texts = Vec::with_capacity(3);
    for name in SEED_FILES {
        let text = std::fs::read_to_string(dir.join(name)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => bad(name, "(file)", "missing from the seed"),
            _ => bad(name, "(file)", format!("unreadable: {e}")),
        })?;
        texts.push(text);
    }
    let [meta_data, user_data, network_config] = <[String; 3]>::try_from(texts)
        .map_err(|_| bad("meta-data", "(file)", "missing from the seed"))?;
    check_seed_files(&SeedFiles {
        meta_data,
        user_data,
        network_config,
    })
}

/// Checks the three seed files as the appliance does at boot.
pub fn check_seed_files(files: &SeedFiles) -> Result<(), Error> {
    let host = check_meta(&files.meta_data)?;
    check_user(&files.user_data, &host)?;
    check_network(&files.network_config)
}

fn json_object(file: &'static str, text: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad(file, "(document)", "not a JSON object")),
        Err(e) => Err(bad(
            file,
            "(document)",
            format!("not JSON as ztps-agent writes it: {e}"),
        )),
    }
}

fn hostname(file: &'static str, key: &str, value: Option<&Value>) -> Result<String, Error> {
    let name = value.and_then(Value::as_str).unwrap_or_default();
    ztps_config::rules::hostname(name).map_err(|reason| bad(file, key, reason))?;
    Ok(name.to_string())
}

fn check_meta(text: &str) -> Result<String, Error> {
    let doc = json_object("meta-data", text)?;
    if doc
        .get("instance-id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(bad("meta-data", "instance-id", "missing or empty"));
    }
    hostname("meta-data", "local-hostname", doc.get("local-hostname"))
}

fn check_user(text: &str, meta_host: &str) -> Result<(), Error> {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    if first.trim_end_matches('\r') != "#cloud-config" {
        return Err(bad(
            "user-data",
            "(first line)",
            format!(
                "{:?}, expected '#cloud-config'",
                first.chars().take(40).collect::<String>()
            ),
        ));
    }
    let doc = json_object("user-data", rest)?;
    let host = hostname("user-data", "hostname", doc.get("hostname"))?;
    if host != meta_host {
        return Err(bad(
            "user-data",
            "hostname",
            format!("{host:?} differs from meta-data's local-hostname {meta_host:?}"),
        ));
    }
    let files = doc
        .get("write_files")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("user-data", "write_files", "missing or not a list"))?;
    let mut conf = None;
    for (i, file) in files.iter().enumerate() {
        let path = file.get("path").and_then(Value::as_str);
        if path == Some(SERVER_CONF) {
            if conf.is_some() {
                return Err(bad(
                    "user-data",
                    format!("write_files[{i}].path"),
                    format!("{SERVER_CONF} written twice"),
                ));
            }
            conf = Some(file);
            continue;
        }
        let under_root = path
            .and_then(|p| p.strip_prefix(DATA_ROOT))
            .and_then(|p| p.strip_prefix('/'))
            .is_some_and(|p| seed::check_data_path(p).is_ok());
        if !under_root {
            return Err(bad(
                "user-data",
                format!("write_files[{i}].path"),
                format!("{path:?} is neither {SERVER_CONF} nor a plain path under {DATA_ROOT}/"),
            ));
        }
    }
    let conf = conf.ok_or_else(|| {
        bad(
            "user-data",
            "write_files",
            format!("no entry for {SERVER_CONF}: ZTPServer would run with its default server_url"),
        )
    })?;
    let content = match (
        conf.get("encoding").and_then(Value::as_str),
        conf.get("content").and_then(Value::as_str),
    ) {
        (Some("b64"), Some(content)) => content,
        _ => {
            return Err(bad(
                "user-data",
                "write_files[ztpserver.conf].encoding",
                "expected b64 content",
            ));
        }
    };
    let body = base64::engine::general_purpose::STANDARD
        .decode(content)
        .map_err(|e| e.to_string())
        .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
        .map_err(|e| {
            bad(
                "user-data",
                "write_files[ztpserver.conf].content",
                format!("not base64 of UTF-8 text: {e}"),
            )
        })?;
    let url = body
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "server_url").then(|| value.trim())
        })
        .ok_or_else(|| {
            bad(
                "user-data",
                "write_files[ztpserver.conf].server_url",
                "missing",
            )
        })?;
    check_server_url(url).map_err(|e| {
        bad(
            "user-data",
            "write_files[ztpserver.conf].server_url",
            e.to_string(),
        )
    })
}

fn check_network(text: &str) -> Result<(), Error> {
    let doc = json_object("network-config", text)?;
    if doc.get("version").and_then(Value::as_u64) != Some(2)
        || doc.get("version").is_some_and(Value::is_f64)
    {
        return Err(bad(
            "network-config",
            "version",
            format!("{}, expected 2", doc.get("version").unwrap_or(&Value::Null)),
        ));
    }
    let ethernets = doc
        .get("ethernets")
        .and_then(Value::as_object)
        .filter(|e| e.len() == 1)
        .ok_or_else(|| {
            bad(
                "network-config",
                "ethernets",
                "expected exactly one interface",
            )
        })?;
    let Some((name, nic)) = ethernets.iter().next() else {
        return Err(bad(
            "network-config",
            "ethernets",
            "expected exactly one interface",
        ));
    };
    let key = |k: &str| format!("ethernets.{name}.{k}");
    let nic = nic.as_object().ok_or_else(|| {
        bad(
            "network-config",
            format!("ethernets.{name}"),
            "not an object",
        )
    })?;
    let address = match nic
        .get("addresses")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([Value::String(a)]) => a,
        _ => {
            return Err(bad(
                "network-config",
                key("addresses"),
                "expected exactly one address/prefix",
            ));
        }
    };
    let net: Ipv4Net = address.parse().map_err(|e| {
        bad(
            "network-config",
            key("addresses"),
            format!("{address:?}: {e}"),
        )
    })?;
    if net.prefix_len() == 32 {
        return Err(bad(
            "network-config",
            key("addresses"),
            format!("{address:?}: prefix leaves no room for a gateway"),
        ));
    }
    let via = nic
        .get("routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r.get("to").and_then(Value::as_str) == Some("0.0.0.0/0"))
        .filter_map(|r| r.get("via"))
        .next_back()
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad(
                "network-config",
                key("routes"),
                "no default route (to 0.0.0.0/0)",
            )
        })?;
    let gateway: Ipv4Addr = via
        .parse()
        .map_err(|e| bad("network-config", key("routes.via"), format!("{via:?}: {e}")))?;
    if !net.trunc().contains(&gateway) || gateway == net.addr() {
        return Err(bad(
            "network-config",
            key("routes.via"),
            format!("{via}: must be another address in {}", net.trunc()),
        ));
    }
    Ok(())
}

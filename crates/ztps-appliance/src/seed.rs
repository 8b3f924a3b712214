//! The appliance's cloud-init NoCloud seed: `meta-data`, `user-data` and
//! `network-config` on a small vfat disk labelled `cidata`.
//!
//! Everything per site lives here (address, gateway, hostname, SSH key,
//! ZTPServer's `server_url` and data files), so one image serves every site.
//! The three files are JSON documents, which cloud-init's YAML loader reads
//! as they are: no YAML emitter, and no value can be misread.

use std::net::Ipv4Addr;
use std::path::Path;

use base64::Engine as _;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::fat;
use ztps_config::{NodeIdentifier, PasswordHash, rules};
use ztps_types::MacAddr;

use crate::ztpserver::{self, DataFile, check_hostname};

/// Where ZTPServer's data files go inside the appliance.
pub const DATA_ROOT: &str = "/usr/share/ztpserver";
/// ZTPServer's configuration file inside the appliance.
pub const SERVER_CONF: &str = "/etc/ztpserver/ztpserver.conf";

/// Per-site settings of one appliance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedSpec {
    pub hostname: String,
    /// The appliance's static address and prefix on the spine's `br0`.
    pub address: Ipv4Net,
    /// Default gateway: the spine's `br0` address.
    pub gateway: Ipv4Addr,
    #[serde(default)]
    pub dns: Vec<Ipv4Addr>,
    /// One OpenSSH public key line for the `ztps` admin user.
    #[serde(default)]
    pub ssh_authorized_key: Option<String>,
    /// A crypt(3) hash for the `ztps` user's password: a console login for
    /// an operator without a key. SSH stays key-only (`ssh_pwauth: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_password_hash: Option<PasswordHash>,
    /// What ZTPServer advertises to the leaves (`http://10.0.0.10:8080`).
    pub server_url: String,
    #[serde(default)]
    pub identifier: NodeIdentifier,
    /// Which NIC gets the address.
    #[serde(default)]
    pub nic: NicMatch,
    /// Files for ZTPServer's data root, e.g. from [`ztpserver::render`].
    #[serde(default)]
    pub ztpserver_files: Vec<DataFile>,
}

/// How the appliance's NIC is found. The image boots with `net.ifnames=0`,
/// so a VM with one NIC always has `eth0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NicMatch {
    Name(String),
    Mac(MacAddr),
}

impl Default for NicMatch {
    fn default() -> Self {
        NicMatch::Name("eth0".into())
    }
}

/// The three seed files, in the order they are written to the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedFiles {
    pub meta_data: String,
    pub user_data: String,
    pub network_config: String,
}

impl SeedSpec {
    /// Checks every field; the seed is only rendered from a valid spec.
    pub fn validate(&self) -> Result<(), Error> {
        check_hostname("hostname", &self.hostname)?;
        let net = self.address.trunc();
        if self.address.prefix_len() == 32 {
            return Err(Error::invalid(
                "address",
                self.address.to_string(),
                "prefix leaves no room for a gateway",
            ));
        }
        if !net.contains(&self.gateway) || self.gateway == self.address.addr() {
            return Err(Error::invalid(
                "gateway",
                self.gateway.to_string(),
                format!("must be another address in {net}"),
            ));
        }
        if let Some(key) = &self.ssh_authorized_key {
            check_ssh_key(key)?;
        }
        if let Some(hash) = &self.console_password_hash {
            // The value stays out of the error: it may be a pasted password.
            rules::crypt_password_hash(&hash.0)
                .map_err(|reason| Error::invalid("console_password_hash", "<hidden>", reason))?;
        }
        ztpserver::check_server_url(&self.server_url)?;
        match &self.nic {
            NicMatch::Name(name) => check_nic_name(name)?,
            NicMatch::Mac(_) => {}
        }
        for file in &self.ztpserver_files {
            check_data_path(&file.path)?;
        }
        Ok(())
    }

    /// Renders `meta-data`, `user-data` and `network-config`.
    pub fn render(&self) -> Result<SeedFiles, Error> {
        self.validate()?;
        let files = self.render_unchecked()?;
        // What the appliance checks at boot (ztps-seed-check), checked here
        // too: a seed it would refuse is never written.
        crate::seed_check::check_seed_files(&files)?;
        Ok(files)
    }

    fn render_unchecked(&self) -> Result<SeedFiles, Error> {
        let user_data = format!("#cloud-config\n{}\n", pretty(&self.user_data()?));
        let network_config = format!("{}\n", pretty(&self.network_config()));
        // A new instance-id whenever the settings change makes cloud-init
        // apply them again on the next boot of the same disk.
        let digest = Sha256::new()
            .chain_update(user_data.as_bytes())
            .chain_update(network_config.as_bytes())
            .finalize();
        let instance_id = format!("ztps-{}", hex(&digest[..8]));
        let meta_data = format!(
            "{}\n",
            pretty(&json!({"instance-id": instance_id, "local-hostname": self.hostname}))
        );
        Ok(SeedFiles {
            meta_data,
            user_data,
            network_config,
        })
    }

    /// The seed disk: a vfat image labelled `cidata` holding the three files.
    /// The same spec always gives the same bytes.
    pub fn image(&self) -> Result<Vec<u8>, Error> {
        let files = self.render()?;
        fat::build(&[
            ("meta-data", files.meta_data.as_bytes()),
            ("user-data", files.user_data.as_bytes()),
            ("network-config", files.network_config.as_bytes()),
        ])
    }

    fn user_data(&self) -> Result<Value, Error> {
        let mut write_files = vec![write_file(
            SERVER_CONF,
            &ztpserver::server_conf(&self.server_url, self.identifier)?,
        )];
        for file in &self.ztpserver_files {
            write_files.push(write_file(
                &format!("{DATA_ROOT}/{}", file.path),
                &file.contents,
            ));
        }
        let mut doc = json!({
            "hostname": self.hostname,
            "preserve_hostname": false,
            "manage_etc_hosts": true,
            "ssh_pwauth": false,
            "disable_root": true,
            "users": ["default"],
            "write_files": write_files,
        });
        if let (Some(key), Some(map)) = (&self.ssh_authorized_key, doc.as_object_mut()) {
            map.insert("ssh_authorized_keys".into(), json!([key.trim()]));
        }
        if let Some(hash) = &self.console_password_hash {
            // The image's default user (90-ztps.cfg) is locked, and cloud-init
            // lets the distro's default-user settings win over a user entry
            // of the same name; so the user is spelled out in full here, as
            // the image defines it, with the password unlocked.
            let mut user = json!({
                "name": "ztps",
                "gecos": "ZTPServer appliance admin",
                "groups": "adm, systemd-journal",
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "shell": "/bin/bash",
                "lock_passwd": false,
                "hashed_passwd": hash.0,
            });
            if let Some(key) = &self.ssh_authorized_key {
                user["ssh_authorized_keys"] = json!([key.trim()]);
            }
            doc["users"] = json!([user]);
        }
        Ok(doc)
    }

    fn network_config(&self) -> Value {
        let mut nic = json!({
            "addresses": [self.address.to_string()],
            "routes": [{"to": "0.0.0.0/0", "via": self.gateway.to_string()}],
        });
        if !self.dns.is_empty() {
            nic["nameservers"] =
                json!({"addresses": self.dns.iter().map(|a| a.to_string()).collect::<Vec<_>>()});
        }
        let id = match &self.nic {
            NicMatch::Name(name) => name.clone(),
            NicMatch::Mac(mac) => {
                nic["match"] = json!({"macaddress": mac.to_string()});
                "appliance".to_owned()
            }
        };
        json!({"version": 2, "ethernets": {id: nic}})
    }
}

/// Renders the seed of `spec` and writes it to `path` atomically.
pub fn write_seed_image(spec: &SeedSpec, path: &Path) -> Result<(), Error> {
    let image = spec.image()?;
    let tmp = path.with_extension("tmp");
    let result = std::fs::write(&tmp, &image)
        .map_err(|source| Error::Write {
            path: tmp.clone(),
            source,
        })
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })
        });
    if result.is_err() {
        // Leave no half-written file behind; the target is untouched.
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    tracing::info!(path = %path.display(), bytes = image.len(), "wrote NoCloud seed");
    Ok(())
}

fn write_file(path: &str, contents: &str) -> Value {
    json!({
        "path": path,
        "encoding": "b64",
        "content": base64::engine::general_purpose::STANDARD.encode(contents),
        "owner": "root:root",
        "permissions": "0644",
    })
}

fn pretty(v: &Value) -> String {
    // Serialising a serde_json::Value to a String cannot fail.
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_ssh_key(key: &str) -> Result<(), Error> {
    rules::ssh_public_key(key.trim())
        .map_err(|reason| Error::invalid("ssh_authorized_key", key, reason))
}

fn check_nic_name(name: &str) -> Result<(), Error> {
    rules::linux_interface(name).map_err(|reason| Error::invalid("nic", name, reason))
}

pub(crate) fn check_data_path(path: &str) -> Result<(), Error> {
    let ok = !path.is_empty()
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if !ok {
        return Err(Error::invalid(
            "ztpserver file path",
            path,
            "must be relative to the data root, without '..' or special characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec() -> SeedSpec {
        SeedSpec {
            hostname: "ztps-lab".into(),
            address: "192.0.2.10/24".parse().unwrap(),
            gateway: Ipv4Addr::new(192, 0, 2, 1),
            dns: vec![],
            ssh_authorized_key: None,
            console_password_hash: None,
            server_url: "http://192.0.2.10:8080".into(),
            identifier: NodeIdentifier::SerialNumber,
            nic: NicMatch::default(),
            ztpserver_files: vec![DataFile {
                path: "neighbordb".into(),
                contents: "patterns: []\n".into(),
            }],
        }
    }

    const HASH: &str = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";

    #[test]
    fn a_console_password_hash_unlocks_the_admin_user_and_never_shows_in_debug() {
        let mut spec = spec();
        spec.ssh_authorized_key = Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw5 ops@x".into());
        spec.console_password_hash = Some(PasswordHash(HASH.into()));
        let files = spec.render().unwrap();
        let user: Value =
            serde_json::from_str(files.user_data.trim_start_matches("#cloud-config\n")).unwrap();
        let users = user["users"].as_array().unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0]["name"], "ztps");
        assert_eq!(users[0]["lock_passwd"], false);
        assert_eq!(users[0]["hashed_passwd"], HASH);
        assert_eq!(
            users[0]["ssh_authorized_keys"][0],
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw5 ops@x"
        );
        assert_eq!(user["ssh_pwauth"], false, "SSH stays key-only");
        assert!(!format!("{spec:?}").contains("saltsalt"));
        // Without a hash, the image's locked default user.
        let plain = super::tests::spec();
        let user: Value = serde_json::from_str(
            plain
                .render()
                .unwrap()
                .user_data
                .trim_start_matches("#cloud-config\n"),
        )
        .unwrap();
        assert_eq!(user["users"], json!(["default"]));
    }

    #[test]
    fn a_password_instead_of_a_hash_is_refused_without_repeating_it() {
        let mut spec = spec();
        spec.console_password_hash = Some(PasswordHash("hunter2-secret".into()));
        let err = spec.render().unwrap_err().to_string();
        assert!(err.contains("console_password_hash"), "{err}");
        assert!(err.contains("crypt(3)"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn renders_address_gateway_and_hostname() {
        let files = spec().render().unwrap();
        let net: Value = serde_json::from_str(&files.network_config).unwrap();
        assert_eq!(net["ethernets"]["eth0"]["addresses"][0], "192.0.2.10/24");
        assert_eq!(net["ethernets"]["eth0"]["routes"][0]["via"], "192.0.2.1");
        let meta: Value = serde_json::from_str(&files.meta_data).unwrap();
        assert_eq!(meta["local-hostname"], "ztps-lab");
        assert!(meta["instance-id"].as_str().unwrap().starts_with("ztps-"));
        assert!(files.user_data.starts_with("#cloud-config\n"));
        let user: Value =
            serde_json::from_str(files.user_data.trim_start_matches("#cloud-config\n")).unwrap();
        assert_eq!(user["hostname"], "ztps-lab");
        assert!(user.get("ssh_authorized_keys").is_none());
        let files_written: Vec<&str> = user["write_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            files_written,
            [SERVER_CONF, "/usr/share/ztpserver/neighbordb"]
        );
        let conf = base64::engine::general_purpose::STANDARD
            .decode(user["write_files"][0]["content"].as_str().unwrap())
            .unwrap();
        assert!(
            String::from_utf8(conf)
                .unwrap()
                .contains("server_url = http://192.0.2.10:8080\n")
        );
    }

    #[test]
    fn instance_id_follows_the_settings() {
        let a = spec().render().unwrap();
        let mut changed = spec();
        changed.address = "192.0.2.11/24".parse().unwrap();
        assert_ne!(a.meta_data, changed.render().unwrap().meta_data);
        assert_eq!(a, spec().render().unwrap());
    }

    #[test]
    fn mac_match_and_dns_and_key() {
        let mut s = spec();
        s.nic = NicMatch::Mac("52:54:00:AB:CD:EF".parse().unwrap());
        s.dns = vec![Ipv4Addr::new(192, 0, 2, 53)];
        s.ssh_authorized_key = Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1 admin@site".into());
        let files = s.render().unwrap();
        let net: Value = serde_json::from_str(&files.network_config).unwrap();
        assert_eq!(
            net["ethernets"]["appliance"]["match"]["macaddress"],
            "52:54:00:ab:cd:ef"
        );
        assert_eq!(
            net["ethernets"]["appliance"]["nameservers"]["addresses"][0],
            "192.0.2.53"
        );
        assert!(
            files
                .user_data
                .contains("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1 admin@site")
        );
    }

    #[test]
    fn rejects_bad_specs() {
        let cases: Vec<fn(&mut SeedSpec)> = vec![
            |s| s.hostname = "bad host".into(),
            |s| s.gateway = Ipv4Addr::new(198, 51, 100, 1),
            |s| s.gateway = Ipv4Addr::new(192, 0, 2, 10),
            |s| s.address = "192.0.2.10/32".parse().unwrap(),
            |s| s.server_url = "ztps:8080".into(),
            |s| s.ssh_authorized_key = Some("hello\nworld".into()),
            |s| s.nic = NicMatch::Name("a very long interface name".into()),
            |s| s.ztpserver_files[0].path = "../etc/shadow".into(),
            |s| s.ztpserver_files[0].path = "/etc/shadow".into(),
        ];
        for (i, mutate) in cases.iter().enumerate() {
            let mut s = spec();
            mutate(&mut s);
            assert!(s.render().is_err(), "case {i} should be rejected");
            assert!(s.image().is_err(), "case {i} should be rejected");
        }
    }
}

//! ZTPServer's data from a plain description of one spine and its leaves.
//!
//! Each leaf is matched in `neighbordb` by its LLDP neighbour, the spine's
//! name and interface, so one file bootstraps the whole fabric; the matched
//! pattern names the leaf's definition, whose `replace_config` action fetches
//! the leaf's own startup-config from `files/configs/`.
//!
//! A leaf pinned to a serial number (or system MAC) gets a static node folder
//! `nodes/<id>/` instead of a neighbordb entry: ZTPServer 2.1.0 writes a
//! neighbordb `node:` pattern back with `model: null`, which its own
//! validator then rejects on the node's next request. The folder's `pattern`
//! still makes ZTPServer check the leaf's LLDP neighbour.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use ztps_config::catalogue::{self, EXTENSIONS_DIR, IMAGES_DIR};
use ztps_config::rules;
use ztps_config::{LeafLink, LeafPlan, NodeIdentifier, Spine};

use crate::Error;
use crate::yaml::quoted;

/// One spine and the leaves cabled to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZtpsFabric {
    /// The spine's hostname, as its LLDP advertises it to the leaves.
    pub spine: String,
    /// The fabric's own links; each needs its `leaf_interface`.
    pub leaves: Vec<LeafLink>,
    /// How ZTPServer names node folders (and which `LeafLink` field pins a leaf).
    #[serde(default)]
    pub identifier: NodeIdentifier,
    /// Each leaf's startup-config by its hostname, from the source the
    /// fabric names; a leaf without one gets a config with its one uplink.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, String>,
    /// What each leaf installs during ZTP, by leaf name; a leaf not named
    /// installs nothing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub software: BTreeMap<String, LeafInstall>,
}

/// The software one leaf installs, as ZTPServer's actions take it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafInstall {
    /// `install_image`: the image's path under `files/` and its EOS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInstall>,
    /// `install_extension`, one each: paths under `files/`
    /// (`extensions/TerminAttr-1.29.0-1.swix`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInstall {
    /// Under `files/` (`images/EOS-4.32.2F.swi`): on the data disk.
    pub path: String,
    /// As `show version` prints it; the action skips a leaf already on it.
    pub version: String,
}

impl ZtpsFabric {
    /// The ZTPServer view of a spine of the fabric.
    pub fn of_spine(spine: &Spine) -> Self {
        ZtpsFabric {
            spine: spine.name.clone(),
            leaves: spine.leaves.clone(),
            identifier: spine.ztpserver.identifier,
            software: software_of(spine),
            configs: BTreeMap::new(),
        }
    }

    /// The ZTPServer view of a fabric from its host spine: each leaf is
    /// matched by its (first) link to the host, the one every leaf has, and
    /// pinned as its plan says; `configs` are the leaves' startup-configs.
    pub fn of_host(host: &Spine, plans: &[LeafPlan], configs: BTreeMap<String, String>) -> Self {
        let leaves = plans
            .iter()
            .filter_map(|plan| {
                let mut link = host
                    .leaves
                    .iter()
                    .find(|l| l.leaf.eq_ignore_ascii_case(&plan.hostname))?
                    .clone();
                link.serial.clone_from(&plan.serial);
                link.system_mac = plan.system_mac;
                Some(link)
            })
            .collect();
        ZtpsFabric {
            spine: host.name.clone(),
            leaves,
            identifier: host.ztpserver.identifier,
            configs,
            software: software_of(host),
        }
    }
}

/// A file of ZTPServer's data root (`/usr/share/ztpserver`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Path relative to the data root, `/`-separated (`definitions/leaf1`).
    pub path: String,
    pub contents: String,
}

/// A leaf whose fields have been checked.
struct Leaf<'a> {
    link: &'a LeafLink,
    install: Option<&'a LeafInstall>,
    leaf_interface: &'a str,
    leaf_address: Ipv4Net,
    spine_address: Ipv4Addr,
    node: Option<String>,
}

/// Renders `neighbordb`, one definition and one startup-config per leaf.
/// Files come out in a fixed order (neighbordb, then leaves by name).
pub fn render(fabric: &ZtpsFabric) -> Result<Vec<DataFile>, Error> {
    check_hostname("spine", &fabric.spine)?;
    if fabric.leaves.is_empty() {
        return Err(Error::invalid(
            "leaves",
            "[]",
            "a fabric needs at least one leaf",
        ));
    }
    let mut by_name: BTreeMap<&str, Leaf<'_>> = BTreeMap::new();
    let mut by_port: BTreeMap<&str, &str> = BTreeMap::new();
    for name in fabric.software.keys() {
        if !fabric.leaves.iter().any(|l| &l.leaf == name) {
            return Err(Error::invalid(
                "software",
                name.clone(),
                "names no leaf of this spine",
            ));
        }
    }
    for link in &fabric.leaves {
        let mut leaf = check_leaf(link, fabric.identifier)?;
        leaf.install = fabric.software.get(&link.leaf);
        if let Some(install) = leaf.install {
            check_install(install)?;
        }
        if let Some(prev) = by_port.insert(&link.interface, &link.leaf) {
            return Err(Error::Duplicate {
                what: "spine interface",
                value: link.interface.clone(),
                first: prev.to_owned(),
                second: link.leaf.clone(),
            });
        }
        if by_name.contains_key(link.leaf.as_str()) {
            return Err(Error::Duplicate {
                what: "leaf name",
                value: link.leaf.clone(),
                first: link.leaf.clone(),
                second: link.leaf.clone(),
            });
        }
        by_name.insert(&link.leaf, leaf);
    }

    let mut files = vec![DataFile {
        path: "neighbordb".into(),
        contents: neighbordb(&fabric.spine, by_name.values().filter(|l| l.node.is_none())),
    }];
    for leaf in by_name.values() {
        match &leaf.node {
            None => files.push(DataFile {
                path: format!("definitions/{}", leaf.link.leaf),
                contents: definition(leaf),
            }),
            Some(node) => {
                files.push(DataFile {
                    path: format!("nodes/{node}/definition"),
                    contents: definition(leaf),
                });
                files.push(DataFile {
                    path: format!("nodes/{node}/pattern"),
                    contents: node_pattern(&fabric.spine, leaf),
                });
            }
        }
        files.push(DataFile {
            path: format!("files/configs/{}", leaf.link.leaf),
            contents: fabric
                .configs
                .get(&leaf.link.leaf)
                .cloned()
                .unwrap_or_else(|| startup_config(&fabric.spine, leaf)),
        });
    }
    tracing::debug!(leaves = by_name.len(), "rendered ZTPServer data");
    Ok(files)
}

/// `/etc/ztpserver/ztpserver.conf`: the settings that differ per site.
pub fn server_conf(server_url: &str, identifier: NodeIdentifier) -> Result<String, Error> {
    check_server_url(server_url)?;
    Ok(format!(
        "# ZTPServer settings for this site, from the appliance's NoCloud seed.\n\
         [default]\n\
         data_root = /usr/share/ztpserver\n\
         identifier = {}\n\
         server_url = {server_url}\n\
         logging = True\n\
         console_logging = True\n\
         disable_topology_validation = False\n\
         \n\
         [bootstrap]\n\
         filename = bootstrap\n\
         \n\
         [neighbordb]\n\
         filename = neighbordb\n",
        identifier.as_str()
    ))
}

pub(crate) fn check_server_url(url: &str) -> Result<(), Error> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| Error::invalid("server_url", url, "must start with http:// or https://"))?;
    if rest.is_empty()
        || rest.starts_with('/')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(
            "server_url",
            url,
            "needs a host and no whitespace",
        ));
    }
    Ok(())
}

/// A host name, by ztps-config's rule (the one `check` applies).
pub(crate) fn check_hostname(field: &'static str, name: &str) -> Result<(), Error> {
    rules::hostname(name).map_err(|reason| Error::invalid(field, name, reason))
}

fn check_leaf(link: &LeafLink, identifier: NodeIdentifier) -> Result<Leaf<'_>, Error> {
    check_hostname("leaf name", &link.leaf)?;
    rules::ethernet_interface(&link.interface)
        .map_err(|reason| Error::invalid("interface", &link.interface, reason))?;
    // neighbordb matches a leaf by its own port towards the spine; there is
    // no safe guess for it.
    let leaf_interface = link.leaf_interface.as_deref().ok_or_else(|| {
        Error::invalid(
            "leaf_interface",
            "",
            format!(
                "missing for leaf {}; ZTPServer matches each leaf by its port towards the spine, so give it as EOS names it, like Ethernet49",
                link.leaf
            ),
        )
    })?;
    rules::ethernet_interface(leaf_interface)
        .map_err(|reason| Error::invalid("leaf_interface", leaf_interface, reason))?;
    let prefix = link.subnet.prefix_len();
    if !(30..=31).contains(&prefix) {
        return Err(Error::invalid(
            "subnet",
            link.subnet.to_string(),
            "a leaf link is a /30 or /31",
        ));
    }
    let leaf_address = Ipv4Net::new(link.leaf_address(), prefix)
        .map_err(|e| Error::invalid("subnet", link.subnet.to_string(), e.to_string()))?;
    if let Some(serial) = &link.serial {
        rules::serial_number(serial).map_err(|reason| Error::invalid("serial", serial, reason))?;
    }
    let node = match identifier {
        NodeIdentifier::SerialNumber => link.serial.clone(),
        // ZTPServer's own form of a system MAC: 12 hex digits.
        NodeIdentifier::SystemMac => link.system_mac.map(|mac| mac.to_bare_hex()),
    };
    Ok(Leaf {
        link,
        install: None,
        leaf_interface,
        leaf_address,
        spine_address: link.spine_address().addr(),
        node,
    })
}

fn neighbordb<'a>(spine: &str, leaves: impl Iterator<Item = &'a Leaf<'a>>) -> String {
    let mut out = String::from(
        "# Rendered by ztps-eos. Each leaf is recognised by its LLDP neighbour:\n\
         # the spine's name and the spine interface it is cabled to.\n\
         patterns:\n",
    );
    let mut any = false;
    for leaf in leaves {
        any = true;
        let name = &leaf.link.leaf;
        let _ = writeln!(out, "  - name: {}", quoted(name));
        let _ = writeln!(out, "    definition: {}", quoted(name));
        let _ = writeln!(out, "    interfaces:");
        let _ = writeln!(out, "      - {}", lldp_neighbour(spine, leaf));
    }
    if !any {
        // Every leaf has its own node folder.
        out = out.replace("patterns:\n", "patterns: []\n");
    }
    out
}

/// `nodes/<id>/pattern`: the neighbour a pinned leaf must see.
fn node_pattern(spine: &str, leaf: &Leaf<'_>) -> String {
    format!(
        "# Rendered by ztps-eos: the LLDP neighbour {} must report.\n\
         name: {}\n\
         interfaces:\n  \
           - {}\n",
        leaf.link.leaf,
        quoted(&leaf.link.leaf),
        lldp_neighbour(spine, leaf)
    )
}

/// `"Ethernet49": "spine1:Ethernet3"`, long forms on both sides.
fn lldp_neighbour(spine: &str, leaf: &Leaf<'_>) -> String {
    format!(
        "{}: {}",
        quoted(leaf.leaf_interface),
        quoted(&format!("{spine}:{}", leaf.link.interface))
    )
}

/// The paths become URLs relative to ZTPServer and YAML values: plain
/// names under `images/` or `extensions/`, and a version install_image parses.
fn check_install(install: &LeafInstall) -> Result<(), Error> {
    let plain = |field: &'static str, path: &str, dir: &str| {
        let name = path.strip_prefix(dir).and_then(|p| p.strip_prefix('/'));
        match name {
            Some(name)
                if !name.is_empty()
                    && !name.starts_with('.')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) =>
            {
                Ok(())
            }
            _ => Err(Error::invalid(
                field,
                path,
                format!("a file name under {dir}/, like {dir}/EOS-4.32.2F.swi"),
            )),
        }
    };
    if let Some(image) = &install.image {
        plain("image path", &image.path, IMAGES_DIR)?;
        rules::eos_version(&image.version)
            .map_err(|reason| Error::invalid("image version", &image.version, reason))?;
    }
    for path in &install.extensions {
        plain("extension path", path, EXTENSIONS_DIR)?;
    }
    Ok(())
}

/// The leaf's actions, in the order ZTPServer runs them: the image first
/// (the largest download: a failure shows before anything changed), then
/// the extensions, then the startup-config. The bootstrap's final reload
/// boots the new image with the new config.
fn definition(leaf: &Leaf<'_>) -> String {
    let name = &leaf.link.leaf;
    let mut out = format!(
        "# Rendered by ztps-eos: Day-1 definition of {name}.\n\
         name: {}\n\
         actions:\n",
        quoted(name)
    );
    if let Some(install) = leaf.install {
        if let Some(image) = &install.image {
            let _ = write!(
                out,
                "  - name: {}\n    \
                   action: \"install_image\"\n    \
                   attributes:\n      \
                     url: {}\n      \
                     version: {}\n",
                quoted(&format!("EOS {}", image.version)),
                quoted(&format!("files/{}", image.path)),
                quoted(&image.version),
            );
        }
        for path in &install.extensions {
            let file = path.rsplit('/').next().unwrap_or(path);
            let _ = write!(
                out,
                "  - name: {}\n    \
                   action: \"install_extension\"\n    \
                   attributes:\n      \
                     url: {}\n",
                quoted(&format!("extension {file}")),
                quoted(&format!("files/{path}")),
            );
        }
    }
    let _ = write!(
        out,
        "  - name: {}\n    \
           action: \"replace_config\"\n    \
           attributes:\n      \
             url: {}\n",
        quoted(&format!("startup-config of {name}")),
        quoted(&format!("files/configs/{name}")),
    );
    out
}

fn startup_config(spine: &str, leaf: &Leaf<'_>) -> String {
    format!(
        "! Day-1 startup-config of {name}, rendered by ztps-eos.\n\
         hostname {name}\n\
         !\n\
         ip routing\n\
         !\n\
         interface {leaf_if}\n   \
            description uplink to {spine} {spine_if}\n   \
            no switchport\n   \
            ip address {addr}\n\
         !\n\
         ip route 0.0.0.0/0 {gw}\n\
         !\n\
         end\n",
        name = leaf.link.leaf,
        leaf_if = leaf.leaf_interface,
        spine_if = leaf.link.interface,
        addr = leaf.leaf_address,
        gw = leaf.spine_address,
    )
}

/// What each of `spine`'s leaves installs during ZTP (image, extensions),
/// from the fabric's catalogue; leaves that install nothing are left out.
fn software_of(spine: &Spine) -> BTreeMap<String, LeafInstall> {
    spine
        .leaves
        .iter()
        .filter_map(|link| {
            let install = LeafInstall {
                image: spine
                    .catalogue
                    .leaf_image(link)
                    .map(|(_, image)| ImageInstall {
                        path: format!("{IMAGES_DIR}/{}", catalogue::file_name(&image.file)),
                        version: image.version.clone(),
                    }),
                extensions: spine
                    .catalogue
                    .leaf_extensions(link)
                    .iter()
                    .map(|(_, e)| format!("{EXTENSIONS_DIR}/{}", catalogue::file_name(&e.file)))
                    .collect(),
            };
            (install != LeafInstall::default()).then(|| (link.leaf.clone(), install))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn leaf(name: &str, spine_if: &str, leaf_if: &str, n: u8) -> LeafLink {
        LeafLink {
            interface: spine_if.into(),
            leaf: name.into(),
            leaf_interface: Some(leaf_if.into()),
            subnet: format!("10.0.0.{}/31", 2 * n).parse().unwrap(),
            serial: None,
            system_mac: None,
            image: None,
            extensions: None,
            speed: None,
        }
    }

    fn fabric(leaves: Vec<LeafLink>) -> ZtpsFabric {
        ZtpsFabric {
            spine: "spine1".into(),
            leaves,
            identifier: NodeIdentifier::SerialNumber,
            software: Default::default(),
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn neighbordb_uses_long_forms_for_both_ends() {
        let files = render(&fabric(vec![leaf("leaf1", "Ethernet3", "Ethernet49", 0)])).unwrap();
        let db = &files[0];
        assert_eq!(db.path, "neighbordb");
        assert!(
            db.contents
                .contains("- \"Ethernet49\": \"spine1:Ethernet3\""),
            "{}",
            db.contents
        );
        assert!(!db.contents.contains("Et3\""), "{}", db.contents);
    }

    #[test]
    fn each_leaf_gets_definition_and_config() {
        let files = render(&fabric(vec![
            leaf("leaf2", "Ethernet4", "Ethernet49", 1),
            leaf("leaf1", "Ethernet3", "Ethernet49", 0),
        ]))
        .unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "neighbordb",
                "definitions/leaf1",
                "files/configs/leaf1",
                "definitions/leaf2",
                "files/configs/leaf2"
            ]
        );
        let config = &files[4].contents;
        assert!(config.contains("hostname leaf2\n"));
        assert!(config.contains("interface Ethernet49\n"));
        assert!(config.contains("ip address 10.0.0.3/31\n"));
        assert!(config.contains("ip route 0.0.0.0/0 10.0.0.2\n"));
        assert!(files[3].contents.contains("url: \"files/configs/leaf2\""));
    }

    #[test]
    fn node_pins_follow_the_identifier() {
        let mut l = leaf("leaf1", "Ethernet3", "Ethernet49", 0);
        l.serial = Some("JPE123".into());
        l.system_mac = Some("001c.73aa.bb01".parse().unwrap());
        let mut f = fabric(vec![l, leaf("leaf2", "Ethernet4", "Ethernet49", 1)]);
        let paths = |f: &ZtpsFabric| {
            render(f)
                .unwrap()
                .into_iter()
                .map(|f| f.path)
                .collect::<Vec<_>>()
        };
        assert!(paths(&f).contains(&"nodes/JPE123/definition".to_owned()));
        assert!(paths(&f).contains(&"nodes/JPE123/pattern".to_owned()));
        assert!(!paths(&f).contains(&"definitions/leaf1".to_owned()));
        let db = &render(&f).unwrap()[0].contents;
        assert!(!db.contains("leaf1") && db.contains("leaf2"), "{db}");
        f.identifier = NodeIdentifier::SystemMac;
        assert!(paths(&f).contains(&"nodes/001c73aabb01/pattern".to_owned()));
    }

    #[test]
    fn rejects_bad_fabrics() {
        let dup_port = fabric(vec![
            leaf("a", "Ethernet3", "Ethernet49", 0),
            leaf("b", "Ethernet3", "Ethernet49", 1),
        ]);
        assert!(matches!(
            render(&dup_port),
            Err(Error::Duplicate {
                what: "spine interface",
                ..
            })
        ));
        let dup_name = fabric(vec![
            leaf("a", "Ethernet3", "Ethernet49", 0),
            leaf("a", "Ethernet4", "Ethernet49", 1),
        ]);
        assert!(matches!(
            render(&dup_name),
            Err(Error::Duplicate {
                what: "leaf name",
                ..
            })
        ));
        let mut no_port = leaf("a", "Ethernet3", "Ethernet49", 0);
        no_port.leaf_interface = None;
        assert!(render(&fabric(vec![no_port])).is_err());
        let mut wide = leaf("a", "Ethernet3", "Ethernet49", 0);
        wide.subnet = "10.0.0.0/24".parse().unwrap();
        assert!(render(&fabric(vec![wide])).is_err());
        assert!(render(&fabric(vec![leaf("../x", "Ethernet3", "Ethernet49", 0)])).is_err());
        assert!(render(&fabric(vec![leaf("a", "Management1", "Ethernet49", 0)])).is_err());
        assert!(render(&fabric(vec![leaf("a", "Ethernet3", "Et49", 0)])).is_err());
        assert!(
            render(&fabric(vec![leaf(
                "a\nhostname evil",
                "Ethernet3",
                "Ethernet49",
                0
            )]))
            .is_err()
        );
        let mut bad_spine = fabric(vec![leaf("a", "Ethernet3", "Ethernet49", 0)]);
        bad_spine.spine = "spine 1".into();
        assert!(render(&bad_spine).is_err());
        assert!(render(&fabric(vec![])).is_err());
        let mut bad_serial = leaf("a", "Ethernet3", "Ethernet49", 0);
        bad_serial.serial = Some("x y".into());
        assert!(render(&fabric(vec![bad_serial])).is_err());
    }

    #[test]
    fn server_conf_checks_the_url() {
        let conf = server_conf("http://10.0.0.10:8080", NodeIdentifier::SerialNumber).unwrap();
        assert!(conf.contains("server_url = http://10.0.0.10:8080\n"));
        assert!(conf.contains("identifier = serialnumber\n"));
        for bad in [
            "ftp://x",
            "http://",
            "http://a b",
            "10.0.0.1:8080",
            "http:///x",
        ] {
            assert!(
                server_conf(bad, NodeIdentifier::SerialNumber).is_err(),
                "{bad}"
            );
        }
    }
}

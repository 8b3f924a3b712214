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

use crate::Error;
use crate::interface::canonical_ethernet;
use crate::yaml::quoted;

/// One spine and the leaves cabled to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZtpsFabric {
    /// The spine's hostname, as its LLDP advertises it to the leaves.
    pub spine: String,
    pub leaves: Vec<LeafSpec>,
    /// How ZTPServer names node folders (and what `LeafSpec` field pins a leaf).
    #[serde(default)]
    pub identifier: NodeIdentifier,
}

/// One leaf and its point-to-point link to the spine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafSpec {
    /// Hostname of the leaf; also the name of its definition and config files.
    pub name: String,
    /// The spine's interface towards this leaf, in any EOS form (`Ethernet3`, `Et3`).
    pub spine_interface: String,
    /// The leaf's interface towards the spine, in any EOS form.
    pub leaf_interface: String,
    /// The leaf's address on the link, with its prefix (`10.0.0.1/31`).
    pub leaf_address: Ipv4Net,
    /// The spine's address on the same link: the leaf's default gateway.
    pub spine_address: Ipv4Addr,
    /// Pins the pattern to this serial number (with `NodeIdentifier::SerialNumber`).
    #[serde(default)]
    pub serial: Option<String>,
    /// Pins the pattern to this system MAC (with `NodeIdentifier::SystemMac`).
    #[serde(default)]
    pub system_mac: Option<String>,
}

/// ZTPServer's `identifier` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeIdentifier {
    #[default]
    SerialNumber,
    SystemMac,
}

impl NodeIdentifier {
    fn as_conf(self) -> &'static str {
        match self {
            NodeIdentifier::SerialNumber => "serialnumber",
            NodeIdentifier::SystemMac => "systemmac",
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

/// A leaf whose fields have been checked and put in canonical form.
struct Leaf<'a> {
    spec: &'a LeafSpec,
    spine_interface: String,
    leaf_interface: String,
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
    let mut by_port: BTreeMap<String, &str> = BTreeMap::new();
    for spec in &fabric.leaves {
        let leaf = check_leaf(spec, fabric.identifier)?;
        if let Some(prev) = by_port.insert(leaf.spine_interface.clone(), &spec.name) {
            return Err(Error::Duplicate {
                what: "spine interface",
                value: leaf.spine_interface,
                first: prev.to_owned(),
                second: spec.name.clone(),
            });
        }
        if by_name.contains_key(spec.name.as_str()) {
            return Err(Error::Duplicate {
                what: "leaf name",
                value: spec.name.clone(),
                first: spec.name.clone(),
                second: spec.name.clone(),
            });
        }
        by_name.insert(&spec.name, leaf);
    }

    let mut files = vec![DataFile {
        path: "neighbordb".into(),
        contents: neighbordb(&fabric.spine, by_name.values().filter(|l| l.node.is_none())),
    }];
    for leaf in by_name.values() {
        match &leaf.node {
            None => files.push(DataFile {
                path: format!("definitions/{}", leaf.spec.name),
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
            path: format!("files/configs/{}", leaf.spec.name),
            contents: startup_config(&fabric.spine, leaf),
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
        identifier.as_conf()
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

/// A hostname label as EOS and Linux accept it: letters, digits, `-`, `.`,
/// `_`; which also keeps it a safe file name and free of YAML/`:` syntax.
pub(crate) fn check_hostname(field: &'static str, name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > 63 {
        return Err(Error::invalid(field, name, "must have 1 to 63 characters"));
    }
    if name.starts_with(['.', '-']) {
        return Err(Error::invalid(
            field,
            name,
            "must not start with '.' or '-'",
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(Error::invalid(
            field,
            name,
            format!("character {bad:?} is not allowed"),
        ));
    }
    Ok(())
}

fn check_leaf(spec: &LeafSpec, identifier: NodeIdentifier) -> Result<Leaf<'_>, Error> {
    check_hostname("leaf name", &spec.name)?;
    let spine_interface = canonical_ethernet("spine_interface", &spec.spine_interface)?;
    let leaf_interface = canonical_ethernet("leaf_interface", &spec.leaf_interface)?;
    let net = spec.leaf_address.trunc();
    if !net.contains(&spec.spine_address) {
        return Err(Error::invalid(
            "spine_address",
            spec.spine_address.to_string(),
            format!("not in the leaf's subnet {net}"),
        ));
    }
    if spec.spine_address == spec.leaf_address.addr() {
        return Err(Error::invalid(
            "leaf_address",
            spec.leaf_address.to_string(),
            "same as the spine's address",
        ));
    }
    let serial = spec.serial.as_deref().map(check_serial).transpose()?;
    let mac = spec.system_mac.as_deref().map(normalise_mac).transpose()?;
    let node = match identifier {
        NodeIdentifier::SerialNumber => serial,
        NodeIdentifier::SystemMac => mac,
    };
    Ok(Leaf {
        spec,
        spine_interface,
        leaf_interface,
        node,
    })
}

fn check_serial(serial: &str) -> Result<String, Error> {
    if serial.is_empty()
        || serial.len() > 64
        || !serial
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::invalid(
            "serial",
            serial,
            "letters, digits and '-' only",
        ));
    }
    Ok(serial.to_owned())
}

/// ZTPServer's own form of a system MAC: 12 lowercase hex digits, no separators.
fn normalise_mac(mac: &str) -> Result<String, Error> {
    let digits: String = mac
        .chars()
        .filter(|c| !matches!(c, ':' | '.' | '-'))
        .collect();
    if digits.len() != 12 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            "system_mac",
            mac,
            "expected 12 hex digits (aa:bb:cc:dd:ee:ff)",
        ));
    }
    Ok(digits.to_ascii_lowercase())
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
        let name = &leaf.spec.name;
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
        leaf.spec.name,
        quoted(&leaf.spec.name),
        lldp_neighbour(spine, leaf)
    )
}

/// `"Ethernet49": "spine1:Ethernet3"`, long forms on both sides.
fn lldp_neighbour(spine: &str, leaf: &Leaf<'_>) -> String {
    format!(
        "{}: {}",
        quoted(&leaf.leaf_interface),
        quoted(&format!("{spine}:{}", leaf.spine_interface))
    )
}

fn definition(leaf: &Leaf<'_>) -> String {
    let name = &leaf.spec.name;
    format!(
        "# Rendered by ztps-eos: Day-1 definition of {name}.\n\
         name: {}\n\
         actions:\n  \
           - name: {}\n    \
             action: \"replace_config\"\n    \
             attributes:\n      \
               url: {}\n",
        quoted(name),
        quoted(&format!("startup-config of {name}")),
        quoted(&format!("files/configs/{name}")),
    )
}

fn startup_config(spine: &str, leaf: &Leaf<'_>) -> String {
    let spec = leaf.spec;
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
        name = spec.name,
        leaf_if = leaf.leaf_interface,
        spine_if = leaf.spine_interface,
        addr = spec.leaf_address,
        gw = spec.spine_address,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn leaf(name: &str, spine_if: &str, leaf_if: &str, n: u8) -> LeafSpec {
        LeafSpec {
            name: name.into(),
            spine_interface: spine_if.into(),
            leaf_interface: leaf_if.into(),
            leaf_address: format!("10.0.0.{}/31", 2 * n + 1).parse().unwrap(),
            spine_address: Ipv4Addr::new(10, 0, 0, 2 * n),
            serial: None,
            system_mac: None,
        }
    }

    fn fabric(leaves: Vec<LeafSpec>) -> ZtpsFabric {
        ZtpsFabric {
            spine: "spine1".into(),
            leaves,
            identifier: NodeIdentifier::SerialNumber,
        }
    }

    #[test]
    fn neighbordb_uses_long_forms_for_both_ends() {
        let files = render(&fabric(vec![leaf("leaf1", "Et3", "et49", 0)])).unwrap();
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
            leaf("leaf2", "Et4", "Et49", 1),
            leaf("leaf1", "Et3", "Et49", 0),
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
        let mut l = leaf("leaf1", "Et3", "Et49", 0);
        l.serial = Some("JPE123".into());
        l.system_mac = Some("00:1C:73:aa:bb:01".into());
        let mut f = fabric(vec![l, leaf("leaf2", "Et4", "Et49", 1)]);
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
            leaf("a", "Et3", "Et49", 0),
            leaf("b", "Ethernet3", "Et49", 1),
        ]);
        assert!(matches!(
            render(&dup_port),
            Err(Error::Duplicate {
                what: "spine interface",
                ..
            })
        ));
        let dup_name = fabric(vec![
            leaf("a", "Et3", "Et49", 0),
            leaf("a", "Et4", "Et49", 1),
        ]);
        assert!(matches!(
            render(&dup_name),
            Err(Error::Duplicate {
                what: "leaf name",
                ..
            })
        ));
        let mut off_link = leaf("a", "Et3", "Et49", 0);
        off_link.spine_address = Ipv4Addr::new(10, 9, 9, 9);
        assert!(render(&fabric(vec![off_link])).is_err());
        assert!(render(&fabric(vec![leaf("../x", "Et3", "Et49", 0)])).is_err());
        assert!(render(&fabric(vec![leaf("a", "Management1", "Et49", 0)])).is_err());
        let mut bad_spine = fabric(vec![leaf("a", "Et3", "Et49", 0)]);
        bad_spine.spine = "spine 1".into();
        assert!(render(&bad_spine).is_err());
        assert!(render(&fabric(vec![])).is_err());
        let mut bad_mac = leaf("a", "Et3", "Et49", 0);
        bad_mac.system_mac = Some("00:1c".into());
        assert!(render(&fabric(vec![bad_mac])).is_err());
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

//! The leaves: what a fabric says about each one (`[leaves.NAME]`), what
//! all of them share (`[underlay]`), where their Day-1 configs come from
//! (`[leaf_configs]`), and the plan derived from it all: each leaf's ASN,
//! loopback and uplinks with both ends, which every config source renders.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::checks;
use crate::diag::{KeyPath, Problems};
use crate::fabric::Fabric;
use crate::rules;
use crate::types::MacAddr;

/// What every leaf's built-in config shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Underlay {
    /// `[first, last]`: a leaf without its own `asn` takes `first + n`,
    /// n being its place among the host spine's links (so appending a leaf
    /// renumbers none).
    pub leaf_asn_range: [u32; 2],
    /// Each leaf's Loopback0 (its BGP router ID) is the pool's host n + 1,
    /// n as above, unless the leaf gives its own `loopback`.
    #[serde(with = "crate::types::ipv4_net")]
    pub loopback_pool: Ipv4Net,
    /// The admin user the built-in config creates, with its SSH key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminUser>,
    pub ntp_servers: Vec<Ipv4Addr>,
    pub syslog_servers: Vec<Ipv4Addr>,
}

impl Default for Underlay {
    fn default() -> Self {
        Underlay {
            leaf_asn_range: [65101, 65534],
            loopback_pool: Ipv4Net::new(Ipv4Addr::new(10, 255, 0, 0), 24).unwrap_or_default(),
            admin: None,
            ntp_servers: Vec::new(),
            syslog_servers: Vec::new(),
        }
    }
}

/// `[underlay.admin]`: a local user that logs in with an SSH key only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminUser {
    #[serde(default = "default_admin_name")]
    pub username: String,
    #[serde(default = "default_admin_role")]
    pub role: String,
    /// One OpenSSH public key line.
    pub ssh_key: String,
}

fn default_admin_name() -> String {
    "admin".into()
}

fn default_admin_role() -> String {
    "network-admin".into()
}

/// Where a leaf's Day-1 startup-config comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeafConfigSource {
    /// ztps-eos renders a working L3 underlay from the plan.
    #[default]
    BuiltIn,
    /// The operator's own file, `<dir>/<hostname>.cfg` (AVD's
    /// `intended/configs`).
    Files,
    /// A Jinja2 template fed with the leaf's plan.
    Template,
}

impl LeafConfigSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LeafConfigSource::BuiltIn => "built-in",
            LeafConfigSource::Files => "files",
            LeafConfigSource::Template => "template",
        }
    }
}

/// `[leaf_configs]`: the fabric's source, and where its files are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeafConfigs {
    pub source: LeafConfigSource,
    /// `source = "files"`: the folder of `<hostname>.cfg`, relative to the
    /// first fabric file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// `source = "template"`: the Jinja2 template, relative to the first
    /// fabric file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<PathBuf>,
}

/// `[leaves.NAME]`: one leaf's own settings; every key is optional.
// The EOS image and extensions a leaf runs (`image`, `extensions`, naming
// entries of `[images]` and `[extensions]`) belong here too.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeafSpec {
    /// The leaf's BGP ASN; taken from `underlay.leaf_asn_range` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// The leaf's Loopback0; taken from `underlay.loopback_pool` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loopback: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_mac: Option<MacAddr>,
    /// This leaf's config source, instead of `leaf_configs.source`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<LeafConfigSource>,
}

/// One uplink of a leaf, both ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedUplink {
    /// The leaf's port.
    pub interface: String,
    /// The leaf's address, with the link's prefix.
    pub address: String,
    /// The spine at the other end.
    pub peer: String,
    pub peer_interface: String,
    /// The spine's address, with the link's prefix.
    pub peer_address: String,
    /// The spine's address alone: the BGP neighbour.
    pub peer_ip: String,
    /// The spine's ASN, when the spine runs BGP.
    pub peer_asn: Option<u32>,
    pub speed: Option<String>,
}

/// Everything a leaf's config is rendered from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeafPlan {
    pub hostname: String,
    pub asn: u32,
    /// Loopback0, a /32.
    pub loopback: Ipv4Addr,
    /// Host spine first, then the other spines by name.
    pub uplinks: Vec<PlannedUplink>,
    pub source: LeafConfigSource,
    /// The VM subnet the leaf must reach (the ZTPServer).
    pub ztpserver_subnet: String,
    pub serial: Option<String>,
    pub system_mac: Option<MacAddr>,
}

impl Fabric {
    /// `[leaves.NAME]` for a leaf, by its name in any case, with the name
    /// as written.
    pub fn leaf_spec(&self, leaf: &str) -> Option<(&str, &LeafSpec)> {
        self.leaves
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(leaf))
            .map(|(name, spec)| (name.as_str(), spec))
    }

    /// A path of the fabric, relative to the first fabric file's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.base_dir.join(path)
    }

    /// Every leaf's plan, in the order the host spine lists them. Empty
    /// without a host spine (the loader refuses that fabric).
    pub fn leaf_plans(&self) -> Vec<LeafPlan> {
        let Ok(host) = self.host_spine() else {
            return Vec::new();
        };
        let mut order: Vec<&str> = Vec::new();
        for link in &host.leaves {
            if !order.iter().any(|l| l.eq_ignore_ascii_case(&link.leaf)) {
                order.push(&link.leaf);
            }
        }
        let pool = self.underlay.loopback_pool.trunc();
        let ztpserver_subnet = host.vm_subnet().map(|n| n.to_string()).unwrap_or_default();
        order
            .iter()
            .enumerate()
            .map(|(n, leaf)| {
                let spec = self.leaf_spec(leaf).map(|(_, s)| s);
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                let spines =
                    std::iter::once(host).chain(self.spines.values().filter(|s| !s.is_host()));
                let mut uplinks = Vec::new();
                let mut serial = spec.and_then(|s| s.serial.clone());
                let mut system_mac = spec.and_then(|s| s.system_mac);
                for spine in spines {
                    for link in spine
                        .leaves
                        .iter()
                        .filter(|l| l.leaf.eq_ignore_ascii_case(leaf))
                    {
                        serial = serial.or_else(|| link.serial.clone());
                        system_mac = system_mac.or(link.system_mac);
                        let peer = link.spine_address();
                        uplinks.push(PlannedUplink {
                            interface: link.leaf_interface.clone().unwrap_or_default(),
                            address: format!("{}/{}", link.leaf_address(), peer.prefix_len()),
                            peer: spine.name.clone(),
                            peer_interface: link.interface.clone(),
                            peer_address: peer.to_string(),
                            peer_ip: peer.addr().to_string(),
                            peer_asn: spine.bgp_asn,
                            speed: link.speed.clone(),
                        });
                    }
                }
                LeafPlan {
                    hostname: (*leaf).to_string(),
                    asn: spec
                        .and_then(|s| s.asn)
                        .unwrap_or(self.underlay.leaf_asn_range[0].saturating_add(n)),
                    loopback: spec.and_then(|s| s.loopback).unwrap_or_else(|| {
                        Ipv4Addr::from(u32::from(pool.network()).saturating_add(n + 1))
                    }),
                    uplinks,
                    source: spec
                        .and_then(|s| s.config)
                        .unwrap_or(self.leaf_configs.source),
                    ztpserver_subnet: ztpserver_subnet.clone(),
                    serial,
                    system_mac,
                }
            })
            .collect()
    }

    /// The rules of `[underlay]`, `[leaf_configs]` and `[leaves]`; adds the
    /// loopback pool to the fabric's networks.
    pub(crate) fn check_leaves(&self, problems: &mut Problems, nets: &mut Vec<(KeyPath, Ipv4Net)>) {
        let under = KeyPath::root().key("underlay");
        let [first, last] = self.underlay.leaf_asn_range;
        if first == 0 || last < first {
            problems.push(
                under.key("leaf_asn_range"),
                format!("[{first}, {last}] is not a range of ASNs; write [first, last] with 1 <= first <= last, like [65101, 65199]"),
            );
        }
        let pool = self.underlay.loopback_pool;
        if pool.addr() != pool.network() {
            problems.push(
                under.key("loopback_pool"),
                format!(
                    "{pool} has host bits set; write the pool's network address, {}",
                    pool.trunc()
                ),
            );
        }
        // First, so a link inside the pool is the one reported.
        nets.insert(0, (under.key("loopback_pool"), pool.trunc()));
        if let Some(admin) = &self.underlay.admin {
            checks::rule(
                problems,
                under.key("admin").key("ssh_key"),
                rules::ssh_public_key(&admin.ssh_key),
            );
            checks::rule(
                problems,
                under.key("admin").key("username"),
                rules::user_name(&admin.username),
            );
            checks::rule(
                problems,
                under.key("admin").key("role"),
                rules::user_name(&admin.role),
            );
        }

        let configs = KeyPath::root().key("leaf_configs");
        let plans = self.leaf_plans();
        let uses = |source| {
            self.leaf_configs.source == source
                || self.leaves.values().any(|l| l.config == Some(source))
        };
        if uses(LeafConfigSource::Files) && self.leaf_configs.dir.is_none() {
            problems.push(configs.key("dir"), "is missing; leaf configs from files need the folder of <hostname>.cfg, like dir = \"intended/configs\"");
        }
        if uses(LeafConfigSource::Template) && self.leaf_configs.template.is_none() {
            problems.push(configs.key("template"), "is missing; leaf configs from a template need its file, like template = \"templates/leaf.j2\"");
        }

        let leaves_at = KeyPath::root().key("leaves");
        for (name, spec) in &self.leaves {
            let at = leaves_at.key(name);
            let linked = self
                .spines
                .values()
                .any(|s| s.leaves.iter().any(|l| l.leaf.eq_ignore_ascii_case(name)));
            if !linked {
                problems.push(
                    at.clone(),
                    format!("leaf {name} has no link; describe its uplinks under [[spines.NAME.leaves]], or remove [leaves.{name}]"),
                );
            }
            if spec.asn == Some(0) {
                problems.push(at.key("asn"), "0 is reserved; an ASN is 1 to 4294967295");
            }
            if let Some(serial) = &spec.serial {
                checks::rule(problems, at.key("serial"), rules::serial_number(serial));
            }
            if let Some(mac) = &spec.system_mac
                && (mac.is_zero() || mac.is_multicast())
            {
                problems.push(at.key("system_mac"), format!("{mac} cannot be a switch's system MAC; copy it from the leaf's `show version`"));
            }
            if let Some(loopback) = spec.loopback
                && !pool.contains(&loopback)
            {
                nets.push((at.key("loopback"), Ipv4Net::from(loopback)));
            }
        }

        // Allocated values must fit and stay distinct.
        let mut asns: BTreeMap<u32, (String, KeyPath)> = BTreeMap::new();
        let mut loopbacks: BTreeMap<Ipv4Addr, (String, KeyPath)> = BTreeMap::new();
        for plan in &plans {
            let spec_at = self
                .leaf_spec(&plan.hostname)
                .map(|(name, _)| leaves_at.key(name));
            let given = self.leaf_spec(&plan.hostname).map(|(_, s)| s);
            let asn_at = match (&spec_at, given.and_then(|s| s.asn)) {
                (Some(at), Some(_)) => at.key("asn"),
                _ => under.key("leaf_asn_range"),
            };
            if given.and_then(|s| s.asn).is_none() && plan.asn > last {
                problems.push(asn_at.clone(), format!("has no ASN left for leaf {} (the range holds {} leaves); widen it or give [leaves.{}] asn", plan.hostname, u64::from(last) + 1 - u64::from(first.min(last)), plan.hostname));
            }
            match asns.get(&plan.asn) {
                Some((other, first_at)) => problems.push_clash(
                    asn_at.clone(),
                    first_at.clone(),
                    format!(
                        "ASN {} of leaf {} is already leaf {other}'s; each leaf has its own ASN",
                        plan.asn, plan.hostname
                    ),
                ),
                None => {
                    asns.insert(plan.asn, (plan.hostname.clone(), asn_at));
                }
            }
            let lo_at = match (&spec_at, given.and_then(|s| s.loopback)) {
                (Some(at), Some(_)) => at.key("loopback"),
                _ => under.key("loopback_pool"),
            };
            if given.and_then(|s| s.loopback).is_none()
                && !checks::is_host_of(&pool.trunc(), plan.loopback)
            {
                problems.push(lo_at.clone(), format!("has no address left for leaf {}'s Loopback0; widen it or give [leaves.{}] loopback", plan.hostname, plan.hostname));
            }
            match loopbacks.get(&plan.loopback) {
                Some((other, first_at)) => problems.push_clash(
                    lo_at.clone(),
                    first_at.clone(),
                    format!(
                        "{} (Loopback0 of leaf {}) is already leaf {other}'s",
                        plan.loopback, plan.hostname
                    ),
                ),
                None => {
                    loopbacks.insert(plan.loopback, (plan.hostname.clone(), lo_at));
                }
            }
        }
        for (name, spine) in &self.spines {
            if let Some(asn) = spine.bgp_asn
                && let Some((leaf, _)) = asns.get(&asn)
            {
                problems.push(
                    KeyPath::root().key("spines").key(name).key("bgp_asn"),
                    format!("{asn} is leaf {leaf}'s ASN too; the leaves peer with the spines in eBGP, so give the spines an ASN of their own"),
                );
            }
        }
    }
}

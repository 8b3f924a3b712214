//! Checks shared by both documents. Each rule about a single value is a
//! public function in [`crate::rules`]; these wrap them with a key path.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::diag::{KeyPath, Problems};
use crate::rules::{self, Schemes};

/// Pushes the rule's message, when it has one, at `path`.
pub(crate) fn rule(problems: &mut Problems, path: KeyPath, result: Result<(), String>) {
    if let Err(message) = result {
        problems.push(path, message);
    }
}

/// A URL of the given schemes, with a host, without credentials, written
/// exactly as it parses.
pub(crate) fn url(problems: &mut Problems, path: KeyPath, text: &str, schemes: Schemes) {
    rule(problems, path, rules::url(text, schemes));
}

/// Whether two networks share any address.
pub(crate) fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Reports every pair of overlapping networks, at the later one.
pub(crate) fn no_overlaps(problems: &mut Problems, nets: &[(KeyPath, Ipv4Net)]) {
    for (i, (path, net)) in nets.iter().enumerate() {
        if let Some((other_path, other)) = nets[..i].iter().find(|(_, other)| overlaps(net, other))
        {
            problems.push_clash(
                path.clone(),
                other_path.clone(),
                format!(
                    "{} overlaps {} ({other_path}); every subnet must be distinct",
                    net.trunc(),
                    other.trunc()
                ),
            );
        }
    }
}

/// An interface address must be a usable host of its subnet.
pub(crate) fn host_address(problems: &mut Problems, path: KeyPath, net: &Ipv4Net, what: &str) {
    let addr = net.addr();
    if net.prefix_len() == 32 {
        problems.push(
            path,
            format!(
                "{net} is a single host; {what} needs a subnet with room for its peers, like /24"
            ),
        );
    } else if net.prefix_len() < 31 && (addr == net.network() || addr == net.broadcast()) {
        problems.push(
            path,
            format!(
                "{addr} is the {} address of {}; {what} needs a host address between them",
                if addr == net.network() {
                    "network"
                } else {
                    "broadcast"
                },
                net.trunc()
            ),
        );
    }
}

/// Whether `addr` is a usable host address of `net`.
pub(crate) fn is_host_of(net: &Ipv4Net, addr: Ipv4Addr) -> bool {
    net.contains(&addr)
        && (net.prefix_len() >= 31 || (addr != net.network() && addr != net.broadcast()))
}

/// Reports the same value given twice in a list of names, at the later one.
/// Each item is (where, comparison key, the value as shown, how to name it
/// when a later one repeats it).
pub(crate) fn no_duplicates(
    problems: &mut Problems,
    items: impl IntoIterator<Item = (KeyPath, String, String, String)>,
    what: &str,
) {
    let mut first_seen: std::collections::HashMap<String, (String, KeyPath)> = Default::default();
    for (path, key, shown, label) in items {
        match first_seen.get(&key) {
            Some((first, first_path)) => problems.push_clash(
                path,
                first_path.clone(),
                format!("{shown} is already used by {first}; {what}"),
            ),
            None => {
                first_seen.insert(key, (label, path));
            }
        }
    }
}

//! Checks shared by both documents.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::diag::{KeyPath, Problems};

/// Requires an absolute http(s) URL with a host.
pub(crate) fn http_url(problems: &mut Problems, path: KeyPath, text: &str) {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        Ok(url) => problems.push(
            path,
            format!(
                "{text:?} uses scheme {:?}; it must be an http:// or https:// URL with a host, like http://172.16.130.10:8080/bootstrap",
                url.scheme()
            ),
        ),
        Err(e) => problems.push(
            path,
            format!("{text:?} is not a URL ({e}); write an http:// or https:// URL, like http://172.16.130.10:8080/bootstrap"),
        ),
    }
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
            problems.push(
                path.clone(),
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

/// A Linux interface name: 1 to 15 bytes, no `/`, no whitespace.
pub(crate) fn linux_ifname(problems: &mut Problems, path: KeyPath, name: &str) {
    if name.is_empty()
        || name.len() > 15
        || name.contains('/')
        || name.chars().any(char::is_whitespace)
    {
        problems.push(
            path,
            format!("{name:?} is not a Linux interface name; use 1 to 15 characters without '/' or spaces, like br0"),
        );
    }
}

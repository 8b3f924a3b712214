//! The interface table: what the kernel says about each interface, kept
//! current by [`crate::watch`] and read by whoever needs it (the DHCP server
//! resolves every packet's ingress interface here).
//!
//! Cloning an [`InterfaceTable`] is cheap and every clone sees the same data;
//! readers take a short read lock and copy out what they need.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// One IPv4 address on an interface, with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl Ipv4Net {
    /// The network mask for the prefix length (prefixes above 32 count as 32).
    pub fn mask(&self) -> Ipv4Addr {
        let len = u32::from(self.prefix_len.min(32));
        Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
    }

    /// The network address (the address with the host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & u32::from(self.mask()))
    }

    /// Whether `ip` lies inside this prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & u32::from(self.mask()) == u32::from(self.network())
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// What the table knows about one interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interface {
    pub index: u32,
    pub name: String,
    /// Administratively up and the kernel reports it running (carrier).
    pub up: bool,
    /// The link-layer address; empty for interfaces without one.
    pub mac: Vec<u8>,
    /// IPv4 addresses in the order the kernel reported them.
    pub ipv4: Vec<Ipv4Net>,
    /// The netlink link kind (`IFLA_INFO_KIND`: `bridge`, `veth`, ...);
    /// empty for physical ports, which have none.
    pub kind: String,
}

impl Interface {
    /// A Linux bridge, whatever its name: the kernel says so.
    pub fn is_bridge(&self) -> bool {
        self.kind == "bridge"
    }
}

/// A shared, always-current table of interfaces by ifindex.
#[derive(Debug, Clone, Default)]
pub struct InterfaceTable {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: RwLock<BTreeMap<u32, Interface>>,
    /// Bumped after every change, so that a reader may keep copies and
    /// know when they are stale.
    version: AtomicU64,
}

/// A write guard that bumps the table's version when dropped, once the
/// change it allowed is made.
struct Writing<'a> {
    guard: std::sync::RwLockWriteGuard<'a, BTreeMap<u32, Interface>>,
    version: &'a AtomicU64,
    /// Cleared by a writer that found nothing to change.
    changed: bool,
}

impl std::ops::Deref for Writing<'_> {
    type Target = BTreeMap<u32, Interface>;
    fn deref(&self) -> &Self::Target {
        &self.guard
    }
}

impl std::ops::DerefMut for Writing<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.guard
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        // Still under the lock: a reader that sees the new version reads
        // the new contents.
        if self.changed {
            self.version.fetch_add(1, Ordering::Release);
        }
    }
}

impl InterfaceTable {
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock leaves only plain data behind, so a
    // poisoned lock is still safe to use.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, Interface>> {
        self.inner
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> Writing<'_> {
        Writing {
            guard: self
                .inner
                .map
                .write()
                .unwrap_or_else(PoisonError::into_inner),
            version: &self.inner.version,
            changed: true,
        }
    }

    /// Changes whenever the table does: copies taken at one version are
    /// current as long as it stays the same.
    pub fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Acquire)
    }

    /// A copy of the interface with this index, if it exists.
    pub fn get(&self, index: u32) -> Option<Interface> {
        self.read().get(&index).cloned()
    }

    /// A copy of the interface with this name, if it exists.
    pub fn by_name(&self, name: &str) -> Option<Interface> {
        self.read().values().find(|i| i.name == name).cloned()
    }

    /// Copies of every interface, ordered by index.
    pub fn snapshot(&self) -> Vec<Interface> {
        self.read().values().cloned().collect()
    }

    /// The interface (and the address on it) whose prefix contains `ip`,
    /// among interfaces that are up.
    pub fn find_by_subnet(&self, ip: Ipv4Addr) -> Option<(Interface, Ipv4Net)> {
        self.read().values().filter(|i| i.up).find_map(|i| {
            i.ipv4
                .iter()
                .find(|net| net.contains(ip))
                .map(|net| (i.clone(), *net))
        })
    }

    /// Adds or updates the link part of an interface, keeping its addresses.
    /// `kind` is `None` when the message did not say; the known kind stays.
    pub fn upsert_link(&self, index: u32, name: &str, up: bool, mac: &[u8], kind: Option<&str>) {
        let mut table = self.write();
        if let Some(known) = table.get(&index)
            && known.name == name
            && known.up == up
            && known.mac == mac
            && kind.is_none_or(|k| known.kind == k)
        {
            // The kernel repeats itself (an IPv6 or MTU change, a dump
            // racing an event): the version stays, and so do copies.
            table.changed = false;
            return;
        }
        let entry = table.entry(index).or_insert_with(|| Interface {
            index,
            ..Interface::default()
        });
        entry.name = name.to_string();
        entry.up = up;
        entry.mac = mac.to_vec();
        if let Some(kind) = kind {
            entry.kind = kind.to_string();
        }
    }

    /// Forgets an interface and its addresses.
    pub fn remove_link(&self, index: u32) -> Option<Interface> {
        self.write().remove(&index)
    }

    /// Records an IPv4 address. An address can arrive before its link in a
    /// dump race; the interface is then created nameless and down until its
    /// link message arrives.
    pub fn add_address(&self, index: u32, net: Ipv4Net) {
        let mut table = self.write();
        let entry = table.entry(index).or_insert_with(|| Interface {
            index,
            ..Interface::default()
        });
        if !entry.ipv4.contains(&net) {
            entry.ipv4.push(net);
        }
    }

    /// Removes an IPv4 address; returns whether it was there.
    pub fn remove_address(&self, index: u32, net: Ipv4Net) -> bool {
        let mut table = self.write();
        match table.get_mut(&index) {
            Some(entry) => {
                let before = entry.ipv4.len();
                entry.ipv4.retain(|n| *n != net);
                entry.ipv4.len() != before
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(a: [u8; 4], len: u8) -> Ipv4Net {
        Ipv4Net {
            addr: Ipv4Addr::from(a),
            prefix_len: len,
        }
    }

    #[test]
    fn prefix_arithmetic() {
        let n = net([10, 0, 0, 5], 30);
        assert_eq!(n.mask(), Ipv4Addr::new(255, 255, 255, 252));
        assert_eq!(n.network(), Ipv4Addr::new(10, 0, 0, 4));
        assert!(n.contains(Ipv4Addr::new(10, 0, 0, 7)));
        assert!(!n.contains(Ipv4Addr::new(10, 0, 0, 8)));
        assert_eq!(net([1, 2, 3, 4], 0).mask(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(net([1, 2, 3, 4], 32).mask(), Ipv4Addr::BROADCAST);
        assert_eq!(net([1, 2, 3, 4], 200).mask(), Ipv4Addr::BROADCAST);
    }

    #[test]
    fn clones_share_state_and_addresses_survive_link_updates() {
        let table = InterfaceTable::new();
        let view = table.clone();
        table.add_address(7, net([10, 0, 0, 0], 31));
        assert_eq!(view.get(7).unwrap().name, "", "address before link");
        let before = view.version();
        table.upsert_link(7, "et1", true, &[2, 0, 0, 0, 0, 1], Some("veth"));
        assert!(view.version() > before, "a change moves the version");
        table.add_address(7, net([10, 0, 0, 0], 31));
        let et1 = view.by_name("et1").unwrap();
        assert_eq!(et1.ipv4, vec![net([10, 0, 0, 0], 31)], "no duplicate");
        let (found, on) = view.find_by_subnet(Ipv4Addr::new(10, 0, 0, 1)).unwrap();
        assert_eq!((found.index, on.prefix_len), (7, 31));
        let before = view.version();
        table.upsert_link(7, "et1", true, &[2, 0, 0, 0, 0, 1], None);
        assert_eq!(
            view.version(),
            before,
            "a repeated link message changes nothing"
        );
        table.upsert_link(7, "et1", false, &[], None);
        assert_eq!(
            view.get(7).unwrap().kind,
            "veth",
            "an update without a kind keeps it"
        );
        assert!(
            view.find_by_subnet(Ipv4Addr::new(10, 0, 0, 1)).is_none(),
            "down"
        );
        assert!(table.remove_address(7, net([10, 0, 0, 0], 31)));
        assert!(!table.remove_address(7, net([10, 0, 0, 0], 31)));
        assert!(table.remove_link(7).is_some());
        assert!(view.snapshot().is_empty());
    }
}

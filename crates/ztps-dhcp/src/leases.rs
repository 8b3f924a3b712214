//! The in-memory lease table.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ztps_types::MacAddr;

use crate::journal::Record;

/// How long an offered address is held for the client it was offered to.
pub const OFFER_HOLD_SECS: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Offered, not yet requested; held until the given time.
    Offered,
    /// Acknowledged (durable).
    Bound,
    /// Declined by a client: someone else uses it.
    Probation,
    /// Released by its client, remembered so that the same client gets it
    /// back; free for anyone else.
    Released,
}

/// One address's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub client_key: Vec<u8>,
    pub hwaddr: MacAddr,
    pub serial: Option<String>,
    pub state: LeaseState,
    /// Seconds since the Unix epoch when the lease (or hold) ends.
    pub expires: u64,
}

impl Lease {
    pub fn is_live(&self, now: u64) -> bool {
        self.expires > now
    }
}

/// Leases by address, and the address held by each client.
#[derive(Debug, Default)]
pub struct LeaseTable {
    by_ip: HashMap<Ipv4Addr, Lease>,
    by_client: HashMap<Vec<u8>, Ipv4Addr>,
}

impl LeaseTable {
    /// The live lease of a client, if any.
    pub fn of_client(&self, key: &[u8], now: u64) -> Option<&Lease> {
        let ip = self.by_client.get(key)?;
        self.by_ip
            .get(ip)
            .filter(|l| l.is_live(now) && l.client_key == key && l.state != LeaseState::Probation)
    }

    /// The live lease on an address, if any.
    pub fn at(&self, ip: Ipv4Addr, now: u64) -> Option<&Lease> {
        self.by_ip.get(&ip).filter(|l| l.is_live(now))
    }

    /// Whether `ip` may be given to the client `key`.
    pub fn is_free_for(&self, ip: Ipv4Addr, key: &[u8], now: u64) -> bool {
        match self.at(ip, now) {
            None => true,
            Some(l) => {
                l.state == LeaseState::Released
                    || (l.state != LeaseState::Probation && l.client_key == key)
            }
        }
    }

    /// Records a lease, replacing the client's previous lease and whatever
    /// other lease was on the address.
    pub fn insert(&mut self, lease: Lease) {
        if let Some(old_ip) = self.by_client.get(&lease.client_key).copied()
            && old_ip != lease.ip
        {
            self.by_ip.remove(&old_ip);
        }
        if let Some(previous) = self.by_ip.get(&lease.ip)
            && previous.client_key != lease.client_key
        {
            let key = previous.client_key.clone();
            self.by_client.remove(&key);
        }
        self.by_client.insert(lease.client_key.clone(), lease.ip);
        self.by_ip.insert(lease.ip, lease);
    }

    /// Removes the lease on `ip`.
    pub fn remove(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        let lease = self.by_ip.remove(&ip)?;
        if self.by_client.get(&lease.client_key) == Some(&ip) {
            self.by_client.remove(&lease.client_key);
        }
        Some(lease)
    }

    /// Forgets every expired entry (offers, probations, leases).
    pub fn sweep(&mut self, now: u64) -> usize {
        let expired: Vec<Ipv4Addr> = self
            .by_ip
            .values()
            .filter(|l| !l.is_live(now))
            .map(|l| l.ip)
            .collect();
        for ip in &expired {
            self.remove(*ip);
        }
        expired.len()
    }

    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// Every entry, ordered by address.
    pub fn all(&self) -> Vec<Lease> {
        let mut all: Vec<Lease> = self.by_ip.values().cloned().collect();
        all.sort_by_key(|l| l.ip);
        all
    }

    /// The bound, unexpired leases as journal records (for compaction).
    pub fn durable_records(&self, now: u64) -> Vec<Record> {
        self.all()
            .into_iter()
            .filter(|l| l.state == LeaseState::Bound && l.is_live(now))
            .map(|l| Record::Bind {
                ip: l.ip,
                client_key: l.client_key,
                hwaddr: l.hwaddr.0.to_vec(),
                expires: l.expires,
                serial: l.serial,
            })
            .collect()
    }

    /// What [`LeaseTable::durable_records`] would take in the journal, in
    /// bytes, without building them: the periodic check for compaction
    /// runs on the network thread, under the lock requests need.
    pub fn durable_bytes(&self, now: u64) -> u64 {
        let field = |n: usize| 1 + n.min(255) as u64;
        self.by_ip
            .values()
            .filter(|l| l.state == LeaseState::Bound && l.is_live(now))
            .map(|l| {
                // The framing of Record::Bind (see Record::encoded_len).
                8 + 1
                    + 1
                    + 4
                    + 8
                    + field(l.client_key.len())
                    + field(l.hwaddr.0.len())
                    + field(l.serial.as_deref().map_or(0, str::len))
            })
            .sum()
    }

    /// Replays journal records.
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Bind {
                ip,
                client_key,
                hwaddr,
                expires,
                serial,
            } => self.insert(Lease {
                ip: *ip,
                client_key: client_key.clone(),
                hwaddr: MacAddr::from_slice(hwaddr).unwrap_or(MacAddr([0; 6])),
                serial: serial.clone(),
                state: LeaseState::Bound,
                expires: *expires,
            }),
            Record::Release { ip } => {
                self.remove(*ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(ip: u8, key: &[u8], state: LeaseState, expires: u64) -> Lease {
        Lease {
            ip: Ipv4Addr::new(10, 0, 0, ip),
            client_key: key.to_vec(),
            hwaddr: MacAddr([2, 0, 0, 0, 0, key[0]]),
            serial: None,
            state,
            expires,
        }
    }

    #[test]
    fn a_client_holds_one_address_and_an_address_one_client() {
        let mut t = LeaseTable::default();
        t.insert(lease(1, b"a", LeaseState::Offered, 100));
        t.insert(lease(2, b"a", LeaseState::Bound, 100));
        assert!(t.at(Ipv4Addr::new(10, 0, 0, 1), 0).is_none(), "moved");
        t.insert(lease(2, b"b", LeaseState::Bound, 100));
        assert!(t.of_client(b"a", 0).is_none(), "taken over");
        assert_eq!(t.of_client(b"b", 0).unwrap().ip, Ipv4Addr::new(10, 0, 0, 2));
        assert!(!t.is_free_for(Ipv4Addr::new(10, 0, 0, 2), b"a", 0));
        assert!(
            t.is_free_for(Ipv4Addr::new(10, 0, 0, 2), b"a", 100),
            "expired"
        );
        assert_eq!(t.sweep(100), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn a_released_address_is_free_for_all_and_remembered_for_its_client() {
        let mut t = LeaseTable::default();
        t.insert(lease(4, b"a", LeaseState::Released, 100));
        let ip = Ipv4Addr::new(10, 0, 0, 4);
        assert!(t.is_free_for(ip, b"b", 10));
        assert_eq!(t.of_client(b"a", 10).map(|l| l.ip), Some(ip));
        assert!(t.durable_records(10).is_empty(), "not a lease");
    }

    #[test]
    fn probation_blocks_everyone() {
        let mut t = LeaseTable::default();
        t.insert(lease(3, b"a", LeaseState::Probation, 50));
        assert!(!t.is_free_for(Ipv4Addr::new(10, 0, 0, 3), b"a", 10));
        assert!(t.of_client(b"a", 10).is_none());
        assert!(t.durable_records(10).is_empty());
    }

    #[test]
    fn durable_bytes_is_the_size_of_the_durable_records() {
        let mut t = LeaseTable::default();
        t.insert(lease(1, b"a", LeaseState::Bound, 100));
        t.insert(Lease {
            serial: Some("JPE12345678".into()),
            ..lease(2, b"bb", LeaseState::Bound, 100)
        });
        t.insert(lease(3, b"c", LeaseState::Offered, 100));
        t.insert(lease(4, b"d", LeaseState::Bound, 5));
        let records = t.durable_records(10);
        assert_eq!(records.len(), 2);
        let encoded: usize = records.iter().map(|r| r.encode().len()).sum();
        assert_eq!(t.durable_bytes(10), encoded as u64);
    }
}

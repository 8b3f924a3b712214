//! Server start-up against an existing lease journal (no namespace needed:
//! the socket binds an ephemeral port).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;

use ztps_dhcp::journal::{self, Record};
use ztps_dhcp::{Server, ServerConfig};
use ztps_net::iftable::InterfaceTable;

fn bind(last: u8, expires: u64) -> Record {
    Record::Bind {
        ip: Ipv4Addr::new(10, 0, 0, last),
        client_key: vec![1, 2, 0, 0, 0, 0, last],
        hwaddr: vec![2, 0, 0, 0, 0, last],
        expires,
        serial: Some(format!("SN{last}")),
    }
}

#[test]
fn a_damaged_tail_is_reported_skipped_and_compacted_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases");
    let far = 4_000_000_000;
    let mut bytes: Vec<u8> = [
        bind(1, far),
        bind(2, far),
        Record::Release {
            ip: Ipv4Addr::new(10, 0, 0, 1),
        },
        bind(3, 5),
    ]
    .iter()
    .flat_map(Record::encode)
    .collect();
    let torn = bind(4, far).encode();
    bytes.extend_from_slice(&torn[..torn.len() - 3]);
    std::fs::write(&path, &bytes).unwrap();

    let config = ServerConfig::from_toml(&format!(
        "bootstrap_url = \"http://x/b\"\nlease_file = \"{}\"\nport = 0\n",
        path.display()
    ))
    .unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(8);
    let server = Server::new(config, InterfaceTable::new(), tx).unwrap();
    let handle = server.handle();
    let leases: Vec<Ipv4Addr> = handle.leases().iter().map(|l| l.ip).collect();
    // 1 was released, 3 expired long ago, 4 was torn: only 2 is live.
    assert_eq!(leases, vec![Ipv4Addr::new(10, 0, 0, 2)]);
    let m = handle.metrics();
    assert_eq!(m.journal_corrupt_records, 1);
    assert_eq!(m.journal_compactions, 1);
    // The file now holds exactly the live lease, and nothing damaged.
    let reloaded = journal::load(&path).unwrap();
    assert_eq!(reloaded.records, vec![bind(2, far)]);
    assert_eq!(reloaded.problem, None);
}

#[test]
fn an_unreadable_journal_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: reading it fails.
    let config = ServerConfig::from_toml(&format!(
        "bootstrap_url = \"http://x/b\"\nlease_file = \"{}\"\nport = 0\n",
        dir.path().display()
    ))
    .unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(8);
    let err = Server::new(config, InterfaceTable::new(), tx).unwrap_err();
    assert!(err.to_string().contains("lease journal"), "{err}");
}

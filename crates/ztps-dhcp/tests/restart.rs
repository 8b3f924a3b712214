//! Server start-up against an existing lease journal, and a second
//! instance on the same journal (no namespace needed: the socket binds an
//! ephemeral port).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use ztps_dhcp::journal::{self, Record};
use ztps_dhcp::{DhcpError, Server, ServerConfig, ServerHandle};
use ztps_net::iftable::InterfaceTable;
use ztps_testkit::wait_for;

fn bind(last: u8, expires: u64) -> Record {
    Record::Bind {
        ip: Ipv4Addr::new(10, 0, 0, last),
        client_key: vec![1, 2, 0, 0, 0, 0, last],
        hwaddr: vec![2, 0, 0, 0, 0, last],
        expires,
        serial: Some(format!("SN{last}")),
    }
}

fn config(lease_file: &Path) -> ServerConfig {
    let mut config = ServerConfig::from_toml(&format!(
        "bootstrap_url = \"http://x/b\"\nlease_file = \"{}\"\n",
        lease_file.display()
    ))
    .unwrap();
    config.port = 0;
    config
}

/// Runs a server until the returned sender is used or dropped.
struct Running {
    handle: ServerHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), DhcpError>>>,
}

impl Running {
    fn start(config: ServerConfig) -> Result<Running, DhcpError> {
        let (tx, _rx) = tokio::sync::mpsc::channel(8);
        let server = Server::new(config, InterfaceTable::new(), tx)?;
        let handle = server.handle();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(server.run(async move {
                let _ = stopped.await;
            }))
        });
        Ok(Running {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn stop(mut self) -> Result<(), DhcpError> {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap()
    }
}

#[test]
fn damage_anywhere_costs_only_the_damaged_record_and_a_copy_is_kept() {
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
    // Damage in the middle, then a good record after it, then a torn tail.
    let mut corrupt = bind(6, far).encode();
    corrupt[10] ^= 0xff;
    bytes.extend_from_slice(&corrupt);
    bytes.extend_from_slice(&bind(7, far).encode());
    let torn = bind(4, far).encode();
    bytes.extend_from_slice(&torn[..torn.len() - 3]);
    std::fs::write(&path, &bytes).unwrap();

    let server = Running::start(config(&path)).unwrap();
    wait_for("the journal loaded", Duration::from_secs(10), || {
        server.handle.is_serving().then_some(())
    });
    let leases: Vec<Ipv4Addr> = server.handle.leases().iter().map(|l| l.ip).collect();
    // 1 was released, 3 expired long ago, 6 was corrupt, 4 torn; 7, after
    // the damage, is kept.
    assert_eq!(
        leases,
        vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 7)]
    );
    let m = server.handle.metrics();
    assert_eq!(m.journal_corrupt_records, 2, "two damaged regions");
    assert_eq!(m.journal_compactions, 1);
    // The damaged original is kept beside the journal.
    assert_eq!(
        std::fs::read(dir.path().join("leases.corrupt")).unwrap(),
        bytes
    );
    // The file now holds exactly the live leases, in the current format.
    let reloaded = journal::load(&path).unwrap();
    assert_eq!(reloaded.records, vec![bind(2, far), bind(7, far)]);
    assert_eq!(reloaded.problem(), None);
    assert_eq!(reloaded.version, journal::FORMAT_VERSION);
    server.stop().unwrap();
}

#[test]
fn an_unreadable_journal_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: reading it fails.
    let journal = dir.path().join("leases");
    std::fs::create_dir(&journal).unwrap();
    let server = Running::start(config(&journal)).unwrap();
    let err = server.thread.unwrap().join().unwrap().unwrap_err();
    assert!(err.to_string().contains("lease journal"), "{err}");
}

#[test]
fn a_second_instance_on_the_same_journal_is_refused_before_it_binds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases");
    let first = Running::start(config(&path)).unwrap();
    wait_for(
        "the first instance serving",
        Duration::from_secs(10),
        || first.handle.is_serving().then_some(()),
    );
    let (tx, _rx) = tokio::sync::mpsc::channel(8);
    let err = Server::new(config(&path), InterfaceTable::new(), tx).unwrap_err();
    assert!(matches!(err, DhcpError::JournalLocked { .. }), "{err}");
    assert!(err.to_string().contains("stop the other instance"), "{err}");
    // The first one's journal was not replaced under it.
    first.stop().unwrap();
    // Once the first has stopped, a new instance starts.
    let again = Running::start(config(&path)).unwrap();
    again.stop().unwrap();
}

//! The syslog sink against a real unix datagram socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::discover;
use jiff::tz::TimeZone;
use ztps_events::{Event, Record, Sink, SyslogFormat, SyslogSink};

fn at() -> jiff::Timestamp {
    "2024-05-31T16:08:37Z".parse().unwrap()
}

fn receive(server: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = server.recv(&mut buf).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

fn bind(dir: &std::path::Path) -> (std::path::PathBuf, UnixDatagram) {
    let path = dir.join("log");
    let server = UnixDatagram::bind(&path).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    (path, server)
}

#[test]
fn rfc3164_lines_carry_local0_priority_tag_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let (path, server) = bind(dir.path());
    let mut sink = SyslogSink::new(&path, SyslogFormat::Rfc3164).with_time_zone(TimeZone::UTC);
    let pid = std::process::id();

    let cases = [
        (
            discover("et3", 1, "JPE12345678"),
            134,
            "leaf JPE12345678 (DCS-7050SX3-48YC8) asked for an address on et3",
        ),
        (
            Event::LinkUp {
                interface: "et1".into(),
            },
            133,
            "link et1 is up",
        ),
        (
            Event::LinkDown {
                interface: "et1".into(),
            },
            132,
            "link et1 is down",
        ),
        (
            Event::VmDetached {
                vm: "ztps".into(),
                bridge: "br0".into(),
            },
            131,
            "VM ztps is not attached to br0",
        ),
    ];
    for (event, pri, message) in cases {
        sink.deliver(&Record::new(at(), event)).unwrap();
        assert_eq!(
            receive(&server),
            format!("<{pri}>May 31 16:08:37 ZTPS[{pid}]: {message}")
        );
    }

    // Days below 10 are space-padded, as syslog(3) writes them.
    let early: jiff::Timestamp = "2024-06-02T03:04:05Z".parse().unwrap();
    sink.deliver(&Record::new(
        early,
        Event::LinkUp {
            interface: "et2".into(),
        },
    ))
    .unwrap();
    assert_eq!(
        receive(&server),
        format!("<133>Jun  2 03:04:05 ZTPS[{pid}]: link et2 is up")
    );
}

#[test]
fn rfc5424_lines_carry_version_host_and_kind() {
    let dir = tempfile::tempdir().unwrap();
    let (path, server) = bind(dir.path());
    let mut sink = SyslogSink::new(&path, SyslogFormat::Rfc5424);
    let record = Record::new(
        at(),
        Event::ConfigRejected {
            path: "/mnt/flash/ztps-agent.toml".into(),
            reason: "line 3:\nbad".into(),
        },
    );
    sink.deliver(&record).unwrap();
    let line = receive(&server);
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(
        line,
        format!(
            "<131>1 2024-05-31T16:08:37Z {host} ZTPS {} config_rejected - rejected new configuration /mnt/flash/ztps-agent.toml, keeping the running one: line 3: bad",
            std::process::id()
        )
    );
}

#[test]
fn reconnects_after_the_daemon_restarts_and_reports_a_missing_socket() {
    let dir = tempfile::tempdir().unwrap();
    let (path, server) = bind(dir.path());
    let mut sink = SyslogSink::new(&path, SyslogFormat::Rfc3164);
    sink.deliver(&Record::new(
        at(),
        Event::LinkUp {
            interface: "et1".into(),
        },
    ))
    .unwrap();
    assert!(receive(&server).ends_with("link et1 is up"));

    // Daemon gone: a clear error naming the socket.
    drop(server);
    std::fs::remove_file(&path).unwrap();
    let err = sink
        .deliver(&Record::new(
            at(),
            Event::LinkUp {
                interface: "et2".into(),
            },
        ))
        .unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    // Daemon back on the same path: delivery resumes.
    let (_, server) = bind(dir.path());
    sink.deliver(&Record::new(
        at(),
        Event::LinkUp {
            interface: "et3".into(),
        },
    ))
    .unwrap();
    assert!(receive(&server).ends_with("link et3 is up"));
}

//! Every injected fault, as the client sees it, and the client's retry rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{SimProcess, runtime};
use ztps_eapi::{EapiClient, EapiError, ErrorCode, RetryPolicy, Transport};

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        multiplier: 2.0,
    }
}

fn client(t: Transport, timeout: Duration, retry: RetryPolicy) -> EapiClient {
    EapiClient::builder(t)
        .timeout(timeout)
        .retry(retry)
        .build()
        .unwrap()
}

fn both(sim: &SimProcess) -> [Transport; 2] {
    [
        Transport::http_localhost(sim.http_port()),
        Transport::unix_socket(sim.socket()),
    ]
}

#[test]
fn delay_slows_the_reply_and_beyond_the_timeout_is_a_timeout() {
    let sim = SimProcess::start(None, &[]);
    let rt = runtime();
    sim.set_faults(r#"{"delay_ms": 300}"#);
    for t in both(&sim) {
        let started = Instant::now();
        rt.block_on(client(t.clone(), Duration::from_secs(5), RetryPolicy::none()).show_version())
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        let err = rt
            .block_on(client(t, Duration::from_millis(100), RetryPolicy::none()).show_version())
            .unwrap_err();
        assert!(matches!(err, EapiError::Timeout { .. }), "{err:?}");
    }
}

#[test]
fn dropped_connections_are_retried_for_reads_only() {
    let sim = SimProcess::start(None, &[]);
    let rt = runtime();
    for t in both(&sim) {
        // Without retries, the drop is a transport error.
        sim.set_faults(r#"{"drop_connection": true, "remaining": 1}"#);
        let err = rt
            .block_on(client(t.clone(), Duration::from_secs(5), RetryPolicy::none()).show_version())
            .unwrap_err();
        assert!(matches!(err, EapiError::Transport { .. }), "{t:?}: {err:?}");

        // Two drops, then the third attempt gets through.
        sim.set_faults(r#"{"drop_connection": true, "remaining": 2}"#);
        let before = sim.status()["requests"].as_u64().unwrap();
        let v = rt
            .block_on(client(t.clone(), Duration::from_secs(5), quick_retries()).show_version())
            .unwrap();
        assert_eq!(v.model_name, "vEOS-lab");
        assert_eq!(sim.status()["requests"].as_u64().unwrap() - before, 3);

        // A config session is never re-sent, even with retries configured.
        sim.set_faults(r#"{"drop_connection": true, "remaining": 1}"#);
        let before = sim.status()["requests"].as_u64().unwrap();
        let err = rt
            .block_on(client(t, Duration::from_secs(5), quick_retries()).configure(&["hostname x"]))
            .unwrap_err();
        assert!(matches!(err, EapiError::Transport { .. }), "{err:?}");
        assert_eq!(sim.status()["requests"].as_u64().unwrap() - before, 1);
        assert_eq!(sim.status()["hostname"], "spine1");
    }
}

#[test]
fn persistent_drops_exhaust_the_retries() {
    let sim = SimProcess::start(None, &[]);
    let rt = runtime();
    sim.set_faults(r#"{"drop_connection": true}"#);
    let before = sim.status()["requests"].as_u64().unwrap();
    let err = rt
        .block_on(
            client(
                Transport::unix_socket(sim.socket()),
                Duration::from_secs(5),
                quick_retries(),
            )
            .show_version(),
        )
        .unwrap_err();
    assert!(err.is_transport(), "{err:?}");
    assert_eq!(sim.status()["requests"].as_u64().unwrap() - before, 4);
}

#[test]
fn injected_errors_name_the_command_and_are_not_retried() {
    let sim = SimProcess::start(None, &[]);
    let rt = runtime();
    for t in both(&sim) {
        let c = client(t, Duration::from_secs(5), quick_retries());
        sim.set_faults(r#"{"error": {"code": 1000, "commands": ["show interfaces"]}}"#);
        rt.block_on(c.show_version()).unwrap();
        let before = sim.status()["requests"].as_u64().unwrap();
        let err = rt.block_on(c.interfaces_status(true)).unwrap_err();
        match &err {
            EapiError::Command { code, command, .. } => {
                assert_eq!(*code, ErrorCode::CouldNotRun);
                assert_eq!(command, "show interfaces status connected");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            sim.status()["requests"].as_u64().unwrap() - before,
            1,
            "a command error was retried"
        );

        sim.set_faults(r#"{"error": {"code": 1005}}"#);
        let err = rt.block_on(c.show_version()).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{err}");
        let err = rt.block_on(c.configure(&["hostname x"])).unwrap_err();
        match &err {
            EapiError::Command { code, command, .. } => {
                assert_eq!(*code, ErrorCode::Unauthorized);
                assert_eq!(command, "enable");
            }
            other => panic!("{other:?}"),
        }
        sim.clear_faults();
        rt.block_on(c.interfaces_status(true)).unwrap();
    }
}

#[test]
fn malformed_json_is_a_malformed_reply() {
    let sim = SimProcess::start(None, &[]);
    let rt = runtime();
    sim.set_faults(r#"{"malformed_json": true}"#);
    for t in both(&sim) {
        let err = rt
            .block_on(client(t, Duration::from_secs(5), quick_retries()).show_version())
            .unwrap_err();
        assert!(matches!(err, EapiError::MalformedReply { .. }), "{err:?}");
    }
}

#[test]
fn stalled_reply_times_out_and_clearing_releases_it() {
    let sim = SimProcess::start(None, &[]);
    let rt = runtime();
    sim.set_faults(r#"{"stall": true}"#);
    for t in both(&sim) {
        let err = rt
            .block_on(client(t, Duration::from_millis(300), RetryPolicy::none()).show_version())
            .unwrap_err();
        assert!(matches!(err, EapiError::Timeout { .. }), "{err:?}");
    }
    // A request waiting in the stall is answered once the stall is cleared.
    let c = client(
        Transport::unix_socket(sim.socket()),
        Duration::from_secs(10),
        RetryPolicy::none(),
    );
    let waiting = std::thread::spawn(move || runtime().block_on(c.show_version()));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished());
    sim.clear_faults();
    let v = waiting.join().unwrap().unwrap();
    assert_eq!(v.model_name, "vEOS-lab");
}

#[test]
fn faults_file_switches_faults_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faults.json");
    let arg = file.to_str().unwrap().to_string();
    let sim = SimProcess::start_in(dir, None, &["--faults-file", &arg]);
    let rt = runtime();
    let c = client(
        Transport::unix_socket(sim.socket()),
        Duration::from_secs(5),
        RetryPolicy::none(),
    );
    rt.block_on(c.show_version()).unwrap();
    std::fs::write(
        &file,
        r#"{"error": {"code": 1005, "commands": ["show version"]}}"#,
    )
    .unwrap();
    assert_eq!(
        rt.block_on(c.show_version()).unwrap_err().code(),
        Some(ErrorCode::Unauthorized)
    );
    let (_, shown) = sim.control("GET", "/sim/faults", "");
    assert!(shown.contains("1005"), "{shown}");
    // A broken file leaves the faults in force.
    std::fs::write(&file, r#"{"error": "#).unwrap();
    assert_eq!(
        rt.block_on(c.show_version()).unwrap_err().code(),
        Some(ErrorCode::Unauthorized)
    );
    std::fs::remove_file(&file).unwrap();
    rt.block_on(c.show_version()).unwrap();
}

#[test]
fn control_endpoint_refuses_bad_faults() {
    let sim = SimProcess::start(None, &[]);
    let (status, body) = sim.control("PUT", "/sim/faults", r#"{"error": {"code": 1002}}"#);
    assert_eq!(status, 400, "{body}");
    let (status, body) = sim.control("PUT", "/sim/faults", r#"{"stal": true}"#);
    assert_eq!(status, 400, "{body}");
    let (_, shown) = sim.control("GET", "/sim/faults", "");
    assert_eq!(shown, "{}");
}

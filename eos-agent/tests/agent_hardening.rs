//! `ztps-agent run` against hostile local peers: a flood of half-open
//! status connections under a low descriptor limit, and secrets in URLs
//! and files that must never reach a log, the status page or an event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agent_common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use agent_common::Lab;
use nix::sys::signal::Signal;

fn wait_log(agent: &agent_common::Proc, what: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let log = agent.log();
        if log.contains(what) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what:?} in the agent log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn half_open_status_connections_under_a_low_fd_limit_do_not_starve_status_or_reload() {
    ztps_testkit::require_netns!("busybox", "curl", "prlimit");
    let lab = Lab::new(1);
    lab.link_up(1);
    let config = lab.write_config("agent.toml", "manage = false", "");
    let mut agent = lab.start_agent(&config);
    lab.wait_status(&agent, "agent up", Duration::from_secs(30), |s| {
        s["dhcp"]["running"] == true
    });
    let limited = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", agent.pid()))
        .arg("--nofile=256:256")
        .status()
        .unwrap();
    assert!(limited.success());

    // 400 requests that never finish their headers, held open by us.
    let held: Vec<std::net::TcpStream> = lab.spine.run(|| {
        (0..400)
            .map(|_| {
                let mut s = std::net::TcpStream::connect("127.0.0.1:8087").unwrap();
                s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n").unwrap();
                s
            })
            .collect()
    });
    // A reload that restarts DHCP (journal and all) while they are held.
    lab.write_config("agent.toml", "manage = false", "lease_time_secs = 7200");
    agent.signal(Signal::SIGHUP);
    let log = wait_log(&agent, "configuration reloaded", Duration::from_secs(120));
    assert!(!log.contains("new configuration rejected"), "{log}");
    assert!(
        open_fds(agent.pid()) <= 200,
        "the agent holds {} descriptors under a limit of 256",
        open_fds(agent.pid())
    );
    lab.wait_status(
        &agent,
        "/status answering despite the flood",
        Duration::from_secs(120),
        |s| s["dhcp"]["running"] == true,
    );
    assert_eq!(lab.dhcp(1).expect("DHCP still serves")["ip"], "10.1.1.1");
    drop(held);
    let log = agent.log();
    assert!(
        log.matches("cannot accept").count() <= 1,
        "accept failures logged in a loop:\n{log}"
    );
    // And a clean stop: tasks cancelled, DHCP stopped last.
    agent.signal(Signal::SIGTERM);
    assert_eq!(
        agent.wait_exit(Duration::from_secs(60)),
        Some(0),
        "{}",
        agent.log()
    );
    assert!(agent.log().contains("stopped"), "{}", agent.log());
}

/// The spine config with eAPI over https and a webhook, both with secrets
/// in their paths, and a credentials file.
fn secret_config(lab: &Lab, credentials_mode: u32) -> std::path::PathBuf {
    let d = lab.dir.path().display();
    let credentials = lab.path("eapi-credentials");
    std::fs::write(&credentials, "admin:pw-SECRETP\n").unwrap();
    std::fs::set_permissions(
        &credentials,
        std::fs::Permissions::from_mode(credentials_mode),
    )
    .unwrap();
    let text = format!(
        "[bridge]\naddress = \"172.16.130.254/24\"\n\n\
         [eapi]\ntransport = \"https\"\nurl = \"https://127.0.0.1:1/SECRETPATH/command-api\"\n\
         credentials_file = \"{}\"\npoll_interval_secs = 1\ntimeout_secs = 2\n\n\
         [dhcp]\nbootstrap_url = \"{}\"\nlease_file = \"{d}/leases\"\n\n\
         [vm]\nmanage = false\n\n\
         [events]\nsyslog = false\njson_log = \"{d}/events.jsonl\"\n\
         webhook_url = \"http://127.0.0.1:1/services/T000/B000/SECRETW\"\n\n\
         [status]\nlisten = \"127.0.0.1:8087\"\n",
        credentials.display(),
        agent_common::BOOTSTRAP_URL,
    );
    let path = lab.path("agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn url_secrets_and_the_password_never_reach_logs_status_or_events() {
    ztps_testkit::require_netns!("busybox", "curl");
    let lab = Lab::new(1);
    let config = secret_config(&lab, 0o600);
    let mut agent = lab.start_agent(&config);
    let status = lab.wait_status(&agent, "eAPI tried", Duration::from_secs(30), |s| {
        s["eapi"]["reachable"] == false && s["eapi"]["last_error"].is_string()
    });
    assert_eq!(
        status["eapi"]["endpoint"], "https://127.0.0.1:1",
        "{status}"
    );
    // The webhook has had an event to post and failed on it.
    wait_log(&agent, "webhook delivery failing", Duration::from_secs(60));
    let status = lab
        .curl(&[&format!("{}/status", agent_common::STATUS)])
        .unwrap();
    assert!(status.contains("eapi_unreachable"), "{status}");
    // The JSON log is flushed at the latest when the agent stops.
    agent.signal(Signal::SIGTERM);
    assert_eq!(
        agent.wait_exit(Duration::from_secs(60)),
        Some(0),
        "{}",
        agent.log()
    );
    let events = std::fs::read_to_string(lab.path("events.jsonl")).unwrap_or_default();
    assert!(events.contains("eapi_unreachable"), "{events}");
    let log = agent.log();
    assert!(log.contains("http://127.0.0.1:1"), "{log}");
    for (what, text) in [("log", &log), ("status", &status), ("events", &events)] {
        for secret in ["SECRETPATH", "SECRETW", "pw-SECRETP"] {
            assert!(!text.contains(secret), "{secret} in the {what}:\n{text}");
        }
    }
}

#[test]
fn a_credentials_file_others_can_read_is_refused_with_the_fix() {
    ztps_testkit::require_netns!("busybox", "curl");
    let lab = Lab::new(1);
    let config = secret_config(&lab, 0o644);
    let mut agent = lab.start_agent(&config);
    let code = agent.wait_exit(Duration::from_secs(30));
    assert_ne!(code, Some(0));
    let log = agent.log();
    let file = lab.path("eapi-credentials");
    assert!(log.contains(&*file.to_string_lossy()), "{log}");
    assert!(log.contains("chmod 600"), "{log}");
    assert!(!log.contains("pw-SECRETP"), "{log}");
}

//! Running the real `eos-sim` binary for tests, and talking to its control endpoint.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ztps_testkit::Netns;

/// A running simulator; killed on drop.
#[derive(Debug)]
pub struct SimProcess {
    child: Child,
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub unix: Option<PathBuf>,
    /// Keeps the socket, certificate and files alive.
    pub dir: tempfile::TempDir,
}

pub fn sim_binary() -> &'static str {
    env!("CARGO_BIN_EXE_eos-sim")
}

impl SimProcess {
    /// Starts eos-sim with HTTP on 127.0.0.1:0 and a unix socket in a temp
    /// dir, plus `extra` arguments; `netns` runs it inside that namespace.
    pub fn start(netns: Option<&Netns>, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, netns, extra)
    }

    pub fn start_in(dir: tempfile::TempDir, netns: Option<&Netns>, extra: &[&str]) -> Self {
        let socket = dir.path().join("command-api.sock");
        let mut cmd = match netns {
            Some(ns) => ns.command(sim_binary()),
            None => Command::new(sim_binary()),
        };
        cmd.args(["--http", "127.0.0.1:0", "--unix-socket"])
            .arg(&socket)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("starting eos-sim");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let (mut http, mut https, mut unix) = (None, None, None);
        loop {
            let line = match lines.next() {
                Some(Ok(l)) => l,
                other => {
                    let _ = child.kill();
                    panic!(
                        "eos-sim exited before it was ready: {other:?} (status {:?})",
                        child.wait()
                    );
                }
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["listening", "http", addr] => http = Some(addr.parse().unwrap()),
                ["listening", "https", addr] => https = Some(addr.parse().unwrap()),
                ["listening", "unix", path] => unix = Some(PathBuf::from(path)),
                ["ready"] => break,
                _ => panic!("unexpected eos-sim output: {line}"),
            }
        }
        SimProcess {
            child,
            http,
            https,
            unix,
            dir,
        }
    }

    pub fn http_port(&self) -> u16 {
        self.http.unwrap().port()
    }

    pub fn socket(&self) -> &Path {
        self.unix.as_deref().unwrap()
    }

    /// A control request over the unix socket (reachable from any
    /// namespace): returns (status, body).
    pub fn control(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let stream = std::os::unix::net::UnixStream::connect(self.socket()).unwrap();
        raw_http(stream, method, path, body, None)
    }

    pub fn set_faults(&self, faults: &str) {
        let (status, body) = self.control("PUT", "/sim/faults", faults);
        assert_eq!(status, 200, "{body}");
    }

    pub fn clear_faults(&self) {
        let (status, body) = self.control("DELETE", "/sim/faults", "");
        assert_eq!(status, 200, "{body}");
    }

    pub fn status(&self) -> serde_json::Value {
        let (status, body) = self.control("GET", "/sim/status", "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 exchange (Connection: close), for control requests
/// and for requests no well-behaved client would send.
pub fn raw_http<S: Read + Write>(
    mut stream: S,
    method: &str,
    path: &str,
    body: &str,
    auth: Option<&str>,
) -> (u16, String) {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub fn raw_tcp(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    raw_http(stream, method, path, body, None)
}

/// A tokio runtime for a test thread (possibly inside a namespace).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

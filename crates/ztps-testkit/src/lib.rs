//! Test support shared by every crate whose tests touch the kernel.
//!
//! Network tests run for real, inside namespaces the test creates. When the
//! machine cannot do that (not root, no `ip`), a test skips with a visible
//! message, unless `ZTPS_REQUIRE_NETNS=1` is set (CI sets it): then the test
//! fails, so that a CI machine that lost its privileges cannot pass silently.
//!
//! This crate is only ever a dev-dependency; it panics freely, as tests do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether a missing capability must fail the test instead of skipping it.
pub fn netns_required() -> bool {
    std::env::var("ZTPS_REQUIRE_NETNS").is_ok_and(|v| v == "1")
}

/// Returns `true` when network-namespace tests can run here. Otherwise prints
/// why the test is skipped and returns `false`, or panics when
/// `ZTPS_REQUIRE_NETNS=1`.
pub fn netns_available(test: &str) -> bool {
    let problem = if !nix::unistd::geteuid().is_root() {
        Some("not running as root".to_string())
    } else if which("ip").is_none() {
        Some("`ip` (iproute2) is not installed".to_string())
    } else {
        None
    };
    match problem {
        None => true,
        Some(why) => skip_or_fail(test, &why),
    }
}

/// Checks that each named program is on PATH; skips (or fails under
/// `ZTPS_REQUIRE_NETNS=1`) naming the first that is missing.
pub fn tools_available(test: &str, tools: &[&str]) -> bool {
    for tool in tools {
        if which(tool).is_none() {
            return skip_or_fail(
                test,
                &format!("`{tool}` is not installed (ci/test installs it)"),
            );
        }
    }
    true
}

/// Skips the calling test with a visible message, or panics when
/// `ZTPS_REQUIRE_NETNS=1`. Returns `false`, for `if !... { return; }`.
pub fn skip_or_fail(test: &str, why: &str) -> bool {
    if netns_required() {
        panic!("{test}: cannot run: {why}, and ZTPS_REQUIRE_NETNS=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: {why} (set ZTPS_REQUIRE_NETNS=1 to make this a failure)");
    false
}

/// Skips the calling test (returns early) unless namespaces are usable.
#[macro_export]
macro_rules! require_netns {
    () => {
        if !$crate::netns_available(module_path!()) {
            return;
        }
    };
    ($($tool:expr),+ $(,)?) => {
        if !$crate::netns_available(module_path!())
            || !$crate::tools_available(module_path!(), &[$($tool),+])
        {
            return;
        }
    };
}

/// Finds a program on PATH (and in the sbin directories, which a non-login
/// root shell may lack).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call, short enough for an interface
/// name (15 bytes) when `prefix` has at most 6 characters.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}{n:x}", std::process::id() & 0xffff)
}

/// A network namespace that is deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace named `<prefix><unique>` with its loopback up.
    pub fn new(prefix: &str) -> Self {
        let name = unique_name(prefix);
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of the namespace's handle, for `setns`.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// A command that runs inside the namespace (`ip netns exec`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `ip ARGS` inside the namespace and panics with its stderr on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &self.name]).args(args);
        String::from_utf8_lossy(&run_ok(&mut cmd).stdout).into_owned()
    }

    /// Runs `f` on a new thread whose network namespace is this one. Sockets
    /// and netlink handles created inside `f` belong to the namespace.
    pub fn spawn<T, F>(&self, f: F) -> std::thread::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let path = self.path();
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
    }

    /// Runs `f` on a scoped thread inside this namespace and returns its result.
    pub fn run<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> T {
        let path = self.path();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    enter(&path);
                    f()
                })
                .join()
                .expect("thread inside the namespace panicked")
        })
    }
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter(path: &Path) {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
        .unwrap_or_else(|e| panic!("setns {}: {e}", path.display()));
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Kill what still runs inside, so that the namespace really goes away.
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|out| {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            });
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Creates a veth pair: `a_name` inside `a`, `b_name` inside `b` (`None` is
/// the namespace of the calling process). Both ends are left down.
pub fn veth(a: &Netns, a_name: &str, b: Option<&Netns>, b_name: &str) {
    let mut cmd = Command::new("ip");
    cmd.args([
        "-n",
        a.name(),
        "link",
        "add",
        a_name,
        "type",
        "veth",
        "peer",
        "name",
        b_name,
    ]);
    match b {
        Some(b) => cmd.args(["netns", b.name()]),
        None => cmd.args(["netns", "1"]),
    };
    run_ok(&mut cmd);
}

/// Runs a command, panicking with its output if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: std::time::Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The root of the workspace (for finding `ci/`, `examples/`, test data).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The Python venv that `ci/test` prepares (`ZTPS_VENV`, default
/// `/var/cache/ztps-eos/venv`), if it has `program` in it.
pub fn venv_program(program: &str) -> Option<PathBuf> {
    let venv = std::env::var("ZTPS_VENV").unwrap_or_else(|_| "/var/cache/ztps-eos/venv".into());
    let p = Path::new(&venv).join("bin").join(program);
    p.is_file().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_fit_an_interface_name() {
        let a = unique_name("zt");
        let b = unique_name("zt");
        assert_ne!(a, b);
        assert!(a.len() <= 15, "{a} is too long for IFNAMSIZ");
    }

    #[test]
    fn namespace_is_created_and_removed() {
        require_netns!();
        let ns = Netns::new("tk");
        let name = ns.name().to_string();
        assert!(ns.path().exists());
        let links = ns.ip(&["-o", "link", "show", "lo"]);
        assert!(links.contains("UP") || links.contains("UNKNOWN"), "{links}");
        drop(ns);
        assert!(!Path::new("/run/netns").join(name).exists());
    }

    #[test]
    fn veth_pair_connects_two_namespaces() {
        require_netns!("ping");
        let a = Netns::new("tka");
        let b = Netns::new("tkb");
        veth(&a, "va", Some(&b), "vb");
        a.ip(&["addr", "add", "10.99.0.0/31", "dev", "va"]);
        b.ip(&["addr", "add", "10.99.0.1/31", "dev", "vb"]);
        a.ip(&["link", "set", "va", "up"]);
        b.ip(&["link", "set", "vb", "up"]);
        let out = a
            .command("ping")
            .args(["-c1", "-W2", "10.99.0.1"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

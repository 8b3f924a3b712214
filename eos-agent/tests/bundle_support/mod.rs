//! Helpers of the bundle and swix tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn example_fabric() -> PathBuf {
    repo().join("examples/fabric.toml")
}

/// A copy of `ztps-agent` without debug info, as a release build would be.
/// The commands package the running binary; the debug build is ~200 MB and
/// would make each package take minutes, so the tests run this copy, whose
/// bytes they then look for.
pub fn stripped_agent(dir: &Path) -> PathBuf {
    let path = dir.join("ztps-agent");
    std::fs::copy(env!("CARGO_BIN_EXE_ztps-agent"), &path).unwrap();
    run_ok(Command::new("strip").arg("--strip-debug").arg(&path));
    path
}

pub fn run(agent: &Path, args: &[&str]) -> Output {
    Command::new(agent)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The RPM inside a SWIX, extracted with the real `unzip`; `arch` is the
/// architecture its name must carry.
pub fn rpm_of_swix(swix: &Path, dir: &Path, arch: &str) -> PathBuf {
    let list = text(&run_ok(Command::new("unzip").arg("-Z1").arg(swix)).stdout);
    let names: Vec<&str> = list.lines().collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[0], "manifest.txt");
    let rpm = names[1];
    assert!(rpm.ends_with(&format!(".{arch}.rpm")), "{rpm}");
    run_ok(
        Command::new("unzip")
            .args(["-q", "-o"])
            .arg(swix)
            .arg("-d")
            .arg(dir),
    );
    dir.join(rpm)
}

/// Installs an RPM into a scratch root with Debian's `rpm` and returns the
/// bytes it put at /usr/bin/ztps-agent.
pub fn rpm_install(rpm: &Path, root: &Path) -> Vec<u8> {
    std::fs::create_dir_all(root).unwrap();
    run_ok(
        Command::new("rpm")
            .arg("--root")
            .arg(root)
            .args(["-i", "--nodeps", "--noscripts", "--nosignature"])
            .arg(rpm),
    );
    std::fs::read(root.join("usr/bin/ztps-agent")).unwrap()
}

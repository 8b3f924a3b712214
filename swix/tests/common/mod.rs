//! Helpers shared by the ztps-swix integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use ztps_swix::{BuildTime, PackageSpec, PayloadCompression};

/// A fixed build time, so expectations can name it.
pub const BUILD_TIME: u32 = 1_717_171_717;

pub fn spec(compression: PayloadCompression) -> PackageSpec {
    let mut spec = PackageSpec::agent("0.3.1", BuildTime::from_unix(BUILD_TIME));
    spec.release = "2".into();
    spec.compression = compression;
    spec
}

/// Stand-in for the agent binary: an ELF magic followed by bytes from a
/// small LCG, large enough that compression and checksums matter.
pub fn fake_binary(len: usize) -> Vec<u8> {
    let mut out = b"\x7fELF\x02\x01\x01".to_vec();
    let mut state: u32 = 0x2545_f491;
    while out.len() < len {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        // Keep it partly compressible, like real code.
        out.push(if state >> 30 == 0 {
            0
        } else {
            (state >> 24) as u8
        });
    }
    out
}

/// Runs a command and returns its output; panics with stderr on failure.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

/// `rpm -qp --qf FORMAT file`.
pub fn rpm_query(rpm: &Path, format: &str) -> String {
    stdout(
        Command::new("rpm")
            .args(["-qp", "--nosignature", "--qf", format])
            .arg(rpm),
    )
}

/// Whether the named programs exist; otherwise skips visibly (or fails
/// under ZTPS_REQUIRE_NETNS=1, as CI runs) through the testkit.
pub fn have_tools(test: &str, tools: &[&str]) -> bool {
    ztps_testkit::tools_available(test, tools)
}

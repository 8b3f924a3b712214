//! The RPM checked by Debian's real `rpm`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;
use ztps_swix::{Arch, PayloadCompression, build_rpm};

fn write_rpm(
    dir: &std::path::Path,
    compression: PayloadCompression,
    binary: &[u8],
) -> std::path::PathBuf {
    let spec = spec(compression);
    let path = dir.join(spec.rpm_file_name());
    std::fs::write(&path, build_rpm(&spec, binary).unwrap()).unwrap();
    path
}

#[test]
fn rpm_reads_the_header_fields() {
    if !have_tools("rpm_reads_the_header_fields", &["rpm"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for compression in [PayloadCompression::Gzip, PayloadCompression::Xz] {
        let rpm = write_rpm(dir.path(), compression, &fake_binary(64 * 1024));
        let fields = rpm_query(
            &rpm,
            "%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{LICENSE}|%{SUMMARY}|%{BUILDTIME}|%{PAYLOADCOMPRESSOR}",
        );
        assert_eq!(
            fields,
            format!(
                "ztps-agent|0.3.1|2|x86_64|Apache-2.0|ZTPServer companion agent for EOS spines|{BUILD_TIME}|{}",
                compression.rpm_name()
            )
        );
        let info = stdout(
            Command::new("rpm")
                .args(["-qip", "--nosignature"])
                .arg(&rpm),
        );
        assert!(
            info.contains("Description :\nKeeps the ZTPServer VM"),
            "{info}"
        );
        assert!(info.contains("Architecture: x86_64"), "{info}");
    }
}

#[test]
fn payload_is_never_zstd() {
    if !have_tools("payload_is_never_zstd", &["rpm"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rpm = write_rpm(
        dir.path(),
        PayloadCompression::default(),
        &fake_binary(4096),
    );
    assert_eq!(rpm_query(&rpm, "%{PAYLOADCOMPRESSOR}"), "gzip");
    let rpm = write_rpm(dir.path(), PayloadCompression::Xz, &fake_binary(4096));
    assert_eq!(rpm_query(&rpm, "%{PAYLOADCOMPRESSOR}"), "xz");
}

#[test]
fn rpm_lists_one_root_owned_executable() {
    if !have_tools("rpm_lists_one_root_owned_executable", &["rpm"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let binary = fake_binary(10_000);
    let rpm = write_rpm(dir.path(), PayloadCompression::Gzip, &binary);
    let list = stdout(
        Command::new("rpm")
            .args(["-qlp", "--nosignature"])
            .arg(&rpm),
    );
    assert_eq!(list, "/usr/bin/ztps-agent\n");
    let files = rpm_query(
        &rpm,
        "[%{FILENAMES} %{FILEMODES:octal} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILESIZES} %{FILEMTIMES}\n]",
    );
    assert_eq!(
        files,
        format!(
            "/usr/bin/ztps-agent 100755 root root {} {BUILD_TIME}\n",
            binary.len()
        )
    );
}

#[test]
fn rpm_checks_the_digests_and_notices_corruption() {
    if !have_tools("rpm_checks_the_digests_and_notices_corruption", &["rpm"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for compression in [PayloadCompression::Gzip, PayloadCompression::Xz] {
        let rpm = write_rpm(dir.path(), compression, &fake_binary(50_000));
        let out = stdout(Command::new("rpm").args(["-K", "--nosignature"]).arg(&rpm));
        assert!(out.trim_end().ends_with("digests OK"), "{out}");
        // rpm 4.11 (EOS before 4.32) checks the SHA-1 header digest and the MD5
        // over header and payload; newer rpm adds SHA-256. All must be there.
        let verbose = stdout(Command::new("rpm").args(["-Kv", "--nosignature"]).arg(&rpm));
        for digest in [
            "Header SHA1 digest: OK",
            "Header SHA256 digest: OK",
            "MD5 digest: OK",
        ] {
            assert!(verbose.contains(digest), "{digest} missing:\n{verbose}");
        }

        // Flip a byte near the end (inside the compressed payload): rpm must object.
        let mut bytes = std::fs::read(&rpm).unwrap();
        let at = bytes.len() - 100;
        bytes[at] ^= 0xff;
        let bad = dir.path().join("corrupt.rpm");
        std::fs::write(&bad, bytes).unwrap();
        let out = Command::new("rpm")
            .args(["-K", "--nosignature"])
            .arg(&bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "rpm -K accepted a corrupted package");
    }
}

#[test]
fn rpm_installs_the_agent_into_a_scratch_root() {
    // `rpm --root` chroots, which needs root; the testkit skips (or fails in CI) otherwise.
    if !ztps_testkit::netns_available("rpm_installs_the_agent_into_a_scratch_root")
        || !have_tools("rpm_installs_the_agent_into_a_scratch_root", &["rpm"])
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let binary = fake_binary(200_000);
    let rpm = write_rpm(dir.path(), PayloadCompression::Xz, &binary);
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    run(Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["-i", "--nodeps", "--noscripts", "--nosignature"])
        .arg(&rpm));

    let installed = root.join("usr/bin/ztps-agent");
    assert_eq!(std::fs::read(&installed).unwrap(), binary);
    let mode = std::fs::metadata(&installed).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o755);

    let query = stdout(
        Command::new("rpm")
            .arg("--root")
            .arg(&root)
            .args(["-q", "ztps-agent"]),
    );
    assert_eq!(query.trim(), "ztps-agent-0.3.1-2.x86_64");
    // rpm -V compares the installed file against the header's digest, size and mode.
    let verify = stdout(
        Command::new("rpm")
            .arg("--root")
            .arg(&root)
            .args(["-V", "ztps-agent"]),
    );
    assert_eq!(verify, "");
}

/// EOS images with a 32-bit userland run rpm as i686: it must take the i686
/// package (same static binary) and refuse the x86_64 one, as it does on a
/// switch. `setarch i686` gives rpm that view of the machine.
#[test]
fn a_32_bit_userland_installs_the_i686_package_and_refuses_x86_64() {
    if !ztps_testkit::netns_available(
        "a_32_bit_userland_installs_the_i686_package_and_refuses_x86_64",
    ) || !have_tools(
        "a_32_bit_userland_installs_the_i686_package_and_refuses_x86_64",
        &["rpm", "setarch"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A real x86_64 executable as the payload (coreutils' printf, small), so
    // that "the installed binary runs" is checked.
    let binary = std::fs::read("/usr/bin/printf").unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let install = |arch: Arch| {
        let mut spec = spec(PayloadCompression::Gzip);
        spec.arch = arch;
        let path = dir.path().join(spec.rpm_file_name());
        std::fs::write(&path, build_rpm(&spec, &binary).unwrap()).unwrap();
        Command::new("setarch")
            .args(["i686", "rpm", "--root"])
            .arg(&root)
            .args(["-ivh", "--nodeps", "--nosignature"])
            .arg(&path)
            .output()
            .unwrap()
    };

    let refused = install(Arch::X86_64);
    assert!(
        !refused.status.success(),
        "the i686 rpm took an x86_64 package"
    );
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("intended for a different architecture"),
        "{why}"
    );

    let installed = install(Arch::I686);
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let query = stdout(
        Command::new("setarch")
            .args(["i686", "rpm", "--root"])
            .arg(&root)
            .args(["-q", "ztps-agent"]),
    );
    assert_eq!(query.trim(), "ztps-agent-0.3.1-2.i686");
    // Run the x86_64 payload from where rpm put it, under the 32-bit personality.
    let ran = Command::new("setarch")
        .arg("i686")
        .arg(root.join("usr/bin/ztps-agent"))
        .args(["%s", "ran under i686"])
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "ran under i686");
}

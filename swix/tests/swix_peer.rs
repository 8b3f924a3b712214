//! The SWIX checked by Info-ZIP and by Arista's own switools.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use sha1::{Digest, Sha1};
use ztps_swix::{Arch, Manifest, PayloadCompression, SwixError, write_swix};

fn sha1_hex(data: &[u8]) -> String {
    Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn entries(swix: &Path) -> Vec<(String, zip::CompressionMethod, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(swix).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            (file.name().unwrap().to_string(), file.compression(), data)
        })
        .collect()
}

fn write(dir: &Path, binary: &[u8]) -> PathBuf {
    write_arch(dir, binary, Arch::X86_64)
}

fn write_arch(dir: &Path, binary: &[u8], arch: Arch) -> PathBuf {
    let out = match arch {
        Arch::X86_64 => dir.join("ztps-agent.swix"),
        Arch::I686 => dir.join("ztps-agent-i686.swix"),
    };
    let mut spec = spec(PayloadCompression::Gzip);
    spec.arch = arch;
    write_swix(&spec, binary, &out).unwrap();
    out
}

#[test]
fn swix_holds_a_stored_manifest_and_rpm_whose_sha1_matches() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("agent.swix");
    let summary = write_swix(&spec(PayloadCompression::Xz), &fake_binary(30_000), &out).unwrap();

    let entries = entries(&out);
    let names: Vec<&str> = entries.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["manifest.txt", "ztps-agent-0.3.1-2.x86_64.rpm"]);
    for (name, method, _) in &entries {
        assert_eq!(*method, zip::CompressionMethod::Stored, "{name}");
    }
    let manifest = Manifest::parse(std::str::from_utf8(&entries[0].2).unwrap()).unwrap();
    let rpm = &entries[1].2;
    assert_eq!(manifest.primary_rpm, "ztps-agent-0.3.1-2.x86_64.rpm");
    assert_eq!(
        manifest.rpms,
        vec![(manifest.primary_rpm.clone(), sha1_hex(rpm))]
    );
    assert_eq!(summary.rpm_sha1, sha1_hex(rpm));
    assert_eq!(summary.rpm_size, rpm.len() as u64);
    assert_eq!(summary.swix_size, std::fs::metadata(&out).unwrap().len());
}

#[test]
fn same_input_gives_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let binary = fake_binary(100_000);
    for compression in [PayloadCompression::Gzip, PayloadCompression::Xz] {
        let (a, b) = (dir.path().join("a.swix"), dir.path().join("b.swix"));
        write_swix(&spec(compression), &binary, &a).unwrap();
        // Let the clock move on: nothing in the output may depend on it.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        write_swix(&spec(compression), &binary, &b).unwrap();
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{compression:?}"
        );
    }
    let mut other = spec(PayloadCompression::Gzip);
    other.build_time = ztps_swix::BuildTime::from_unix(common::BUILD_TIME + 1);
    let c = dir.path().join("c.swix");
    write_swix(&other, &binary, &c).unwrap();
    assert_ne!(
        std::fs::read(dir.path().join("a.swix")).unwrap(),
        std::fs::read(&c).unwrap()
    );
}

#[test]
fn failed_write_leaves_the_old_file_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let out = write(dir.path(), &fake_binary(1000));
    let before = std::fs::read(&out).unwrap();

    let err = write_swix(&spec(PayloadCompression::Gzip), &[], &out).unwrap_err();
    assert!(matches!(err, SwixError::EmptyBinary), "{err:?}");
    let mut bad = spec(PayloadCompression::Gzip);
    bad.version = "1-2".into();
    let err = write_swix(&bad, &fake_binary(1000), &out).unwrap_err();
    assert!(err.to_string().contains("version"), "{err}");
    let missing = dir.path().join("no/such/dir/x.swix");
    let err = write_swix(
        &spec(PayloadCompression::Gzip),
        &fake_binary(1000),
        &missing,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no/such/dir"), "{err}");

    assert_eq!(std::fs::read(&out).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("ztps-agent.swix")]);
}

#[test]
fn info_zip_sees_stored_entries_and_a_sound_archive() {
    if !have_tools(
        "info_zip_sees_stored_entries_and_a_sound_archive",
        &["unzip"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = write(dir.path(), &fake_binary(20_000));
    // `unzip -t` checks every CRC; `unzip -v` shows each entry's method.
    let test = stdout(Command::new("unzip").arg("-t").arg(&out));
    assert!(test.contains("No errors detected"), "{test}");
    let listing = stdout(Command::new("unzip").arg("-v").arg(&out));
    let methods: Vec<&str> = listing
        .lines()
        .filter(|l| l.contains("manifest.txt") || l.contains(".rpm"))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(methods, ["Stored", "Stored"], "{listing}");
    // The entries carry the build time (2024-05-31 16:08:37 UTC), not the clock.
    assert!(listing.contains("2024-05-31 16:08"), "{listing}");
}

#[test]
fn rpm_inside_the_swix_is_what_rpm_accepts() {
    if !have_tools("rpm_inside_the_swix_is_what_rpm_accepts", &["rpm"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = write(dir.path(), &fake_binary(20_000));
    let entries = entries(&out);
    let rpm = dir.path().join(&entries[1].0);
    std::fs::write(&rpm, &entries[1].2).unwrap();
    let check = stdout(Command::new("rpm").args(["-K", "--nosignature"]).arg(&rpm));
    assert!(check.contains("digests OK"), "{check}");
    assert_eq!(rpm_query(&rpm, "%{PAYLOADCOMPRESSOR}"), "gzip");
}

#[test]
fn manifest_matches_what_switools_swix_create_writes() {
    let Some(swix_create) = venv_tool(
        "manifest_matches_what_switools_swix_create_writes",
        "swix-create",
    ) else {
        return;
    };
    if !have_tools(
        "manifest_matches_what_switools_swix_create_writes",
        &["zip"],
    ) {
        return;
    }
    // Both architectures: the i686 RPM is what 32-bit EOS userlands install.
    for arch in [Arch::X86_64, Arch::I686] {
        let dir = tempfile::tempdir().unwrap();
        let ours = write_arch(dir.path(), &fake_binary(20_000), arch);
        let our_entries = entries(&ours);
        assert!(
            our_entries[1]
                .0
                .ends_with(&format!(".{}.rpm", arch.rpm_name()))
        );
        let rpm = dir.path().join(&our_entries[1].0);
        std::fs::write(&rpm, &our_entries[1].2).unwrap();

        let theirs = dir.path().join("theirs.swix");
        run(Command::new(&swix_create).arg(&theirs).arg(&rpm));
        let their_entries = entries(&theirs);
        assert_eq!(their_entries[0].0, "manifest.txt");
        assert_eq!(
            String::from_utf8_lossy(&our_entries[0].2),
            String::from_utf8_lossy(&their_entries[0].2)
        );
        assert_eq!(their_entries[1].2, our_entries[1].2);
    }
}

#[test]
fn switools_signs_and_verifies_the_swix() {
    let Some(python) = venv_tool("switools_signs_and_verifies_the_swix", "python3") else {
        return;
    };
    if !have_tools("switools_signs_and_verifies_the_swix", &["openssl", "zip"]) {
        return;
    }
    for arch in [Arch::X86_64, Arch::I686] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let out = write_arch(d, &fake_binary(20_000), arch);
        make_test_pki(d);

        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/switools_sign_verify.py");
        let report = stdout(Command::new(&python).arg(script).arg(&out).args([
            d.join("sign.crt"),
            d.join("sign.key"),
            d.join("root.crt"),
        ]));
        assert_eq!(report, "unsigned: 3\nsigned: 0\n");

        // Signing appended an entry; ours are untouched and still match the manifest.
        let entries = entries(&out);
        let names: Vec<&str> = entries.iter().map(|(n, _, _)| n.as_str()).collect();
        let rpm_name = format!("ztps-agent-0.3.1-2.{}.rpm", arch.rpm_name());
        assert_eq!(names, ["manifest.txt", rpm_name.as_str(), "swix-signature"]);
        let manifest = Manifest::parse(std::str::from_utf8(&entries[0].2).unwrap()).unwrap();
        assert_eq!(manifest.rpms[0].1, sha1_hex(&entries[1].2));
    }
}

/// A program from the switools venv, or a visible skip (a failure in CI).
fn venv_tool(test: &str, name: &str) -> Option<PathBuf> {
    let found = ztps_testkit::venv_program(name);
    if found.is_none() {
        // Reuses the testkit's skip-or-fail rule with a name that cannot be on PATH.
        ztps_testkit::tools_available(
            test,
            &[&format!("{name} (from ci/python/pkg.txt, in $ZTPS_VENV)")],
        );
    }
    found
}

/// A throwaway root CA and a signing certificate issued by it.
fn make_test_pki(dir: &Path) {
    let openssl = |args: &[&str]| run(Command::new("openssl").current_dir(dir).args(args));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "root.key",
        "-out",
        "root.crt",
        "-subj",
        "/CN=ztps test root",
        "-days",
        "2",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "sign.key",
        "-out",
        "sign.csr",
        "-subj",
        "/CN=ztps test signer",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "sign.csr",
        "-CA",
        "root.crt",
        "-CAkey",
        "root.key",
        "-CAcreateserial",
        "-out",
        "sign.crt",
        "-days",
        "2",
    ]);
}

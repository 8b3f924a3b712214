#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The data disk read back by independent tools: `fsck.vfat` finds a clean
//! FAT32, `mdir` lists the label and folders, `mcopy` copies each file out
//! byte for byte, and two builds of the same files are the same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

use ztps_appliance::{Error, write_data_disk_file};
use ztps_config::DataDiskFile;
use ztps_testkit::{run_ok, tools_available};

/// A file of `len` bytes that differs from every other one (a pattern
/// seeded by `seed`), and its SHA-256 by `sha256sum`.
fn source(dir: &Path, name: &str, len: usize, seed: u8) -> (PathBuf, String) {
    let path = dir.join(name);
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] ^ seed)
        .collect();
    std::fs::write(&path, bytes).unwrap();
    let out = run_ok(Command::new("sha256sum").arg(&path));
    let sha = String::from_utf8(out.stdout).unwrap()[..64].to_string();
    (path, sha)
}

fn entry(dir: &'static str, (source, sha256): &(PathBuf, String)) -> DataDiskFile {
    DataDiskFile {
        dir,
        name: source.file_name().unwrap().to_string_lossy().into_owned(),
        source: source.clone(),
        sha256: sha256.clone(),
    }
}

#[test]
fn independent_tools_read_back_every_file() {
    let test = "data_disk::independent_tools_read_back_every_file";
    if !tools_available(
        test,
        &["fsck.vfat", "mdir", "mcopy", "minfo", "blkid", "sha256sum"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = source(dir.path(), "EOS-4.32.2F.swi", 5 * 1024 * 1024 + 17, 1);
    let swix = source(dir.path(), "TerminAttr-1.29.0-1.swix", 700_001, 2);
    let rpm = source(dir.path(), "extra.rpm", 0, 3);
    let files = vec![
        entry("images", &image),
        entry("extensions", &swix),
        entry("extensions", &rpm),
    ];
    let disk = dir.path().join("a.img");
    let summary = write_data_disk_file(&disk, &files).unwrap();
    assert_eq!(
        summary.files,
        [
            "images/EOS-4.32.2F.swi",
            "extensions/TerminAttr-1.29.0-1.swix",
            "extensions/extra.rpm"
        ]
    );
    assert_eq!(std::fs::metadata(&disk).unwrap().len(), summary.size);

    let fsck = run_ok(Command::new("fsck.vfat").arg("-n").arg(&disk));
    let report = String::from_utf8_lossy(&fsck.stdout);
    // Exit 0 says clean; a note (an unset free-cluster count) is still a flaw.
    assert_eq!(report.lines().count(), 2, "fsck.vfat: {report}");
    // How the appliance's fstab finds it (LABEL=ZTPSDATA).
    let label = run_ok(
        Command::new("blkid")
            .args(["-s", "LABEL", "-o", "value"])
            .arg(&disk),
    );
    assert_eq!(String::from_utf8_lossy(&label.stdout).trim(), "ZTPSDATA");
    let info = run_ok(Command::new("minfo").arg("-i").arg(&disk).arg("::"));
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("disk type=\"FAT32   \""), "minfo: {info}");
    assert!(info.contains("sector size: 2048"), "minfo: {info}");

    let listing = run_ok(
        Command::new("mdir")
            .args(["-i"])
            .arg(&disk)
            .args(["::/"])
            .env("MTOOLS_SKIP_CHECK", "1"),
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("Volume in drive : is ZTPSDATA"),
        "{listing}"
    );
    for folder in ["images", "extensions"] {
        assert!(listing.contains(folder), "{folder} missing from {listing}");
    }

    for (served, (original, _)) in summary.files.iter().zip([&image, &swix, &rpm]) {
        let copy = dir.path().join("copy");
        let _ = std::fs::remove_file(&copy);
        run_ok(
            Command::new("mcopy")
                .arg("-i")
                .arg(&disk)
                .arg(format!("::/{served}"))
                .arg(&copy),
        );
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            std::fs::read(original).unwrap(),
            "{served} differs"
        );
    }

    // The same files again: the same bytes.
    let again = dir.path().join("b.img");
    write_data_disk_file(&again, &files).unwrap();
    assert!(
        std::fs::read(&disk).unwrap() == std::fs::read(&again).unwrap(),
        "two builds of the same files differ"
    );
}

#[test]
fn a_file_that_is_not_the_catalogued_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("EOS.swi");
    std::fs::write(&path, b"not the image").unwrap();
    let files = [DataDiskFile {
        dir: "images",
        name: "EOS.swi".into(),
        source: path.clone(),
        sha256: "0".repeat(64),
    }];
    match write_data_disk_file(&dir.path().join("d.img"), &files) {
        Err(Error::Digest {
            path: p,
            expected,
            actual,
        }) => {
            assert_eq!(p, path);
            assert_eq!(expected, "0".repeat(64));
            assert_eq!(actual.len(), 64);
            assert_ne!(actual, expected);
        }
        other => panic!("expected a digest error, got {other:?}"),
    }
    // An existing disk is never written over.
    let existing = dir.path().join("e.img");
    std::fs::write(&existing, b"keep").unwrap();
    assert!(matches!(
        write_data_disk_file(&existing, &[]),
        Err(Error::Write { .. })
    ));
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep");
}

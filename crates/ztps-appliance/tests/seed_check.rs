//! One set of seed errors, two judges: the Rust check `ztps-agent render
//! seed` applies and the appliance's boot-time `ztps-seed-check` (the very
//! file the image installs, run with python3 as the image runs it). Both
//! must accept the rendered seed and refuse every broken one, naming the
//! same file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use ztps_appliance::seed::SeedFiles;
use ztps_appliance::{Error, NicMatch, NodeIdentifier, SeedSpec, check_seed_dir};

fn script() -> PathBuf {
    // Not ztps_testkit::workspace_root(): that may name another checkout.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../vm-image/rootfs/usr/local/sbin/ztps-seed-check")
}

fn good() -> SeedFiles {
    SeedSpec {
        hostname: "ztps-site7".into(),
        address: "192.0.2.10/24".parse().unwrap(),
        gateway: Ipv4Addr::new(192, 0, 2, 1),
        dns: vec![],
        ssh_authorized_key: None,
        console_password_hash: None,
        server_url: "http://192.0.2.10:8080".into(),
        identifier: NodeIdentifier::SerialNumber,
        nic: NicMatch::default(),
        ztpserver_files: vec![],
    }
    .render()
    .unwrap()
}

fn write(dir: &Path, files: &SeedFiles) {
    std::fs::write(dir.join("meta-data"), &files.meta_data).unwrap();
    std::fs::write(dir.join("user-data"), &files.user_data).unwrap();
    std::fs::write(dir.join("network-config"), &files.network_config).unwrap();
}

/// The appliance's verdict: exit code, stdout and the health file.
fn appliance(dir: &Path) -> Option<(i32, String, serde_json::Value)> {
    if ztps_testkit::which("python3").is_none() {
        assert!(
            !ztps_testkit::netns_required(),
            "python3 is missing and ZTPS_REQUIRE_NETNS=1 forbids skipping"
        );
        eprintln!("SKIPPED the appliance side: python3 is not installed");
        return None;
    }
    let health = dir.join("health/seed.json");
    let out = Command::new("python3")
        .arg(script())
        .arg("--seed-dir")
        .arg(dir)
        .arg("--health-file")
        .arg(&health)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&std::fs::read(&health).unwrap()).unwrap();
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        json,
    ))
}

/// user-data with its JSON edited by `edit`.
fn user(files: &SeedFiles, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let body = files.user_data.strip_prefix("#cloud-config\n").unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(body).unwrap();
    edit(&mut doc);
    format!("#cloud-config\n{doc}\n")
}

fn conf_with(files: &SeedFiles, conf: &str) -> String {
    user(files, |doc| {
        doc["write_files"][0]["content"] = base64::engine::general_purpose::STANDARD
            .encode(conf)
            .into();
    })
}

fn net(files: &SeedFiles, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(&files.network_config).unwrap();
    edit(&mut doc);
    doc.to_string()
}

#[test]
fn the_rendered_seed_passes_both() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &good());
    check_seed_dir(dir.path()).unwrap();
    if let Some((code, out, health)) = appliance(dir.path()) {
        assert_eq!(code, 0, "{out}");
        assert_eq!(out.trim(), "ztps-seed: ok");
        assert_eq!(health["seed"], "ok");
    }
}

#[test]
fn every_broken_seed_is_refused_by_both_naming_the_same_file() {
    let g = good();
    let conf =
        |url: &str| format!("[default]\ndata_root = /usr/share/ztpserver\nserver_url = {url}\n");
    // (what is broken, the file both must name, the broken seed; None: the
    // file is left out)
    type Case = (&'static str, &'static str, Option<SeedFiles>);
    let with = |f: &dyn Fn(&mut SeedFiles)| {
        let mut files = g.clone();
        f(&mut files);
        Some(files)
    };
    let cases: Vec<Case> = vec![
        (
            "user-data cut short",
            "user-data",
            with(&|f| f.user_data.truncate(f.user_data.len() / 2)),
        ),
        (
            "user-data is garbage",
            "user-data",
            with(&|f| f.user_data = "\u{0}\u{1}garbage".into()),
        ),
        (
            "no #cloud-config line",
            "user-data",
            with(&|f| f.user_data = f.user_data.replacen("#cloud-config\n", "", 1)),
        ),
        (
            "no ztpserver.conf",
            "user-data",
            with(&|f| f.user_data = user(f, |d| d["write_files"] = serde_json::json!([]))),
        ),
        (
            "no server_url line",
            "user-data",
            with(&|f| f.user_data = conf_with(f, "[default]\ndata_root = /usr/share/ztpserver\n")),
        ),
        (
            "server_url without scheme",
            "user-data",
            with(&|f| f.user_data = conf_with(f, &conf("192.0.2.10:8080"))),
        ),
        (
            "server_url without host",
            "user-data",
            with(&|f| f.user_data = conf_with(f, &conf("http:///bootstrap"))),
        ),
        (
            "content not base64",
            "user-data",
            with(&|f| {
                f.user_data = user(f, |d| d["write_files"][0]["content"] = "not base64!".into())
            }),
        ),
        (
            "a data file outside the data root",
            "user-data",
            with(&|f| {
                f.user_data = user(f, |d| {
                    d["write_files"]
                        .as_array_mut()
                        .unwrap()
                        .push(serde_json::json!({
                    "path": "/etc/shadow", "encoding": "b64", "content": ""}))
                })
            }),
        ),
        (
            "bad hostname",
            "user-data",
            with(&|f| f.user_data = user(f, |d| d["hostname"] = "-bad host".into())),
        ),
        (
            "hostname differs from meta-data",
            "user-data",
            with(&|f| f.user_data = user(f, |d| d["hostname"] = "other".into())),
        ),
        (
            "meta-data without instance-id",
            "meta-data",
            with(&|f| f.meta_data = r#"{"local-hostname": "ztps-site7"}"#.into()),
        ),
        (
            "meta-data is not JSON",
            "meta-data",
            with(&|f| f.meta_data = "instance-id: [".into()),
        ),
        (
            "network-config version 1",
            "network-config",
            with(&|f| f.network_config = net(f, |d| d["version"] = 1.into())),
        ),
        (
            "two NICs",
            "network-config",
            with(&|f| {
                f.network_config = net(f, |d| {
                    d["ethernets"]["eth1"] = d["ethernets"]["eth0"].clone()
                })
            }),
        ),
        (
            "address without prefix",
            "network-config",
            with(&|f| {
                f.network_config = net(f, |d| {
                    d["ethernets"]["eth0"]["addresses"] = serde_json::json!(["192.0.2.10"])
                })
            }),
        ),
        (
            "a /32 address",
            "network-config",
            with(&|f| {
                f.network_config = net(f, |d| {
                    d["ethernets"]["eth0"]["addresses"] = serde_json::json!(["192.0.2.10/32"])
                })
            }),
        ),
        (
            "gateway outside the subnet",
            "network-config",
            with(&|f| {
                f.network_config = net(f, |d| {
                    d["ethernets"]["eth0"]["routes"][0]["via"] = "198.51.100.1".into()
                })
            }),
        ),
        (
            "no default route",
            "network-config",
            with(&|f| {
                f.network_config = net(f, |d| {
                    d["ethernets"]["eth0"]["routes"] = serde_json::json!([])
                })
            }),
        ),
        ("network-config missing", "network-config", None),
    ];
    for (what, file, broken) in cases {
        let dir = tempfile::tempdir().unwrap();
        match &broken {
            Some(files) => write(dir.path(), files),
            None => {
                write(dir.path(), &g);
                std::fs::remove_file(dir.path().join(file)).unwrap();
            }
        }
        let err = check_seed_dir(dir.path()).expect_err(what);
        assert!(
            matches!(&err, Error::BadSeed { file: f, .. } if *f == file),
            "{what}: Rust said {err}"
        );
        if let Some((code, out, health)) = appliance(dir.path()) {
            assert_eq!(code, 1, "{what}: the appliance accepted it: {out}");
            assert!(
                out.starts_with(&format!("ztps-seed: ERROR {file}: ")),
                "{what}: {out}"
            );
            assert!(out.contains("ztps-agent render seed"), "{what}: {out}");
            assert_eq!(health["seed"], "error", "{what}");
            assert_eq!(health["problems"].as_array().unwrap().len(), 1, "{what}");
        }
    }
}

#[test]
fn a_missing_seed_disk_is_an_error_too() {
    // No --seed-dir: the boot-time path, looking for a disk by a label no
    // disk here has (not cidata: a cloud CI host may carry its own seed).
    if ztps_testkit::which("python3").is_none() || ztps_testkit::which("blkid").is_none() {
        eprintln!("SKIPPED: python3 or blkid missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let health = dir.path().join("seed.json");
    let out = Command::new("python3")
        .arg(script())
        .args(["--seed-label", "ztps-no-such-seed"])
        .arg("--health-file")
        .arg(&health)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("no seed disk attached"), "{stdout}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&health).unwrap()).unwrap();
    assert_eq!(json["seed"], "error");
}

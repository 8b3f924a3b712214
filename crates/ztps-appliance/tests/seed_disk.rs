//! The seed disk read back by real tools: util-linux `blkid` (what cloud-init
//! uses to find the `cidata` label), mtools (a FAT reader that is not ours)
//! and PyYAML (cloud-init's loader).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use ztps_appliance::ztpserver::{self, render};
use ztps_appliance::{LeafLink, NicMatch, NodeIdentifier, SeedSpec, ZtpsFabric, write_seed_image};

fn tools_present(tools: &[&str]) -> bool {
    for tool in tools {
        if ztps_testkit::which(tool).is_none() {
            let why = format!("`{tool}` is not installed (ci/packages/image.txt lists it)");
            if ztps_testkit::netns_required() {
                panic!("{why}, and ZTPS_REQUIRE_NETNS=1 forbids skipping");
            }
            eprintln!("SKIPPED seed_disk: {why}");
            return false;
        }
    }
    true
}

fn spec() -> SeedSpec {
    let fabric = ZtpsFabric {
        spine: "spine1".into(),
        leaves: vec![LeafLink {
            interface: "Ethernet3".into(),
            leaf: "leaf1".into(),
            leaf_interface: Some("Ethernet49".into()),
            subnet: "10.0.0.0/31".parse().unwrap(),
            serial: None,
            system_mac: None,
            image: None,
            extensions: None,
            speed: None,
        }],
        identifier: NodeIdentifier::SerialNumber,
        software: Default::default(),
        configs: Default::default(),
    };
    SeedSpec {
        hostname: "ztps-site7".into(),
        address: "192.0.2.10/24".parse().unwrap(),
        gateway: Ipv4Addr::new(192, 0, 2, 1),
        dns: vec![Ipv4Addr::new(192, 0, 2, 53)],
        ssh_authorized_key: Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOq7 ops@example".into()),
        console_password_hash: None,
        server_url: "http://192.0.2.10:8080".into(),
        identifier: NodeIdentifier::SerialNumber,
        nic: NicMatch::default(),
        ztpserver_files: render(&fabric).unwrap(),
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn blkid_finds_a_vfat_cidata_volume() {
    if !tools_present(&["blkid"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.img");
    write_seed_image(&spec(), &path).unwrap();
    let probe = run(Command::new(ztps_testkit::which("blkid").unwrap())
        .args(["-p", "-o", "export"])
        .arg(&path));
    assert!(probe.lines().any(|l| l == "TYPE=vfat"), "{probe}");
    assert!(probe.lines().any(|l| l == "LABEL=cidata"), "{probe}");
}

#[test]
fn mtools_reads_back_the_rendered_files() {
    if !tools_present(&["mtype", "mdir"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.img");
    let spec = spec();
    write_seed_image(&spec, &path).unwrap();
    let rendered = spec.render().unwrap();
    let mtype = |name: &str| {
        run(Command::new("mtype")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(&path)
            .arg(format!("::{name}")))
    };
    assert_eq!(mtype("meta-data"), rendered.meta_data);
    assert_eq!(mtype("user-data"), rendered.user_data);
    assert_eq!(mtype("network-config"), rendered.network_config);
    let listing = run(Command::new("mdir")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-b", "-i"])
        .arg(&path)
        .arg("::"));
    assert_eq!(listing.lines().count(), 3, "{listing}");
}

#[test]
fn same_spec_same_disk_and_failed_write_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.img"), dir.path().join("b.img"));
    write_seed_image(&spec(), &a).unwrap();
    write_seed_image(&spec(), &b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let missing = dir.path().join("no/such/dir/seed.img");
    assert!(write_seed_image(&spec(), &missing).is_err());
    let mut bad = spec();
    bad.gateway = Ipv4Addr::new(198, 51, 100, 1);
    let c = dir.path().join("c.img");
    assert!(write_seed_image(&bad, &c).is_err());
    assert!(!c.exists());
}

#[test]
fn cloud_init_yaml_loader_reads_the_seed() {
    let venv = std::env::var("ZTPS_VENV").unwrap_or_else(|_| "/var/cache/ztps-eos/venv".into());
    let python = Path::new(&venv).join("bin/python");
    if !python.is_file() {
        if ztps_testkit::netns_required() {
            panic!("no venv python at {}", python.display());
        }
        eprintln!("SKIPPED cloud_init_yaml_loader_reads_the_seed: no venv");
        return;
    }
    let files = spec().render().unwrap();
    // The checks cloud-init makes: user-data is a #cloud-config mapping,
    // network-config is version 2, and write_files decode to our files.
    let script = r##"
import base64, json, sys, yaml
user, net, meta = (yaml.safe_load(open(p)) for p in sys.argv[1:4])
assert open(sys.argv[1]).readline().strip() == "#cloud-config"
files = {f["path"]: base64.b64decode(f["content"]).decode() for f in user["write_files"]}
print(json.dumps({"hostname": user["hostname"], "version": net["version"],
    "gw": net["ethernets"]["eth0"]["routes"][0]["via"], "meta": meta["local-hostname"],
    "conf": files["/etc/ztpserver/ztpserver.conf"], "db": files["/usr/share/ztpserver/neighbordb"]}))
"##;
    let dir = tempfile::tempdir().unwrap();
    let mut paths = vec![];
    for (name, text) in [
        ("u", &files.user_data),
        ("n", &files.network_config),
        ("m", &files.meta_data),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        paths.push(p);
    }
    let out = run(Command::new(python).arg("-c").arg(script).args(&paths));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hostname"], "ztps-site7");
    assert_eq!(v["meta"], "ztps-site7");
    assert_eq!(v["version"], 2);
    assert_eq!(v["gw"], "192.0.2.1");
    assert!(
        v["conf"]
            .as_str()
            .unwrap()
            .contains("server_url = http://192.0.2.10:8080")
    );
    let db = ztpserver::render(&ZtpsFabric {
        spine: "spine1".into(),
        leaves: spec_leaves(),
        identifier: NodeIdentifier::SerialNumber,
        software: Default::default(),
        configs: Default::default(),
    })
    .unwrap();
    assert_eq!(v["db"], db[0].contents);
}

fn spec_leaves() -> Vec<LeafLink> {
    vec![LeafLink {
        interface: "Ethernet3".into(),
        leaf: "leaf1".into(),
        leaf_interface: Some("Ethernet49".into()),
        subnet: "10.0.0.0/31".parse().unwrap(),
        serial: None,
        system_mac: None,
        image: None,
        extensions: None,
        speed: None,
    }]
}

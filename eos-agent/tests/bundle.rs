//! `ztps-agent bundle`, `swix` and the file-writing `render` kinds, run as an
//! operator would, checked with real tools: sha256sum, rpm, unzip,
//! virt-xml-validate, file, and the fatfs crate reading the seed back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bundle_support;

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use bundle_support::*;

const TOOLS: &[&str] = &[
    "strip",
    "sha256sum",
    "unzip",
    "rpm",
    "virt-xml-validate",
    "file",
];

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Reads one file of a FAT image back with the fatfs crate.
fn fat_file(image: &Path, name: &str) -> String {
    let disk = std::fs::File::open(image).unwrap();
    let fs = fatfs::FileSystem::new(disk, fatfs::FsOptions::new()).unwrap();
    assert_eq!(fs.volume_label().trim_end(), "cidata");
    let mut text = String::new();
    fs.root_dir()
        .open_file(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// The contents cloud-init writes to `path`, from a user-data's `write_files`
/// (base64, decoded with the real `base64`).
fn written_file(user_data: &str, path: &str) -> String {
    let doc: serde_json::Value =
        serde_json::from_str(user_data.trim_start_matches("#cloud-config\n")).unwrap();
    let entry = doc["write_files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} not written: {user_data}"));
    let content = entry["content"].as_str().unwrap();
    if entry["encoding"] != "b64" {
        return content.to_string();
    }
    let mut child = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), content.as_bytes()).unwrap();
    text(&child.wait_with_output().unwrap().stdout)
}

#[test]
fn bundle_is_complete_verifiable_and_replaced_only_with_force() {
    if !ztps_testkit::tools_available(
        "bundle_is_complete_verifiable_and_replaced_only_with_force",
        TOOLS,
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let agent = stripped_agent(tmp.path());
    let binary = std::fs::read(&agent).unwrap();
    let fabric = example_fabric();
    let out = tmp.path().join("flash");

    let done = run(
        &agent,
        &[
            "bundle",
            "--fabric",
            fabric.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(done.status.success(), "{}", text(&done.stderr));
    let summary = text(&done.stdout);

    // The manifest verifies with the real sha256sum and names every file.
    let check = run_ok(
        Command::new("sha256sum")
            .args(["-c", "--strict", "MANIFEST.sha256"])
            .current_dir(&out),
    );
    let checked = text(&check.stdout);
    // A switch in service by default: only the snippet, no startup-config,
    // boot-config or boot-extensions of ours; a flash install carries no SWIX.
    for name in [
        "startup-config.snippet",
        "ztps.xml",
        "ztps-agent.toml",
        "ztps-agent",
        "ztps-seed.img",
        "README.txt",
    ] {
        assert!(
            checked.contains(&format!("{name}: OK")),
            "{name} not checked:\n{checked}"
        );
        let size = std::fs::metadata(out.join(name)).unwrap().len();
        assert!(
            summary
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name)
                    && l.split_whitespace().nth(1) == Some(size.to_string().as_str())),
            "summary lacks {name} ({size} bytes):\n{summary}"
        );
    }
    assert_eq!(checked.lines().count(), 6, "{checked}");
    for absent in [
        "startup-config",
        "boot-config",
        "boot-extensions",
        "boot-extensions.add",
        ".extensions",
    ] {
        assert!(
            !out.join(absent).exists(),
            "{absent} in a default flash bundle"
        );
    }

    // Flash install: the binary itself, executable; no extension to install at boot.
    assert_eq!(std::fs::read(out.join("ztps-agent")).unwrap(), binary);
    assert_eq!(mode(&out.join("ztps-agent")), 0o755);
    assert_eq!(mode(&out.join("startup-config.snippet")), 0o644);
    // The agent config may carry a webhook token: owner only.
    assert_eq!(mode(&out.join("ztps-agent.toml")), 0o600);
    assert_eq!(mode(&out), 0o755);
    let snippet = std::fs::read_to_string(out.join("startup-config.snippet")).unwrap();
    assert!(
        snippet.contains("exec /mnt/flash/ztps-agent run")
            && snippet.contains("copy flash:startup-config.snippet running-config")
            && !snippet.contains("hostname"),
        "{snippet}"
    );
    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap();
    for step in [
        "ztps-eos bundle for spine spine1",
        "spine# bash cp /mnt/usb1/ztps/ztps-agent /mnt/flash/ztps-agent",
        "NOT for this bundle: fullrecover erases the whole flash",
        "sha256sum -c MANIFEST.sha256",
        "spine# show daemon ztps",
        "spine# bash /mnt/flash/ztps-agent status",
        "ztps.xml opens /mnt/usb1/ztps.vmdk",
        "When it does not run",
    ] {
        assert!(readme.contains(step), "README lacks {step:?}:\n{readme}");
    }

    // The domain XML is valid for libvirt and attaches the bundle's seed read-only.
    let xml = std::fs::read_to_string(out.join("ztps.xml")).unwrap();
    assert!(
        xml.contains("<source file=\"/mnt/flash/ztps-seed.img\"/>"),
        "{xml}"
    );
    let valid = Command::new("virt-xml-validate")
        .arg(out.join("ztps.xml"))
        .arg("domain")
        .output()
        .unwrap();
    assert!(
        valid.status.success(),
        "{}{}",
        text(&valid.stdout),
        text(&valid.stderr)
    );

    // The seed: a FAT image labelled cidata with the three NoCloud files.
    let kind = text(&run_ok(Command::new("file").arg(out.join("ztps-seed.img"))).stdout);
    assert!(kind.contains("FAT") && kind.contains("cidata"), "{kind}");
    let seed = out.join("ztps-seed.img");
    let meta = fat_file(&seed, "meta-data");
    assert!(meta.contains("\"local-hostname\": \"ztps\""), "{meta}");
    let network = fat_file(&seed, "network-config");
    assert!(network.contains("172.16.130.10/24"), "{network}");
    assert!(network.contains("\"via\": \"172.16.130.254\""), "{network}");
    assert!(network.contains("08:00:27:85:0c:f8"), "{network}");
    let user = fat_file(&seed, "user-data");
    assert!(user.starts_with("#cloud-config\n"), "{user}");
    let conf = written_file(&user, "/etc/ztpserver/ztpserver.conf");
    assert!(
        conf.contains("server_url = http://172.16.130.10:8080"),
        "{conf}"
    );
    assert!(user.contains("/usr/share/ztpserver/neighbordb"), "{user}");
    assert!(
        user.contains("/usr/share/ztpserver/definitions/leaf4"),
        "{user}"
    );

    // A non-empty directory is refused and left exactly as it was.
    let before = std::fs::read(out.join("MANIFEST.sha256")).unwrap();
    std::fs::write(out.join("operator-notes.txt"), "keep me").unwrap();
    let refused = run(
        &agent,
        &[
            "bundle",
            "--fabric",
            fabric.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let err = text(&refused.stderr);
    assert!(
        err.contains("is not empty; refusing to overwrite it (use --force"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("MANIFEST.sha256")).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(out.join("operator-notes.txt")).unwrap(),
        "keep me"
    );

    // --force replaces it whole: here with the SWIX install mode.
    let swix_mode = tmp.path().join("swix-mode.toml");
    std::fs::write(&swix_mode, "[spines.spine1.agent]\ninstall = \"swix\"\n").unwrap();
    let swix_name = format!("ztps-agent-{}.swix", env!("CARGO_PKG_VERSION"));
    let replaced = run(
        &agent,
        &[
            "bundle",
            "--fabric",
            fabric.to_str().unwrap(),
            swix_mode.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--force",
        ],
    );
    assert!(replaced.status.success(), "{}", text(&replaced.stderr));
    assert!(
        !out.join("operator-notes.txt").exists(),
        "old contents survived --force"
    );
    assert!(
        !out.join("ztps-agent").exists(),
        "a SWIX install carries no flash binary"
    );
    // Not told the switch's boot-extensions, the bundle carries the line to
    // append, never a boot-extensions of its own.
    assert!(!out.join("boot-extensions").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("boot-extensions.add")).unwrap(),
        format!("{swix_name}\n")
    );
    let snippet = std::fs::read_to_string(out.join("startup-config.snippet")).unwrap();
    assert!(
        snippet.contains("exec /usr/bin/ztps-agent run"),
        "{snippet}"
    );
    let check = run_ok(
        Command::new("sha256sum")
            .args(["-c", "--strict", "MANIFEST.sha256"])
            .current_dir(&out),
    );
    assert_eq!(text(&check.stdout).lines().count(), 7);

    // The SWIX holds an RPM that installs exactly this binary; the example
    // boots EOS.swi, which may have a 32-bit userland, so the RPM is i686.
    let rpm = rpm_of_swix(
        &out.join(".extensions").join(&swix_name),
        &tmp.path().join("unzipped"),
        "i686",
    );
    let listed = run_ok(
        Command::new("rpm")
            .args(["-qlp", "--nosignature"])
            .arg(&rpm),
    );
    assert_eq!(text(&listed.stdout), "/usr/bin/ztps-agent\n");
    if ztps_testkit::netns_available("bundle rpm --root install") {
        assert!(
            rpm_install(&rpm, &tmp.path().join("root")) == binary,
            "the RPM installed other bytes"
        );
    }

    // Nothing of the staging is left beside the bundle.
    let mut beside: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(
        beside,
        ["flash", "root", "swix-mode.toml", "unzipped", "ztps-agent"]
            .iter()
            .filter(|n| **n != "root" || tmp.path().join("root").exists())
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
}

#[test]
fn secret_bearing_files_are_owner_only() {
    // Rendered to a file, the agent config (here with a webhook token) is
    // 0600 as in the bundle; other artifacts stay 0644.
    let tmp = tempfile::tempdir().unwrap();
    let fabric = tmp.path().join("webhook.toml");
    let text_in = std::fs::read_to_string(example_fabric()).unwrap()
        + "\n[spines.spine1.agent.events]\nwebhook_url = \"https://hooks.example.net/ztps?token=s3cret\"\n";
    std::fs::write(&fabric, text_in).unwrap();
    let agent = Path::new(env!("CARGO_BIN_EXE_ztps-agent"));
    for (kind, want) in [("agent-config", 0o600), ("startup-config", 0o644)] {
        let out = tmp.path().join(kind);
        let done = run(
            agent,
            &[
                "render",
                kind,
                "--fabric",
                fabric.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(done.status.success(), "{}", text(&done.stderr));
        assert_eq!(mode(&out), want, "{kind}");
    }
    let written = std::fs::read_to_string(tmp.path().join("agent-config")).unwrap();
    assert!(written.contains("token=s3cret"), "{written}");
}

#[test]
fn a_failed_bundle_leaves_no_directory_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("flash");
    let fabric = tmp.path().join("no-leaf-port.toml");
    // ZTPServer data needs each leaf's own port; without it the bundle
    // fails, at load, as `check` does.
    let text_in = std::fs::read_to_string(example_fabric())
        .unwrap()
        .replace("leaf_interface = \"Ethernet49\"\n", "");
    std::fs::write(&fabric, text_in).unwrap();
    let failed = run(
        Path::new(env!("CARGO_BIN_EXE_ztps-agent")),
        &[
            "bundle",
            "--fabric",
            fabric.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(failed.status.code(), Some(1));
    let err = text(&failed.stderr);
    assert!(
        err.contains(":54:1: spines.spine1.leaves[0].leaf_interface: is missing (leaf leaf1)"),
        "{err}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "staging left behind"
    );
}

#[test]
fn swix_packages_the_running_binary() {
    if !ztps_testkit::tools_available(
        "swix_packages_the_running_binary",
        &["strip", "unzip", "rpm"],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let agent = stripped_agent(tmp.path());
    let swix = tmp.path().join("out.swix");
    let done = Command::new(&agent)
        .args(["swix", "--version", "2.5.1", "--arch", "x86_64", "--out"])
        .arg(&swix)
        .env("SOURCE_DATE_EPOCH", "1717171717")
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", text(&done.stderr));
    assert!(
        text(&done.stdout).contains("ztps-agent-2.5.1-1.x86_64.rpm"),
        "{}",
        text(&done.stdout)
    );

    let rpm = rpm_of_swix(&swix, &tmp.path().join("unzipped"), "x86_64");
    let manifest = std::fs::read_to_string(tmp.path().join("unzipped/manifest.txt")).unwrap();
    assert!(
        manifest.contains("primaryRpm: ztps-agent-2.5.1-1.x86_64.rpm"),
        "{manifest}"
    );
    let fields = run_ok(
        Command::new("rpm")
            .args([
                "-qp",
                "--nosignature",
                "--qf",
                "%{VERSION}|%{BUILDTIME}|[%{FILENAMES} %{FILESIZES}]",
            ])
            .arg(&rpm),
    );
    let binary = std::fs::read(&agent).unwrap();
    assert_eq!(
        text(&fields.stdout),
        format!("2.5.1|1717171717|/usr/bin/ztps-agent {}", binary.len())
    );
    if ztps_testkit::netns_available("swix rpm --root install") {
        assert!(
            rpm_install(&rpm, &tmp.path().join("root")) == binary,
            "the RPM installed other bytes"
        );
    }

    // Without --arch the RPM is i686: it installs on every EOS userland.
    let default = tmp.path().join("default.swix");
    let done = Command::new(&agent)
        .args(["swix", "--version", "2.5.1", "--out"])
        .arg(&default)
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", text(&done.stderr));
    rpm_of_swix(&default, &tmp.path().join("unzipped-default"), "i686");
}

#[test]
fn render_seed_and_ztpserver_need_out_and_write_files() {
    let agent = Path::new(env!("CARGO_BIN_EXE_ztps-agent"));
    let fabric = example_fabric();
    let fabric = fabric.to_str().unwrap();
    for (kind, hint) in [("seed", "--out FILE"), ("ztpserver", "--out DIR")] {
        let out = run(agent, &["render", kind, "--fabric", fabric]);
        assert_eq!(out.status.code(), Some(1), "{kind}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("render {kind} writes")) && err.contains(hint),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let help = text(&run(agent, &["render", "--help"]).stdout);
    assert!(
        help.contains("`seed` and `ztpserver` write files and need --out"),
        "{help}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let seed = tmp.path().join("seed.img");
    let out = run(
        agent,
        &[
            "render",
            "seed",
            "--fabric",
            fabric,
            "--out",
            seed.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(fat_file(&seed, "user-data").contains("/usr/share/ztpserver/files/configs/leaf1"));

    let dir = tmp.path().join("data");
    let out = run(
        agent,
        &[
            "render",
            "ztpserver",
            "--fabric",
            fabric,
            "--out",
            dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let neighbordb = std::fs::read_to_string(dir.join("neighbordb")).unwrap();
    for port in ["Ethernet1", "Ethernet2", "Ethernet3", "Ethernet4"] {
        assert!(
            neighbordb.contains(&format!("spine1:{port}")),
            "{port} missing:\n{neighbordb}"
        );
    }
    for leaf in ["leaf1", "leaf2", "leaf3", "leaf4"] {
        assert!(dir.join("definitions").join(leaf).is_file(), "{leaf}");
        assert!(dir.join("files/configs").join(leaf).is_file(), "{leaf}");
    }
    let leaf3 = std::fs::read_to_string(dir.join("files/configs/leaf3")).unwrap();
    assert!(leaf3.contains("10.1.1.6/30"), "{leaf3}");
    // The leaves' bootstrap logs go to the agent on the spine's bridge, in
    // the appliance (through the seed) as in `render ztpserver`.
    let conf = std::fs::read_to_string(dir.join("bootstrap/bootstrap.conf")).unwrap();
    assert!(conf.contains("172.16.130.254:514"), "{conf}");
    assert!(fat_file(&seed, "user-data").contains("/usr/share/ztpserver/bootstrap/bootstrap.conf"));

    // Text kinds write --out instead of stdout.
    let file = tmp.path().join("startup-config");
    let out = run(
        agent,
        &[
            "render",
            "startup-config",
            "--fabric",
            fabric,
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success() && out.stdout.is_empty());
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("daemon ztps")
    );
}

/// Every file under `dir`, relative, sorted: to prove a run wrote nothing.
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    found.sort();
    found
}

#[test]
fn a_live_switch_keeps_its_config_and_extensions() {
    if !ztps_testkit::tools_available(
        "a_live_switch_keeps_its_config_and_extensions",
        &["strip", "sha256sum"],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let agent = stripped_agent(tmp.path());
    let fabric = example_fabric();
    let fabric = fabric.to_str().unwrap();
    let swix_mode = tmp.path().join("swix-mode.toml");
    std::fs::write(&swix_mode, "[spines.spine1.agent]\ninstall = \"swix\"\n").unwrap();
    let swix_mode = swix_mode.to_str().unwrap();
    let ours = format!("ztps-agent-{}.swix", env!("CARGO_PKG_VERSION"));

    // A copy of a spine's flash in service: CloudVision's TerminAttr, an
    // older agent, and a config of its own.
    let flash = tmp.path().join("flash-copy");
    std::fs::create_dir(&flash).unwrap();
    std::fs::write(
        flash.join("boot-extensions"),
        "TerminAttr-1.26.0-1.swix\nztps-agent-0.0.9.swix\n",
    )
    .unwrap();
    let startup = "hostname spine1\n!\nusername admin privilege 15 secret sha512 $6$x\n!\nend\n";
    std::fs::write(flash.join("startup-config"), startup).unwrap();
    let flash_before = tree(&flash);

    // --dry-run: every file with size and sha256, the diff, and nothing written.
    let out = tmp.path().join("bundle");
    let dry = run(
        &agent,
        &[
            "bundle",
            "--fabric",
            fabric,
            swix_mode,
            "--current-flash",
            flash.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let printed = text(&dry.stdout);
    assert!(!out.exists(), "--dry-run wrote {}", out.display());
    assert_eq!(tree(&flash), flash_before);
    assert!(
        printed.contains(
            "--- flash/boot-extensions\n+++ bundle/boot-extensions\n@@ -1,2 +1,2 @@\n TerminAttr-1.26.0-1.swix\n-ztps-agent-0.0.9.swix\n"
        ) && printed.contains(&format!("+{ours}\n")),
        "{printed}"
    );
    assert!(
        printed.contains("new file: startup-config.snippet"),
        "{printed}"
    );
    assert!(
        printed.contains("kept as it is: startup-config (not in this bundle)"),
        "{printed}"
    );

    // The same command without --dry-run: the files and hashes it printed.
    let done = run(
        &agent,
        &[
            "bundle",
            "--fabric",
            fabric,
            swix_mode,
            "--current-flash",
            flash.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(done.status.success(), "{}", text(&done.stderr));
    for name in [
        "startup-config.snippet",
        "boot-extensions",
        "ztps.xml",
        "ztps-agent.toml",
    ] {
        let bytes = std::fs::read(out.join(name)).unwrap();
        let sum = text(&run_ok(Command::new("sha256sum").arg(out.join(name))).stdout);
        let sum = sum.split_whitespace().next().unwrap().to_string();
        let line = printed
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("dry run did not list {name}:\n{printed}"));
        assert_eq!(
            line.split_whitespace().skip(1).collect::<Vec<_>>(),
            [bytes.len().to_string(), sum],
            "{name}"
        );
    }
    // Merged: TerminAttr kept in its place, the old agent replaced by ours.
    assert_eq!(
        std::fs::read_to_string(out.join("boot-extensions")).unwrap(),
        format!("TerminAttr-1.26.0-1.swix\n{ours}\n")
    );
    assert!(!out.join("startup-config").exists());
    assert!(!out.join("boot-config").exists());
    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap();
    assert!(
        readme.contains("kept as they were: TerminAttr-1.26.0-1.swix"),
        "{readme}"
    );
    run_ok(
        Command::new("sha256sum")
            .args(["-c", "--strict", "MANIFEST.sha256"])
            .current_dir(&out),
    );

    // A flash with no boot-extensions at all: ours alone, never empty.
    let bare = tmp.path().join("bare-flash");
    std::fs::create_dir(&bare).unwrap();
    let out2 = tmp.path().join("bundle2");
    let done = run(
        &agent,
        &[
            "bundle",
            "--fabric",
            fabric,
            swix_mode,
            "--current-flash",
            bare.to_str().unwrap(),
            "--out",
            out2.to_str().unwrap(),
        ],
    );
    assert!(done.status.success(), "{}", text(&done.stderr));
    assert_eq!(
        std::fs::read_to_string(out2.join("boot-extensions")).unwrap(),
        format!("{ours}\n")
    );

    // --new-switch: the whole startup-config and boot-config, fullrecover
    // explained; and the VM disk, copied whole and checksummed where it lands.
    let disk = tmp.path().join("appliance.vmdk");
    let disk_bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&disk, &disk_bytes).unwrap();
    let out3 = tmp.path().join("bundle3");
    let done = run(
        &agent,
        &[
            "bundle",
            "--fabric",
            fabric,
            "--new-switch",
            "--vm-disk",
            disk.to_str().unwrap(),
            "--out",
            out3.to_str().unwrap(),
        ],
    );
    assert!(done.status.success(), "{}", text(&done.stderr));
    assert!(
        text(&done.stderr).contains("100%"),
        "{}",
        text(&done.stderr)
    );
    let startup = std::fs::read_to_string(out3.join("startup-config")).unwrap();
    assert!(startup.contains("hostname spine1\n"), "{startup}");
    assert_eq!(
        std::fs::read_to_string(out3.join("boot-config")).unwrap(),
        "SWI=flash:EOS.swi\n"
    );
    assert!(!out3.join("startup-config.snippet").exists());
    // vm.disk is /mnt/usb1/ztps.vmdk: the disk keeps that name, with its own
    // checksum file, and MANIFEST.sha256 (checked on flash) leaves it out.
    assert_eq!(std::fs::read(out3.join("ztps.vmdk")).unwrap(), disk_bytes);
    let check = run_ok(
        Command::new("sha256sum")
            .args(["-c", "--strict", "ztps.vmdk.sha256"])
            .current_dir(&out3),
    );
    assert_eq!(text(&check.stdout), "ztps.vmdk: OK\n");
    let manifest = std::fs::read_to_string(out3.join("MANIFEST.sha256")).unwrap();
    assert!(
        !manifest.contains("  ztps.vmdk\n") && manifest.contains("  ztps.vmdk.sha256\n"),
        "{manifest}"
    );
    let readme = std::fs::read_to_string(out3.join("README.txt")).unwrap();
    for step in [
        "touch /media/usb/fullrecover",
        "spine# bash cp /mnt/usb1/ztps/ztps.vmdk /mnt/usb1/ztps.vmdk",
        "spine# bash cd /mnt/usb1 && sha256sum -c /mnt/flash/ztps.vmdk.sha256",
        "spine# reload",
    ] {
        assert!(readme.contains(step), "README lacks {step:?}:\n{readme}");
    }
}

#[test]
fn out_files_are_not_overwritten_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = Path::new(env!("CARGO_BIN_EXE_ztps-agent"));
    let fabric = example_fabric();
    let fabric = fabric.to_str().unwrap();
    let file = tmp.path().join("startup-config");
    std::fs::write(&file, "the switch's own\n").unwrap();
    let path = file.to_str().unwrap();

    let refused = run(
        agent,
        &[
            "render",
            "startup-config",
            "--fabric",
            fabric,
            "--out",
            path,
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("exists; refusing to overwrite it (use --force"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "the switch's own\n"
    );

    let swix = run(agent, &["swix", "--out", path]);
    assert_eq!(swix.status.code(), Some(1));
    assert!(
        text(&swix.stderr).contains("exists; refusing to overwrite it (use --force"),
        "{}",
        text(&swix.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "the switch's own\n"
    );

    // The example runs the agent from flash: no boot-extensions line, and
    // never an empty file that would drop the switch's extensions.
    let empty = tmp.path().join("boot-extensions");
    let none = run(
        agent,
        &[
            "render",
            "boot-extensions",
            "--fabric",
            fabric,
            "--out",
            empty.to_str().unwrap(),
        ],
    );
    assert_eq!(none.status.code(), Some(1));
    assert!(
        text(&none.stderr).contains("needs no boot-extensions line"),
        "{}",
        text(&none.stderr)
    );
    assert!(!empty.exists());

    let forced = run(
        agent,
        &[
            "render",
            "startup-config",
            "--fabric",
            fabric,
            "--out",
            path,
            "--force",
        ],
    );
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("daemon ztps")
    );
}

/// A fabric whose leaves install an EOS image and an extension: the bundle
/// carries them on the data disk beside the VM disk (no management network
/// to download them over), with its own checksum file, and the domain XML
/// attaches it. A file that is not the catalogued one stops the bundle.
#[test]
fn the_leaves_images_travel_on_a_data_disk() {
    let test = "the_leaves_images_travel_on_a_data_disk";
    if !ztps_testkit::tools_available(test, &["strip", "sha256sum", "mcopy"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let agent = stripped_agent(tmp.path());
    let site = tmp.path().join("site");
    std::fs::create_dir_all(site.join("images")).unwrap();
    let image: Vec<u8> = (0..2_500_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(site.join("images/EOS-4.32.2F.swi"), &image).unwrap();
    std::fs::write(site.join("images/TerminAttr-1.29.swix"), b"a swix").unwrap();
    let sha = |name: &str| {
        let out = run_ok(Command::new("sha256sum").arg(site.join("images").join(name)));
        text(&out.stdout)[..64].to_string()
    };
    let catalogue = format!(
        "\n[software]\nimage = \"eos\"\nextensions = [\"terminattr\"]\n\n[images.eos]\nfile = \"images/EOS-4.32.2F.swi\"\nsha256 = \"{}\"\nversion = \"4.32.2F\"\n\n[extensions.terminattr]\nfile = \"images/TerminAttr-1.29.swix\"\nsha256 = \"{}\"\n",
        sha("EOS-4.32.2F.swi"),
        sha("TerminAttr-1.29.swix")
    );
    let fabric = site.join("fabric.toml");
    std::fs::write(
        &fabric,
        std::fs::read_to_string(example_fabric()).unwrap() + &catalogue,
    )
    .unwrap();
    let fabric = fabric.to_str().unwrap();

    // check reads the files: valid.
    let check = run(&agent, &["check", "--fabric", fabric]);
    assert!(check.status.success(), "{}", text(&check.stderr));

    // A dry run names the disk and writes nothing.
    let out = tmp.path().join("flash");
    let dry = run(&agent, &["bundle", "--fabric", fabric, "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("ztps-data.img"),
        "{}",
        text(&dry.stdout)
    );
    assert!(!out.exists());

    let done = run(
        &agent,
        &["bundle", "--fabric", fabric, "--out", out.to_str().unwrap()],
    );
    assert!(done.status.success(), "{}", text(&done.stderr));
    // vm.disk is on /mnt/usb1: the data disk goes there too, checked by its
    // own checksum file, which the manifest covers.
    run_ok(
        Command::new("sha256sum")
            .args(["-c", "--strict", "ztps-data.img.sha256"])
            .current_dir(&out),
    );
    let manifest = std::fs::read_to_string(out.join("MANIFEST.sha256")).unwrap();
    assert!(manifest.contains("  ztps-data.img.sha256\n"), "{manifest}");
    assert!(!manifest.contains("  ztps-data.img\n"), "{manifest}");
    let copy = tmp.path().join("copy.swi");
    run_ok(
        Command::new("mcopy")
            .arg("-i")
            .arg(out.join("ztps-data.img"))
            .arg("::/images/EOS-4.32.2F.swi")
            .arg(&copy),
    );
    assert!(std::fs::read(&copy).unwrap() == image, "the image differs");
    let xml = std::fs::read_to_string(out.join("ztps.xml")).unwrap();
    assert!(
        xml.contains("<source file=\"/mnt/usb1/ztps-data.img\"/>"),
        "{xml}"
    );
    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap();
    for needle in [
        "bash cp /mnt/usb1/ztps/ztps-data.img /mnt/usb1/ztps-data.img",
        "files/images/EOS-4.32.2F.swi",
        "files/extensions/TerminAttr-1.29.swix",
    ] {
        assert!(
            readme.contains(needle),
            "README lacks {needle:?}:\n{readme}"
        );
    }

    // The image changes after the fabric was written: check names the line,
    // and the bundle refuses it, leaving nothing behind.
    std::fs::write(site.join("images/EOS-4.32.2F.swi"), b"truncated").unwrap();
    let check = run(&agent, &["check", "--fabric", fabric]);
    assert!(!check.status.success());
    assert!(
        text(&check.stderr).contains("images.eos.sha256: "),
        "{}",
        text(&check.stderr)
    );
    let again = tmp.path().join("again");
    let refused = run(
        &agent,
        &[
            "bundle",
            "--fabric",
            fabric,
            "--out",
            again.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("has SHA-256"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!again.exists());
}

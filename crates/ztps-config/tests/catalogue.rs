#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The software catalogue: `[images]`, `[extensions]`, `[software]` and each
//! leaf's selection, checked with positions; `check`'s file checks read the
//! files and compare their SHA-256.

use std::path::{Path, PathBuf};

use ztps_config::{Error, parse_fabric, parse_fabric_and_files};

fn example() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fabric.toml"),
    )
    .unwrap()
}

/// A well-formed digest, for the checks that do not read the files.
const IMAGE_SHA: &str = "1aa1ec6bbab2b5d6d3ad3f2dd2bb3a9ad8d6e1f7c2a4e9b5c6f6c2d0f4b6e8a1";

fn sha256sum(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// The example fabric with a catalogue appended; the image and extension
/// files are given by `image_file` and `ext_file`.
fn with_catalogue(image_file: &str, image_sha: &str, ext_file: &str, ext_sha: &str) -> String {
    format!(
        "{}\n[software]\nimage = \"eos\"\nextensions = [\"terminattr\"]\n\n[images.eos]\nfile = \"{image_file}\"\nsha256 = \"{image_sha}\"\nversion = \"4.32.2F\"\n\n[extensions.terminattr]\nfile = \"{ext_file}\"\nsha256 = \"{ext_sha}\"\n",
        example()
    )
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

fn problems(result: Result<ztps_config::Fabric, Error>) -> Vec<String> {
    match result {
        Ok(_) => panic!("expected the fabric to be rejected"),
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[test]
fn leaves_take_the_default_unless_their_link_chooses() {
    let text = with_catalogue(
        "EOS-4.32.2F.swi",
        IMAGE_SHA,
        "TerminAttr-1.29.swix",
        IMAGE_SHA,
    )
    .replacen(
        "leaf = \"leaf2\"\n",
        "leaf = \"leaf2\"\nimage = \"eos\"\nextensions = []\n",
        1,
    );
    let fabric = parse_fabric(&[("site/fabric.toml".into(), text)]).unwrap();
    let spine = fabric.spine(None).unwrap();
    let (name, image) = spine.catalogue.leaf_image(&spine.leaves[0]).unwrap();
    assert_eq!(name, "eos");
    assert_eq!(image.version, "4.32.2F");
    // Relative to the fabric file's folder.
    assert_eq!(image.file, PathBuf::from("site/EOS-4.32.2F.swi"));
    assert_eq!(spine.catalogue.leaf_extensions(&spine.leaves[0]).len(), 1);
    assert!(spine.catalogue.leaf_extensions(&spine.leaves[1]).is_empty());
    let files = spine.data_disk_files();
    let served: Vec<String> = files.iter().map(|f| f.served_path()).collect();
    assert_eq!(
        served,
        ["images/EOS-4.32.2F.swi", "extensions/TerminAttr-1.29.swix"]
    );
    assert_eq!(
        spine.data_disk_path(),
        Some(PathBuf::from("/mnt/usb1/ztps-data.img")),
        "beside vm.disk"
    );
    // The agent has no use for the selection: its derived config stays as it was.
    let agent = spine.agent_config().to_toml().unwrap();
    assert!(!agent.contains("image"), "{agent}");
}

#[test]
fn no_catalogue_no_data_disk() {
    let fabric = parse_fabric(&[("fabric.toml".into(), example())]).unwrap();
    let spine = fabric.spine(None).unwrap();
    assert!(spine.data_disk_files().is_empty());
    assert_eq!(spine.data_disk_path(), None);
}

#[test]
fn catalogue_mistakes_are_reported_at_their_lines() {
    let text = with_catalogue("EOS 4.32.swi", "abc", "TerminAttr.tar", IMAGE_SHA)
        .replace("version = \"4.32.2F\"", "version = \"4.32\"")
        .replace("image = \"eos\"", "image = \"eos-4.33\"")
        .replacen(
            "leaf = \"leaf3\"\n",
            "leaf = \"leaf3\"\nextensions = [\"terminattr\", \"cvp\"]\n",
            1,
        );
    let got = problems(parse_fabric(&[("f.toml".into(), text.clone())]));
    let expect = [
        (
            line_of(&text, "image = \"eos-4.33\""),
            "software.image: no [images.eos-4.33] describes \"eos-4.33\"",
        ),
        (
            line_of(&text, "file = \"EOS 4.32.swi\""),
            "images.eos.file: \"EOS 4.32.swi\" is not a file name on flash",
        ),
        (
            line_of(&text, "sha256 = \"abc\""),
            "images.eos.sha256: \"abc\" is not a SHA-256; give the 64 hex digits",
        ),
        (
            line_of(&text, "version = \"4.32\""),
            "images.eos.version: \"4.32\" is not an EOS version",
        ),
        (
            line_of(&text, "file = \"TerminAttr.tar\""),
            "extensions.terminattr.file: \"TerminAttr.tar\" is not a file name on flash",
        ),
        (
            line_of(&text, "extensions = [\"terminattr\", \"cvp\"]"),
            "spines.spine1.leaves[2].extensions[1]: no [extensions.cvp] describes \"cvp\"",
        ),
    ];
    for (line, needle) in expect {
        assert!(
            got.iter()
                .any(|p| p.starts_with(&format!("f.toml:{line}:")) && p.contains(needle)),
            "no problem at line {line} with {needle:?} in:\n{}",
            got.join("\n")
        );
    }
    assert_eq!(got.len(), 6, "{}", got.join("\n"));
}

#[test]
fn two_files_of_one_name_collide_on_the_data_disk() {
    let text = format!(
        "{}\n[images.a]\nfile = \"x/EOS.swi\"\nsha256 = \"{IMAGE_SHA}\"\nversion = \"4.32.2F\"\n\n[images.b]\nfile = \"y/EOS.swi\"\nsha256 = \"{IMAGE_SHA}\"\nversion = \"4.33.1F\"\n",
        example()
    );
    let got = problems(parse_fabric(&[("f.toml".into(), text.clone())]));
    let line = line_of(&text, "file = \"y/EOS.swi\"");
    assert_eq!(
        got,
        [format!(
            "f.toml:{line}:8: images.b.file: EOS.swi is also the file of images.a.file; both would be images/EOS.swi on the data disk, so rename one"
        )]
    );
}

#[test]
fn a_data_disk_path_must_be_its_own_img_file() {
    let text = example().replace(
        "disk_format = \"vmdk\"",
        "disk_format = \"vmdk\"\ndata_disk = \"/mnt/usb1/ztps.vmdk\"",
    );
    let got = problems(parse_fabric(&[("f.toml".into(), text.clone())]));
    let line = line_of(&text, "data_disk = ");
    assert_eq!(
        got,
        [format!(
            "f.toml:{line}:13: spines.spine1.vm.data_disk: /mnt/usb1/ztps.vmdk is also the VM's system disk; give the data disk its own file, like /mnt/usb1/ztps-data.img"
        )]
    );
}

#[test]
fn check_reads_each_file_and_compares_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("EOS-4.32.2F.swi");
    // More than one read buffer, so the streamed hash covers several reads.
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&image, &bytes).unwrap();
    let actual = sha256sum(&image);
    let fabric_path = dir.path().join("fabric.toml");
    let name = fabric_path.display().to_string();

    let ext = dir.path().join("TerminAttr-1.29.swix");
    std::fs::write(&ext, b"swix").unwrap();

    // Right digests, relative paths: valid.
    let good = with_catalogue(
        "EOS-4.32.2F.swi",
        &actual,
        "TerminAttr-1.29.swix",
        &sha256sum(&ext),
    );
    parse_fabric_and_files(&[(name.clone(), good.clone())]).unwrap();

    // A wrong digest names the line of sha256, both digests and the fix.
    let wrong = "0".repeat(64);
    let bad = good.replacen(&actual, &wrong, 1);
    let got = problems(parse_fabric_and_files(&[(name.clone(), bad.clone())]));
    let line = line_of(&bad, &wrong);
    assert_eq!(
        got,
        [format!(
            "{name}:{line}:10: images.eos.sha256: {} has SHA-256 {actual}, not {wrong}; if the file is the one you mean, set sha256 = \"{actual}\", otherwise copy the right file (a download cut short or another release has another digest)",
            image.display()
        )]
    );
    // The plain load does not read the files.
    parse_fabric(&[(name.clone(), bad)]).unwrap();

    // A missing file is reported at `file`.
    std::fs::remove_file(&ext).unwrap();
    let got = problems(parse_fabric_and_files(&[(name.clone(), good.clone())]));
    let line = line_of(&good, "file = \"TerminAttr-1.29.swix\"");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(&format!(
            "{name}:{line}:8: extensions.terminattr.file: {} does not exist;",
            ext.display()
        )),
        "{got:?}"
    );

    // A directory is not an image.
    std::fs::create_dir(&ext).unwrap();
    let got = problems(parse_fabric_and_files(&[(name, good)]));
    assert!(got[0].contains("is not a regular file"), "{got:?}");
}

#[test]
fn the_agent_config_refuses_a_leaf_image() {
    let text = "[dhcp]\nbootstrap_url = \"http://172.16.130.10:8080/bootstrap\"\n[[leaves]]\ninterface = \"Ethernet1\"\nleaf = \"leaf1\"\nsubnet = \"10.1.1.0/31\"\nimage = \"eos\"\n";
    let got = match ztps_config::parse_agent_config("a.toml", text) {
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect::<Vec<_>>(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        got,
        [
            "a.toml:7:9: leaves[0].image: the agent config takes no image; name it on the leaf's link in the fabric, which renders the ZTPServer definition from it"
        ]
    );
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! From the fabric's catalogue to each leaf's definition: the image and the
//! extensions a leaf names, served from the data disk's folders.

use std::path::Path;

use ztps_appliance::{ZtpsFabric, ztpserver};

fn fabric_with_catalogue() -> ztps_config::Fabric {
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fabric.toml"),
    )
    .unwrap();
    let sha = "ab".repeat(32);
    let text = example.replacen(
        "leaf = \"leaf2\"\n",
        "leaf = \"leaf2\"\nimage = \"eos-4-33\"\nextensions = []\n",
        1,
    ) + &format!(
        "\n[software]\nimage = \"eos-4-32\"\nextensions = [\"terminattr\"]\n\
         [images.eos-4-32]\nfile = \"/srv/EOS-4.32.2F.swi\"\nsha256 = \"{sha}\"\nversion = \"4.32.2F\"\n\
         [images.eos-4-33]\nfile = \"/srv/EOS-4.33.1F.swi\"\nsha256 = \"{sha}\"\nversion = \"4.33.1F\"\n\
         [extensions.terminattr]\nfile = \"/srv/TerminAttr-1.29.0-1.swix\"\nsha256 = \"{sha}\"\n"
    );
    ztps_config::parse_fabric(&[("f.toml".into(), text)]).unwrap()
}

#[test]
fn each_leaf_gets_the_actions_of_its_own_software() {
    let fabric = fabric_with_catalogue();
    let spine = fabric.spine(None).unwrap();
    let data = ztpserver::render(&ZtpsFabric::of_spine(spine)).unwrap();
    let definition = |leaf: &str| {
        data.iter()
            .find(|f| f.path == format!("definitions/{leaf}"))
            .unwrap()
            .contents
            .clone()
    };
    assert_eq!(
        definition("leaf1"),
        "# Rendered by ztps-eos: Day-1 definition of leaf1.\n\
         name: \"leaf1\"\n\
         actions:\n  \
           - name: \"EOS 4.32.2F\"\n    \
             action: \"install_image\"\n    \
             attributes:\n      \
               url: \"files/images/EOS-4.32.2F.swi\"\n      \
               version: \"4.32.2F\"\n  \
           - name: \"extension TerminAttr-1.29.0-1.swix\"\n    \
             action: \"install_extension\"\n    \
             attributes:\n      \
               url: \"files/extensions/TerminAttr-1.29.0-1.swix\"\n  \
           - name: \"startup-config of leaf1\"\n    \
             action: \"replace_config\"\n    \
             attributes:\n      \
               url: \"files/configs/leaf1\"\n"
    );
    // leaf2 chose its own image and no extension.
    let leaf2 = definition("leaf2");
    assert!(
        leaf2.contains("url: \"files/images/EOS-4.33.1F.swi\"\n      version: \"4.33.1F\"\n"),
        "{leaf2}"
    );
    assert!(!leaf2.contains("install_extension"), "{leaf2}");
    // The data disk carries exactly what the definitions point at.
    let served: Vec<String> = spine
        .data_disk_files()
        .iter()
        .map(|f| f.served_path())
        .collect();
    assert_eq!(
        served,
        [
            "images/EOS-4.32.2F.swi",
            "images/EOS-4.33.1F.swi",
            "extensions/TerminAttr-1.29.0-1.swix"
        ]
    );
}

#[test]
fn a_path_that_would_leave_its_folder_is_refused() {
    let fabric = fabric_with_catalogue();
    let mut ztps = ZtpsFabric::of_spine(fabric.spine(None).unwrap());
    let install = ztps.software.get_mut("leaf1").unwrap();
    install.image.as_mut().unwrap().path = "images/../configs/leaf1".into();
    let error = ztpserver::render(&ztps).unwrap_err().to_string();
    assert!(error.contains("a file name under images/"), "{error}");
    let mut ztps = ZtpsFabric::of_spine(fabric.spine(None).unwrap());
    ztps.software.insert("leaf9".into(), Default::default());
    let error = ztpserver::render(&ztps).unwrap_err().to_string();
    assert!(error.contains("names no leaf"), "{error}");
}

//! `check` is the one gate: whatever string an operator puts in a name field
//! of the fabric, either the loader refuses it (with a located problem) or
//! every artifact renders, ZTPServer's data included, and none of them gains
//! a line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use proptest::prelude::*;
use ztps_appliance::ZtpsFabric;
use ztps_render::{Artifact, render};

fn example() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fabric.toml"),
    )
    .unwrap()
}

/// The fields a name goes into, as (text to replace, template, a valid value).
const FIELDS: &[(&str, &str, &str)] = &[
    ("leaf = \"leaf1\"", "leaf = VALUE", "leaf1"),
    (
        "leaf_interface = \"Ethernet49\"",
        "leaf_interface = VALUE",
        "Ethernet49",
    ),
    (
        "interface = \"Ethernet1\"",
        "interface = VALUE",
        "Ethernet1",
    ),
    ("eos_image = \"EOS.swi\"", "eos_image = VALUE", "EOS.swi"),
    ("name = \"ztps\"", "name = VALUE", "ztps"),
    ("vcpus = 1", "vcpus = 1\nmachine = VALUE", "pc"),
    (
        "[spines.spine1]\n",
        "[spines.spine1]\nserial = VALUE\n",
        "JPE1",
    ),
    (
        "",
        "\n[spines.spine1.agent]\ninstall = \"swix\"\nswix_file = VALUE\n",
        "a.swix",
    ),
    (
        "port = 8080",
        "url = VALUE",
        "http://172.16.130.10:8080/bootstrap",
    ),
];

/// The example with the field set to `value`.
fn with(field: usize, value: &str) -> String {
    let (from, template, _) = FIELDS[field];
    let line = template.replace("VALUE", &toml_string(value));
    let example = example();
    if from.is_empty() {
        example + &line
    } else {
        example.replacen(from, &line, 1)
    }
}

fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_string()).to_string()
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._-]{0,12}",
        "[a-zA-Z0-9 ./:_<>\"'\\\\&;#=\\[\\]{}-]{0,16}",
        "(Ethernet|Et|ethernet)[0-9]{0,3}(/[0-9]{1,2}){0,3}",
        "[a-z]{1,6}\\.(swi|swix|bin)",
        "http://172\\.16\\.130\\.10:8080/[a-z ]{0,6}",
        ".{0,12}",
    ]
}

fn lines(text: &str) -> usize {
    text.lines().count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn what_loads_renders_and_adds_no_line(field in 0..FIELDS.len(), value in value()) {
        let fabric = match ztps_config::parse_fabric(&[("f.toml".into(), with(field, &value))]) {
            Ok(fabric) => fabric,
            Err(error) => {
                let diagnostics = error.diagnostics().expect("located problems");
                prop_assert!(diagnostics.iter().all(|d| d.location.is_some()), "{error}");
                return Ok(());
            }
        };
        prop_assert!(!value.chars().any(char::is_control), "{value:?} was accepted");
        let base = with(field, FIELDS[field].2);
        let base = ztps_config::parse_fabric(&[("f.toml".into(), base)]).unwrap();
        let base = base.spine(None).unwrap();
        let spine = fabric.spine(None).unwrap();
        for artifact in Artifact::ALL {
            let got = render(artifact, spine).unwrap();
            let want = render(artifact, base).unwrap();
            prop_assert_eq!(lines(&got), lines(&want), "{}: {}", artifact, got);
        }
        let files = ztps_appliance::ztpserver::render(&ZtpsFabric::of_spine(spine));
        prop_assert!(files.is_ok(), "{:?}", files.err());
        let want = ztps_appliance::ztpserver::render(&ZtpsFabric::of_spine(base)).unwrap();
        let files = files.unwrap();
        prop_assert_eq!(files.len(), want.len());
        for (got, want) in files.iter().zip(&want) {
            prop_assert_eq!(lines(&got.contents), lines(&want.contents), "{}", got.path);
        }
    }
}

/// The fabric loader (what `check` and `render seed` read) and the seed agree
/// on console password hashes: both accept or both refuse, and a refusal is
/// located at the key and never repeats the value (it may be a password).
#[test]
fn the_fabric_and_the_seed_agree_on_console_password_hashes() {
    let candidates = [
        "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1",
        "$5$jR0Kz//utOWInLB0$PbU.3ZyTkBs7RblxSTsi7KgRC2SU2mbECMtN99voU78",
        "correct horse battery staple",
        "$6$saltsalt$short",
        "$1$saltsalt$0123456789abcdef012345",
        "$6$salt salt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1",
    ];
    let mut accepted = 0;
    for hash in candidates {
        let text = example().replacen(
            "name = \"ztps\"",
            &format!(
                "name = \"ztps\"\nconsole_password_hash = {}",
                toml_string(hash)
            ),
            1,
        );
        let fabric = ztps_config::parse_fabric(&[("f.toml".into(), text)]);
        let seed = ztps_appliance::SeedSpec {
            hostname: "ztps".into(),
            address: "192.0.2.10/24".parse().unwrap(),
            gateway: "192.0.2.1".parse().unwrap(),
            dns: vec![],
            ssh_authorized_key: None,
            console_password_hash: Some(ztps_config::PasswordHash(hash.into())),
            server_url: "http://192.0.2.10:8080".into(),
            identifier: Default::default(),
            nic: Default::default(),
            ztpserver_files: vec![],
        }
        .validate();
        assert_eq!(
            fabric.is_ok(),
            seed.is_ok(),
            "{hash}: {:?} vs {:?}",
            fabric.err(),
            seed.err()
        );
        if let Err(error) = fabric {
            let text = error.to_string();
            assert!(text.contains("f.toml:"), "{text}");
            assert!(text.contains("vm.console_password_hash"), "{text}");
            assert!(!text.contains(hash), "{text}");
            assert!(!seed.unwrap_err().to_string().contains(hash));
        } else {
            let spine = fabric.unwrap();
            let spine = spine.spine(None).unwrap();
            assert_eq!(
                spine
                    .vm
                    .as_ref()
                    .unwrap()
                    .console_password_hash
                    .as_ref()
                    .map(|h| h.0.as_str()),
                Some(hash)
            );
            accepted += 1;
        }
    }
    assert_eq!(accepted, 2);
}

//! Leaf configs from the operator's Jinja2 template: the example template
//! renders a config that configures every planned uplink, and a mistake in
//! a template is reported at its file and line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ztps_config::{Fabric, load_fabric};
use ztps_render::{render_template, uplink_mismatches};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn fabric() -> Fabric {
    load_fabric(&[root().join("../examples/fabric-2spine.toml")]).unwrap()
}

#[test]
fn the_example_template_configures_every_planned_uplink() {
    let fabric = fabric();
    let source = std::fs::read_to_string(root().join("../examples/templates/leaf.j2")).unwrap();
    for plan in fabric.leaf_plans() {
        let text = render_template("leaf.j2", &source, &fabric, &plan).unwrap();
        assert_eq!(uplink_mismatches(&plan, &text), [], "{text}");
        assert!(
            text.contains(&format!("router bgp {}\n", plan.asn)),
            "{text}"
        );
        for uplink in &plan.uplinks {
            assert!(
                text.contains(&format!(
                    "   neighbor {} remote-as {}\n",
                    uplink.peer_ip,
                    uplink.peer_asn.unwrap()
                )),
                "{text}"
            );
        }
        if plan.hostname == "leaf1" {
            let golden = root().join("tests/golden/2spine-template/leaf1.cfg");
            if std::env::var("ZTPS_BLESS").is_ok_and(|v| v == "1") {
                std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
                std::fs::write(&golden, &text).unwrap();
            }
            assert_eq!(text, std::fs::read_to_string(&golden).unwrap());
        }
    }
}

#[test]
fn a_template_error_names_the_file_and_line() {
    let fabric = fabric();
    let plan = &fabric.leaf_plans()[0];
    // A misspelt name, on line 3: not rendered as nothing.
    let source = "hostname {{ hostname }}\n!\nrouter bgp {{ leaf_asn }}\n";
    let err = render_template("templates/leaf.j2", source, &fabric, plan).unwrap_err();
    assert_eq!(
        (err.file.as_str(), err.line),
        ("templates/leaf.j2", Some(3))
    );
    assert!(
        err.to_string()
            .starts_with("templates/leaf.j2:3: undefined value"),
        "{err}"
    );
    // A syntax error, on line 2.
    let source = "hostname {{ hostname }}\n{% for uplink in %}\n{% endfor %}\n";
    let err = render_template("templates/leaf.j2", source, &fabric, plan).unwrap_err();
    assert_eq!(err.line, Some(2), "{err}");
    assert!(err.to_string().contains("syntax error"), "{err}");
    // A field an uplink does not have, inside a loop on line 4.
    let source = "{% for uplink in uplinks %}\ninterface {{ uplink.interface }}\n   ip address {{ uplink.address }}\n   mtu {{ uplink.mtu }}\n{% endfor %}\n";
    let err = render_template("t.j2", source, &fabric, plan).unwrap_err();
    assert_eq!(err.line, Some(4), "{err}");
}

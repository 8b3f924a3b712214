//! The fabric model with several spines: exactly one hosts the ZTPServer,
//! leaves have an uplink to every spine, and every rule that spans spines
//! is reported at the offending entry, with the first entry it clashes with.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use ztps_config::{Error, LeafConfigSource, parse_fabric};

const FILE: &str = "fabric-2spine.toml";

fn example() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fabric-2spine.toml"),
    )
    .unwrap()
}

/// The 1-based line of the only line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "{needle:?} is on lines {lines:?}");
    lines[0]
}

fn problems(text: &str) -> Vec<String> {
    match parse_fabric(&[(FILE.to_string(), text.to_string())]) {
        Ok(_) => panic!("expected the fabric to be rejected"),
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// The one problem at `line` (file:line:), with everything it says.
fn problem_at(got: &[String], line: usize) -> String {
    let prefix = format!("{FILE}:{line}:");
    let at: Vec<&String> = got.iter().filter(|p| p.starts_with(&prefix)).collect();
    assert_eq!(at.len(), 1, "one problem at line {line} in {got:#?}");
    at[0].clone()
}

/// spine2's link to `leaf`, as the example writes it.
fn spine2_link(n: usize) -> String {
    format!(
        "interface = \"Ethernet{n}\"\nleaf = \"leaf{n}\"\nleaf_interface = \"Ethernet50\"\nsubnet = \"10.1.2.{}/31\"",
        2 * (n - 1)
    )
}

#[test]
fn the_two_spine_example_plans_every_leaf_on_both_spines() {
    let fabric = parse_fabric(&[(FILE.to_string(), example())]).unwrap();
    assert_eq!(fabric.host_spine().unwrap().name, "spine1");
    let spine2 = fabric.spine(Some("spine2")).unwrap();
    assert!(
        spine2.vm.is_none() && spine2.bridge.is_none(),
        "no VM laid from [defaults.vm]"
    );
    let plans = fabric.leaf_plans();
    assert_eq!(plans.len(), 8);
    for (i, plan) in plans.iter().enumerate() {
        assert_eq!(plan.hostname, format!("leaf{}", i + 1));
        assert_eq!(plan.source, LeafConfigSource::BuiltIn);
        let ends: Vec<(&str, &str, &str, &str)> = plan
            .uplinks
            .iter()
            .map(|u| {
                (
                    u.interface.as_str(),
                    u.address.as_str(),
                    u.peer.as_str(),
                    u.peer_address.as_str(),
                )
            })
            .collect();
        let (a, b) = (2 * i, 2 * i + 1);
        assert_eq!(
            ends,
            [
                (
                    "Ethernet49",
                    &*format!("10.1.1.{b}/31"),
                    "spine1",
                    &*format!("10.1.1.{a}/31")
                ),
                (
                    "Ethernet50",
                    &*format!("10.1.2.{b}/31"),
                    "spine2",
                    &*format!("10.1.2.{a}/31")
                ),
            ]
        );
    }
    assert_eq!(
        (plans[0].asn, plans[0].loopback.to_string()),
        (65101, "10.255.0.1".into())
    );
    assert_eq!(
        (plans[6].asn, plans[6].loopback.to_string()),
        (65107, "10.255.0.7".into())
    );
    assert_eq!(
        (plans[7].asn, plans[7].loopback.to_string()),
        (65199, "10.255.0.99".into()),
        "given in [leaves.leaf8]"
    );
    assert_eq!(spine2.leaf_asns.get("leaf3"), Some(&65103));
}

#[test]
fn a_second_spine_with_a_vm_is_reported_at_its_vm_table() {
    let text = example().replace(
        "[spines.spine2]\n",
        "[spines.spine2]\n\n[spines.spine2.vm]\naddress = \"172.16.131.10/24\"\nmac = \"08:00:27:85:0c:f9\"\ndisk = \"/mnt/usb1/ztps.vmdk\"\n",
    );
    let got = problems(&text);
    let line = line_of(&text, "[spines.spine2.vm]");
    let first = line_of(&text, "[spines.spine1.vm]");
    let p = problem_at(&got, line);
    assert!(
        p.contains("spines.spine2.vm: spine spine1 hosts the ZTPServer already")
            && p.ends_with(&format!("(first at {FILE}:{first}:1)")),
        "{p}"
    );
}

#[test]
fn a_link_whose_ends_disagree_is_refused() {
    // The leaf end names a spine.
    let text = example().replace(
        &spine2_link(3),
        &spine2_link(3).replace("\"leaf3\"", "\"spine1\""),
    );
    let got = problems(&text);
    let line = line_of(&text, "leaf = \"spine1\"");
    let p = problem_at(&got, line);
    assert!(
        p.contains("the link's two ends disagree: its leaf end names spine spine1"),
        "{p}"
    );

    // The two links of leaf2 say it is two different switches.
    let text = example()
        .replacen(
            "subnet = \"10.1.1.2/31\"\n",
            "subnet = \"10.1.1.2/31\"\nserial = \"JPE0000A\"\n",
            1,
        )
        .replacen(
            "subnet = \"10.1.2.2/31\"\n",
            "subnet = \"10.1.2.2/31\"\nserial = \"JPE0000B\"\n",
            1,
        );
    let got = problems(&text);
    let p = problem_at(&got, line_of(&text, "JPE0000B"));
    let first = line_of(&text, "JPE0000A");
    assert!(
        p.contains(
            "spines.spine2.leaves[1].serial: the link's two ends disagree: leaf leaf2 is JPE0000A"
        ) && p.ends_with(&format!("(first at {FILE}:{first}:10)")),
        "{p}"
    );
}

#[test]
fn a_subnet_used_twice_anywhere_is_refused_with_both_places() {
    // Across spines.
    let text = example().replace("subnet = \"10.1.2.4/31\"", "subnet = \"10.1.1.4/31\"");
    let got = problems(&text);
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("10.1.1.4/31"))
        .map(|(i, _)| i + 1)
        .collect();
    let p = problem_at(&got, lines[1]);
    assert!(
        p.contains("spines.spine2.leaves[2].subnet: 10.1.1.4/31 overlaps 10.1.1.4/31")
            && p.ends_with(&format!("(first at {FILE}:{}:10)", lines[0])),
        "{p}"
    );
    // Inside the VM subnet.
    let text = example().replace("subnet = \"10.1.2.14/31\"", "subnet = \"172.16.130.8/31\"");
    let got = problems(&text);
    let p = problem_at(&got, line_of(&text, "172.16.130.8/31"));
    let vm = line_of(&text, "address = \"172.16.130.10/24\"");
    assert!(
        p.contains("172.16.130.8/31 overlaps 172.16.130.0/24")
            && p.ends_with(&format!("(first at {FILE}:{vm}:11)")),
        "{p}"
    );
    // Inside the leaves' loopback pool.
    let text = example().replace("subnet = \"10.1.2.14/31\"", "subnet = \"10.255.0.200/31\"");
    let got = problems(&text);
    let p = problem_at(&got, line_of(&text, "10.255.0.200/31"));
    assert!(
        p.contains("overlaps 10.255.0.0/24 (underlay.loopback_pool)"),
        "{p}"
    );
}

#[test]
fn two_links_on_one_port_are_refused_at_either_end() {
    // The spine's end.
    let text = example().replace(
        &spine2_link(2),
        &spine2_link(2).replace("Ethernet2", "Ethernet1"),
    );
    let got = problems(&text);
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "interface = \"Ethernet1\"")
        .map(|(i, _)| i + 1)
        .collect();
    // spine1's, then spine2's two: the third is the second on spine2.
    let p = problem_at(&got, lines[2]);
    assert!(
        p.contains("spines.spine2.leaves[1].interface: Ethernet1 is already used by leaves[0]")
            && p.ends_with(&format!("(first at {FILE}:{}:13)", lines[1])),
        "{p}"
    );
}

#[test]
fn two_links_on_one_leaf_port_are_refused() {
    let text = example().replace(
        &spine2_link(5),
        &spine2_link(5).replace("\"Ethernet50\"", "\"Ethernet49\" # again"),
    );
    let got = problems(&text);
    let line = line_of(&text, "# again");
    let p = problem_at(&got, line);
    assert!(
        p.contains("spines.spine2.leaves[4].leaf_interface: leaf5 Ethernet49 already carries a link; each leaf port carries one link (first at"),
        "{p}"
    );
}

#[test]
fn a_leaf_without_an_uplink_to_the_host_is_refused() {
    let text = format!(
        "{}\n[[spines.spine2.leaves]]\ninterface = \"Ethernet9\"\nleaf = \"leaf9\"\nleaf_interface = \"Ethernet50\"\nsubnet = \"10.1.2.16/31\"\n",
        example()
    );
    let got = problems(&text);
    let p = problem_at(&got, line_of(&text, "leaf = \"leaf9\""));
    assert!(
        p.contains("spines.spine2.leaves[8].leaf: leaf leaf9 has no uplink to spine1, the spine hosting the ZTPServer"),
        "{p}"
    );
}

#[test]
fn no_host_at_all_is_refused() {
    let cut = |text: &str, from: &str, to: &str| {
        let start = text.find(from).unwrap();
        let end = text.find(to).unwrap();
        format!("{}{}", &text[..start], &text[end..])
    };
    let text = cut(&example(), "[spines.spine1.loopback]", "# The second spine");
    let got = problems(&text);
    assert!(
        got.iter()
            .any(|p| p.contains("spines: no spine hosts the ZTPServer")),
        "{got:#?}"
    );
}

//! `ztps-agent run` as a DHCP server alone (issue 3): a config with only
//! `[dhcp]` serves leaves and touches nothing else (no bridge, no eAPI, no VM).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_common;

use std::time::Duration;

use agent_common::Lab;

#[test]
fn a_dhcp_only_config_serves_leases_and_creates_no_bridge() {
    ztps_testkit::require_netns!("busybox", "curl");
    let lab = Lab::new(1);
    lab.link_up(1);
    let url = "http://192.0.2.10/bootstrap";
    let config = lab.path("dhcp-only.toml");
    std::fs::write(
        &config,
        format!(
            "[dhcp]\nbootstrap_url = \"{url}\"\nlease_file = \"{}\"\n",
            lab.path("leases").display()
        ),
    )
    .unwrap();
    // The status endpoint keeps its default, 127.0.0.1:8087 in the spine's
    // own namespace.
    let mut agent = lab.start_agent(&config);
    let status = lab.wait_status(&agent, "DHCP server up", Duration::from_secs(20), |s| {
        s["dhcp"]["running"] == true
    });
    assert_eq!(status["bridge"]["state"], "disabled", "{status}");
    assert_eq!(status["vm"]["managed"], false, "{status}");
    assert_ne!(status["eapi"]["enabled"], true, "{status}");

    let lease = lab.dhcp(1).expect("the leaf gets a lease");
    assert_eq!(lease["ip"], "10.1.1.1");
    assert_eq!(lease["router"], "10.1.1.0");
    assert_eq!(lease["subnet"], "255.255.255.254");
    assert_eq!(lease["bootfile"], url);

    assert!(agent.alive(), "agent exited:\n{}", agent.log());
    let links = lab.spine.ip(&["-o", "link", "show"]);
    assert!(
        !links.contains("br0"),
        "a dhcp-only agent created a bridge:\n{links}"
    );
    assert!(
        std::fs::metadata(lab.path("leases")).unwrap().len() > 0,
        "the lease is journalled"
    );
}

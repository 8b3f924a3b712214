//! The plan the agent's unit tests share: leaves on spine ports Ethernet1,
//! Ethernet2, ... with their Ethernet49 uplinks on /31s from 10.1.1.0.

use ztps_config::{AgentConfig, LeafLink};

pub(crate) fn with_leaves(leaves: &[&str]) -> AgentConfig {
    let mut config = AgentConfig::new(
        "172.16.130.254/24".parse().expect("bridge address"),
        "http://172.16.130.10:8080/bootstrap",
    );
    for (i, leaf) in leaves.iter().enumerate() {
        config.leaves.push(LeafLink {
            interface: format!("Ethernet{}", i + 1),
            leaf: (*leaf).into(),
            leaf_interface: Some("Ethernet49".into()),
            subnet: format!("10.1.1.{}/31", i * 2).parse().expect("leaf subnet"),
            serial: None,
            system_mac: None,
            image: None,
            extensions: None,
            speed: None,
        });
    }
    config
}

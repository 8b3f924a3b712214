//! The typed models against real EOS replies, and against arbitrary JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::Value;
use ztps_eapi::models::*;

fn data(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn show_version_decodes() {
    let v: ShowVersion = serde_json::from_value(data("show_version.json")).unwrap();
    assert_eq!(v.model_name, "vEOS-lab");
    assert_eq!(v.version, "4.33.2F");
    assert_eq!(v.serial_number, "5F6BC4D03506543E211EA99D4FE27DC7");
    assert_eq!(v.system_mac_address, "0c:8b:ec:ea:71:72");
    assert_eq!(v.mem_total, Some(1979864));
}

#[test]
fn interfaces_status_decodes_with_the_typo_key() {
    let s: InterfacesStatus = serde_json::from_value(data("show_interfaces_status.json")).unwrap();
    assert_eq!(s.interface_statuses.len(), 3);
    let et1 = &s.interface_statuses["Ethernet1"];
    assert_eq!(et1.link_status, LinkStatus::NotConnect);
    assert_eq!(et1.auto_negotiate(), Some(false));
    assert!(!et1.is_routed());
    let ma1 = &s.interface_statuses["Management1"];
    assert_eq!(ma1.link_status, LinkStatus::Connected);
    assert_eq!(ma1.auto_negotiate(), Some(true));
    assert!(ma1.is_routed());
    assert_eq!(ma1.bandwidth, 1_000_000_000);
}

#[test]
fn only_the_typo_key_is_enough() {
    let mut v = data("show_interfaces_status.json");
    let et1 = &mut v["interfaceStatuses"]["Ethernet1"];
    et1.as_object_mut().unwrap().remove("autoNegotiateActive");
    et1["autoNegotigateActive"] = Value::Bool(true);
    let s: InterfacesStatus = serde_json::from_value(v).unwrap();
    assert_eq!(
        s.interface_statuses["Ethernet1"].auto_negotiate(),
        Some(true)
    );
}

#[test]
fn ip_interface_brief_gives_addresses_and_kernel_names() {
    let s: IpInterfaces = serde_json::from_value(data("show_ip_interface_brief.json")).unwrap();
    let list = s.ipv4_interfaces();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "Management1");
    assert_eq!(list[0].kernel_name.as_deref(), Some("ma1"));
    assert!(list[0].line_protocol_up);
    assert_eq!(list[0].addresses, vec!["192.168.1.10/24".parse().unwrap()]);
}

#[test]
fn ip_interface_full_shape_gives_primary_then_secondaries_and_skips_unset() {
    let v = serde_json::json!({"interfaces": {
        "Ethernet3": {"name": "Ethernet3", "interfaceStatus": "connected", "lineProtocolStatus": "up", "mtu": 1500,
            "interfaceAddress": {"primaryIp": {"address": "10.0.0.0", "maskLen": 31},
                "secondaryIpsOrderedList": [{"address": "10.9.0.1", "maskLen": 24}], "secondaryIps": {},
                "virtualIp": {"address": "0.0.0.0", "maskLen": 0}, "broadcastAddress": "255.255.255.255", "dhcp": false}},
        "Vlan10": {"name": "Vlan10", "interfaceStatus": "notconnect", "lineProtocolStatus": "down",
            "interfaceAddress": {"primaryIp": {"address": "0.0.0.0", "maskLen": 0}, "secondaryIpsOrderedList": []}}
    }});
    let s: IpInterfaces = serde_json::from_value(v).unwrap();
    let list = s.ipv4_interfaces();
    assert_eq!(list[0].kernel_name.as_deref(), Some("et3"));
    assert_eq!(
        list[0].addresses,
        vec![
            "10.0.0.0/31".parse().unwrap(),
            "10.9.0.1/24".parse().unwrap()
        ]
    );
    assert_eq!(list[1].status, Some(LinkStatus::NotConnect));
    assert!(list[1].addresses.is_empty());
}

#[test]
fn lldp_neighbors_decode() {
    let empty: LldpNeighbors =
        serde_json::from_value(data("show_lldp_neighbors_empty.json")).unwrap();
    assert!(empty.lldp_neighbors.is_empty());
    let some: LldpNeighbors = serde_json::from_value(data("show_lldp_neighbors.json")).unwrap();
    assert_eq!(some.lldp_neighbors[1].neighbor_device, "leaf2.example.net");
    assert_eq!(some.lldp_neighbors[1].neighbor_port, "Ethernet49/1");
    let detail: LldpNeighborsDetail =
        serde_json::from_value(data("show_lldp_neighbors_detail.json")).unwrap();
    let info = &detail.lldp_neighbors["Ethernet1"].lldp_neighbor_info[0];
    assert_eq!(info.system_name.as_deref(), Some("leaf1"));
    assert_eq!(
        info.neighbor_interface_info.as_ref().unwrap().port(),
        "Ethernet49"
    );
    assert!(
        detail.lldp_neighbors["Ethernet2"]
            .lldp_neighbor_info
            .is_empty()
    );
}

#[test]
fn quoted_interface_id_is_unquoted_without_v2() {
    let info: NeighborInterfaceInfo = serde_json::from_value(
        serde_json::json!({"interfaceIdType": "interfaceName", "interfaceId": "\"Ethernet7\""}),
    )
    .unwrap();
    assert_eq!(info.port(), "Ethernet7");
}

#[test]
fn wrong_types_are_errors_not_panics() {
    assert!(serde_json::from_value::<ShowVersion>(serde_json::json!({"version": 4})).is_err());
    assert!(
        serde_json::from_value::<InterfacesStatus>(serde_json::json!({"interfaceStatuses": []}))
            .is_err()
    );
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9./\" ]{0,12}".prop_map(Value::String),
    ];
    let keys = prop_oneof![
        Just("interfaceStatuses".to_string()),
        Just("linkStatus".to_string()),
        Just("interfaces".to_string()),
        Just("interfaceAddress".to_string()),
        Just("primaryIp".to_string()),
        Just("address".to_string()),
        Just("maskLen".to_string()),
        Just("lldpNeighbors".to_string()),
        Just("lldpNeighborInfo".to_string()),
        Just("version".to_string()),
        "[a-zA-Z]{1,8}",
    ];
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn decoding_arbitrary_json_never_panics(v in arbitrary_json()) {
        let _ = serde_json::from_value::<ShowVersion>(v.clone());
        let _ = serde_json::from_value::<InterfacesStatus>(v.clone());
        if let Ok(ip) = serde_json::from_value::<IpInterfaces>(v.clone()) {
            let _ = ip.ipv4_interfaces();
        }
        let _ = serde_json::from_value::<LldpNeighbors>(v.clone());
        if let Ok(d) = serde_json::from_value::<LldpNeighborsDetail>(v) {
            for p in d.lldp_neighbors.values() {
                for i in &p.lldp_neighbor_info {
                    let _ = i.neighbor_interface_info.as_ref().map(|n| n.port().len());
                }
            }
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = serde_json::from_slice::<InterfacesStatus>(&bytes);
        let _ = serde_json::from_slice::<IpInterfaces>(&bytes);
    }
}

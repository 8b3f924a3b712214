//! eAPI reply parsing with its models, on arbitrary bytes: the JSON-RPC
//! envelope (results, EOS error objects naming the failing command), then
//! every typed model the agent decodes, then the interface-name mapping of
//! whatever names came out. A hostile or broken eAPI peer must get errors,
//! never a panic.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run eapi_reply` in this directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use ztps_eapi::models::{
    InterfacesStatus, IpInterfaces, LldpNeighbors, LldpNeighborsDetail, ShowVersion,
};
use ztps_eapi::{Command, ifname, parse_reply};

fn models(value: &Value) {
    if let Ok(status) = serde_json::from_value::<InterfacesStatus>(value.clone()) {
        for (name, s) in &status.interface_statuses {
            let _ = ifname::eos_to_kernel(name);
            let _ = ifname::canonical_eos(name);
            let _ = (s.auto_negotiate(), s.is_routed(), s.link_status.as_str());
        }
    }
    if let Ok(ip) = serde_json::from_value::<IpInterfaces>(value.clone()) {
        for interface in ip.ipv4_interfaces() {
            let _ = ifname::kernel_to_eos(&format!("{interface:?}"));
        }
    }
    if let Ok(lldp) = serde_json::from_value::<LldpNeighbors>(value.clone()) {
        for n in &lldp.lldp_neighbors {
            let _ = ifname::eos_to_kernel(&n.port);
        }
    }
    if let Ok(detail) = serde_json::from_value::<LldpNeighborsDetail>(value.clone()) {
        let _ = format!("{detail:?}");
    }
    let _ = serde_json::from_value::<ShowVersion>(value.clone());
}

fuzz_target!(|data: &[u8]| {
    let cmds = [
        Command::new("show interfaces status connected"),
        Command::new("show lldp neighbors"),
    ];
    // The envelope, as the client reads a reply body.
    match parse_reply(data, &cmds, "fuzz") {
        Ok(results) => results.iter().for_each(models),
        Err(e) => {
            let _ = (e.to_string(), e.code(), e.is_transport());
        }
    }
    // The models on any JSON value, as a result would carry it.
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        models(&value);
    }
    // Interface names straight from the bytes.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ifname::eos_to_kernel(text);
        let _ = ifname::kernel_to_eos(text);
        let _ = ifname::canonical_eos(text);
    }
});

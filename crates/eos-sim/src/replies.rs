//! EOS's JSON reply shapes (and a text rendering of each), from kernel state.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use ztps_eapi::ifname::InterfaceKind;

use crate::kernel::{Link, format_mac};
use crate::lldp::LldpFile;
use crate::sim::Sim;

const NO_MAC: &str = "00:00:00:00:00:00";

pub fn show_version(sim: &Sim, links: &[Link]) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let (booted, version) = {
        let d = sim.device();
        (
            d.booted
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            d.version.clone(),
        )
    };
    let system_mac = sim.identity.system_mac.clone().unwrap_or_else(|| {
        links
            .iter()
            .find(|l| l.name.kind == InterfaceKind::Management)
            .and_then(|l| l.mac.as_ref())
            .map_or_else(|| NO_MAC.to_string(), format_mac)
    });
    let (mem_total, mem_free) = meminfo();
    json!({
        "mfgName": "Arista",
        "modelName": sim.identity.model(),
        "hardwareRevision": "",
        "serialNumber": sim.identity.serial(),
        "systemMacAddress": system_mac,
        "hwMacAddress": NO_MAC,
        "configMacAddress": NO_MAC,
        "version": version,
        "architecture": std::env::consts::ARCH,
        "internalVersion": format!("{version}-eos-sim"),
        "internalBuildId": "00000000-0000-0000-0000-000000000000",
        "imageFormatVersion": "1.0",
        "imageOptimization": "None",
        "bootupTimestamp": booted,
        "uptime": ((now - booted) * 100.0).round() / 100.0,
        "memTotal": mem_total,
        "memFree": mem_free,
        "isIntlVersion": false,
    })
}

/// (MemTotal, MemAvailable) in kB, as EOS reports them.
fn meminfo() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("MemTotal:"), field("MemAvailable:"))
}

pub fn show_version_text(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let uptime = v["uptime"].as_f64().unwrap_or(0.0) as u64;
    format!(
        "Arista {}\nHardware version: {}\nSerial number: {}\nHardware MAC address: {}\nSystem MAC address: {}\n\n\
         Software image version: {}\nArchitecture: {}\nInternal build version: {}\nInternal build ID: {}\n\
         Image format version: {}\nImage optimization: {}\n\nUptime: {} hours and {} minutes\n\
         Total memory: {} kB\nFree memory: {} kB\n",
        s("modelName"),
        s("hardwareRevision"),
        s("serialNumber"),
        s("hwMacAddress"),
        s("systemMacAddress"),
        s("version"),
        s("architecture"),
        s("internalVersion"),
        s("internalBuildId"),
        s("imageFormatVersion"),
        s("imageOptimization"),
        uptime / 3600,
        uptime % 3600 / 60,
        v["memTotal"],
        v["memFree"],
    )
}

fn link_status(l: &Link) -> &'static str {
    if l.oper_up { "connected" } else { "notconnect" }
}

fn line_protocol(l: &Link) -> &'static str {
    if l.oper_up { "up" } else { "down" }
}

/// `show interfaces status`: Ethernet, Management and Port-Channel
/// interfaces, as on EOS (VLAN and loopback interfaces are not ports).
/// `connected`: `Some(true)` for connected only, `Some(false)` for notconnect only.
pub fn interfaces_status(links: &[Link], connected: Option<bool>) -> Value {
    let mut statuses = Map::new();
    for l in links {
        let (interface_type, bandwidth, autoneg) = match l.name.kind {
            InterfaceKind::Ethernet => ("EbraTestPhyPort", 1_000_000_000u64, false),
            InterfaceKind::Management => ("10/100/1000", 1_000_000_000, true),
            InterfaceKind::PortChannel => ("N/A", 0, false),
            InterfaceKind::Vlan | InterfaceKind::Loopback => continue,
        };
        if connected.is_some_and(|want| want != l.oper_up) {
            continue;
        }
        // A port with an address is a routed port (`no switchport`).
        let vlan_information = if l.name.kind == InterfaceKind::Management || !l.ipv4.is_empty() {
            json!({"interfaceMode": "routed", "interfaceForwardingModel": "routed"})
        } else {
            json!({"vlanId": 1, "interfaceMode": "bridged", "interfaceForwardingModel": "bridged"})
        };
        statuses.insert(
            l.name.eos_name(),
            json!({
                "description": l.description,
                "linkStatus": link_status(l),
                "duplex": "duplexFull",
                "bandwidth": bandwidth,
                // Both spellings, as EOS sends them.
                "autoNegotigateActive": autoneg,
                "autoNegotiateActive": autoneg,
                "interfaceType": interface_type,
                "vlanInformation": vlan_information,
                "lineProtocolStatus": line_protocol(l),
                "interfaceDamped": false,
            }),
        );
    }
    json!({ "interfaceStatuses": statuses })
}

fn short_name(eos: &str) -> String {
    for (long, short) in [
        ("Ethernet", "Et"),
        ("Management", "Ma"),
        ("Port-Channel", "Po"),
    ] {
        if let Some(rest) = eos.strip_prefix(long) {
            return format!("{short}{rest}");
        }
    }
    eos.to_string()
}

pub fn interfaces_status_text(v: &Value) -> String {
    let mut out = format!(
        "{:<10} {:<18} {:<12} {:<8} {:<6} {:<6} {}\n",
        "Port", "Name", "Status", "Vlan", "Duplex", "Speed", "Type"
    );
    if let Some(map) = v["interfaceStatuses"].as_object() {
        for (name, s) in map {
            let vlan = match s["vlanInformation"]["vlanId"].as_u64() {
                Some(id) => id.to_string(),
                None => "routed".to_string(),
            };
            out.push_str(&format!(
                "{:<10} {:<18} {:<12} {:<8} {:<6} {:<6} {}\n",
                short_name(name),
                s["description"].as_str().unwrap_or_default(),
                s["linkStatus"].as_str().unwrap_or_default(),
                vlan,
                "full",
                if s["bandwidth"].as_u64() == Some(1_000_000_000) {
                    "1G"
                } else {
                    "auto"
                },
                s["interfaceType"].as_str().unwrap_or_default(),
            ));
        }
    }
    out
}

/// Interfaces that are layer 3 on EOS: with an address, or by nature.
fn routed(links: &[Link]) -> impl Iterator<Item = &Link> {
    links.iter().filter(|l| {
        !l.ipv4.is_empty()
            || matches!(
                l.name.kind,
                InterfaceKind::Management | InterfaceKind::Vlan | InterfaceKind::Loopback
            )
    })
}

fn addr(a: &(std::net::Ipv4Addr, u8)) -> Value {
    json!({"address": a.0.to_string(), "maskLen": a.1})
}

const UNSET: (std::net::Ipv4Addr, u8) = (std::net::Ipv4Addr::UNSPECIFIED, 0);

pub fn ip_interface(links: &[Link]) -> Value {
    let mut interfaces = Map::new();
    for l in routed(links) {
        let primary = l.ipv4.first().unwrap_or(&UNSET);
        let secondaries: Vec<Value> = l.ipv4.iter().skip(1).map(addr).collect();
        let secondary_map: Map<String, Value> = l
            .ipv4
            .iter()
            .skip(1)
            .map(|a| (a.0.to_string(), addr(a)))
            .collect();
        interfaces.insert(
            l.name.eos_name(),
            json!({
                "name": l.name.eos_name(),
                "lineProtocolStatus": line_protocol(l),
                "interfaceStatus": link_status(l),
                "mtu": l.mtu,
                "description": l.description,
                "interfaceAddress": {
                    "primaryIp": addr(primary),
                    "secondaryIps": secondary_map,
                    "secondaryIpsOrderedList": secondaries,
                    "virtualIp": addr(&UNSET),
                    "virtualSecondaryIps": {},
                    "virtualSecondaryIpsOrderedList": [],
                    "broadcastAddress": "255.255.255.255",
                    "dhcp": false,
                },
                "ipv4Routable240": false,
                "ipv4Routable0": false,
                "proxyArp": false,
                "localProxyArp": false,
                "urpf": "disable",
                "directedBroadcastEnabled": false,
                "maxMssIngress": 0,
                "maxMssEgress": 0,
            }),
        );
    }
    json!({ "interfaces": interfaces })
}

pub fn ip_interface_brief(links: &[Link]) -> Value {
    let mut interfaces = Map::new();
    for l in routed(links) {
        interfaces.insert(
            l.name.eos_name(),
            json!({
                "name": l.name.eos_name(),
                "interfaceStatus": link_status(l),
                "lineProtocolStatus": line_protocol(l),
                "mtu": l.mtu,
                "ipv4Routable240": false,
                "ipv4Routable0": false,
                "interfaceAddress": {"ipAddr": addr(l.ipv4.first().unwrap_or(&UNSET))},
                "nonRoutableClassEIntf": false,
            }),
        );
    }
    json!({ "interfaces": interfaces })
}

pub fn ip_interface_text(v: &Value) -> String {
    let mut out = format!(
        "{:<16} {:<20} {:<12} {:<10} {}\n",
        "Interface", "IP Address", "Status", "Protocol", "MTU"
    );
    if let Some(map) = v["interfaces"].as_object() {
        for (name, i) in map {
            let a = i["interfaceAddress"]
                .get("ipAddr")
                .or_else(|| i["interfaceAddress"].get("primaryIp"))
                .cloned()
                .unwrap_or(Value::Null);
            let address = match (a["address"].as_str(), a["maskLen"].as_u64()) {
                (Some("0.0.0.0") | None, _) => "unassigned".to_string(),
                (Some(ip), Some(len)) => format!("{ip}/{len}"),
                (Some(ip), None) => ip.to_string(),
            };
            out.push_str(&format!(
                "{:<16} {:<20} {:<12} {:<10} {}\n",
                name,
                address,
                i["interfaceStatus"].as_str().unwrap_or_default(),
                i["lineProtocolStatus"].as_str().unwrap_or_default(),
                i["mtu"]
            ));
        }
    }
    out
}

pub fn lldp_neighbors(file: &LldpFile) -> Value {
    let list: Vec<Value> = file
        .neighbors
        .iter()
        .map(|n| json!({"port": n.port, "neighborDevice": n.system_name, "neighborPort": n.port_id, "ttl": n.ttl}))
        .collect();
    json!({
        "tablesInserts": list.len(),
        "tablesDeletes": 0,
        "tablesDrops": 0,
        "tablesAgeOuts": 0,
        "lldpNeighbors": list,
    })
}

/// Every Ethernet and Management port is listed, with an empty list when
/// nothing is heard on it, as EOS does.
pub fn lldp_neighbors_detail(links: &[Link], file: &LldpFile) -> Value {
    let mut ports = Map::new();
    for l in links {
        if matches!(
            l.name.kind,
            InterfaceKind::Ethernet | InterfaceKind::Management
        ) {
            ports.insert(l.name.eos_name(), json!({"lldpNeighborInfo": []}));
        }
    }
    for n in &file.neighbors {
        let entry = ports
            .entry(n.port.clone())
            .or_insert_with(|| json!({"lldpNeighborInfo": []}));
        if let Some(list) = entry["lldpNeighborInfo"].as_array_mut() {
            let mut info = json!({
                "chassisIdType": "macAddress",
                "chassisId": n.chassis_id,
                "systemName": n.system_name,
                "ttl": n.ttl,
                "neighborInterfaceInfo": {
                    // lldpd can only send a chosen port name as a "local"
                    // port ID; a real Arista sends it as an interface name.
                    "interfaceIdType": "interfaceName",
                    "interfaceId": format!("\"{}\"", n.port_id),
                    "interfaceId_v2": n.port_id,
                    "interfaceDescription": n.port_description.clone().unwrap_or_default(),
                },
            });
            if let Some(d) = &n.system_description {
                info["systemDescription"] = Value::String(d.clone());
            }
            list.push(info);
        }
    }
    json!({ "lldpNeighbors": ports })
}

pub fn lldp_text(file: &LldpFile) -> String {
    let mut out = format!(
        "{:<12} {:<24} {:<16} {}\n",
        "Port", "Neighbor Device ID", "Neighbor Port ID", "TTL"
    );
    for n in &file.neighbors {
        out.push_str(&format!(
            "{:<12} {:<24} {:<16} {}\n",
            short_name(&n.port),
            n.system_name,
            n.port_id,
            n.ttl
        ));
    }
    out
}

/// Which eAPI servers run: from `management api http-commands` in the
/// running config. With no such block and no flash, the listeners given on
/// the command line stand for a switch whose config enables them.
pub struct HttpApi {
    pub enabled: bool,
    pub http: bool,
    pub http_local: bool,
    pub https: bool,
    pub unix: bool,
}

pub fn http_api_state(sim: &Sim) -> HttpApi {
    let d = sim.device();
    let Some(block) = d.config.block("management api http-commands") else {
        let given = sim.args.flash.is_none();
        return HttpApi {
            enabled: given,
            http: given && sim.args.http.is_some(),
            http_local: false,
            https: given && sim.args.https.is_some(),
            unix: given && sim.args.unix_socket.is_some(),
        };
    };
    let has = |line: &str| block.body.iter().any(|l| l == line);
    HttpApi {
        enabled: has("no shutdown"),
        http: has("protocol http"),
        http_local: block
            .body
            .iter()
            .any(|l| l.starts_with("protocol http localhost")),
        // HTTPS is on unless turned off, as on EOS.
        https: !has("no protocol https"),
        unix: has("protocol unix-socket"),
    }
}

pub fn http_api(sim: &Sim) -> Value {
    let s = http_api_state(sim);
    let server = |configured: bool, port: Option<u16>| {
        let mut v = json!({"configured": configured, "running": s.enabled && configured});
        if let Some(p) = port {
            v["port"] = json!(p);
        }
        v
    };
    let port = |a: Option<std::net::SocketAddr>, default: u16| a.map_or(default, |a| a.port());
    let mut urls = Vec::new();
    if s.enabled && s.unix {
        urls.push("Unix Socket : unix:/var/run/command-api.sock".to_string());
    }
    if s.enabled && s.http {
        urls.push(format!("http://localhost:{}", port(sim.args.http, 80)));
    }
    if s.enabled && s.https {
        urls.push(format!("https://localhost:{}", port(sim.args.https, 443)));
    }
    json!({
        "enabled": s.enabled,
        "httpServer": server(s.http, Some(port(sim.args.http, 80))),
        "localHttpServer": server(s.http_local, Some(8080)),
        "httpsServer": server(s.https, Some(port(sim.args.https, 443))),
        "unixSocketServer": server(s.unix, None),
        "sslProfile": {"name": "", "configured": false, "state": "none"},
        "tlsProtocol": ["1.2"],
        "hitCount": sim.requests(),
        "requestCount": sim.requests(),
        "commandCount": 0,
        "bytesInCount": 0,
        "bytesOutCount": 0,
        "executionTime": 0.0,
        "lastHitTime": null,
        "urls": urls,
        "vrfs": {"default": {"enabled": s.enabled}},
    })
}

pub fn http_api_text(v: &Value) -> String {
    let state = |k: &str| {
        if v[k]["running"] == true {
            "running"
        } else {
            "shutdown"
        }
    };
    let mut out = format!(
        "Enabled:            {}\n\
         HTTPS server:       {}, set to use port {}\n\
         HTTP server:        {}, set to use port {}\n\
         Local HTTP server:  {}, no authentication, set to use port 8080\n\
         Unix Socket server: {}, no authentication\n\
         VRFs:               {}\n\
         Hits:               {}\n\
         Last hit:           never\n\
         SSL Profile:        none\n\
         TLS Protocols:      1.2\n",
        if v["enabled"] == true { "Yes" } else { "No" },
        state("httpsServer"),
        v["httpsServer"]["port"],
        state("httpServer"),
        v["httpServer"]["port"],
        state("localHttpServer"),
        state("unixSocketServer"),
        if v["enabled"] == true {
            "default"
        } else {
            "None"
        },
        v["hitCount"],
    );
    if let Some(urls) = v["urls"].as_array()
        && !urls.is_empty()
    {
        out.push_str("URLs\n--------------------------------------\n");
        for u in urls {
            out.push_str(u.as_str().unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

/// `show running-config`, with EOS's header.
pub fn running_config(sim: &Sim) -> String {
    let d = sim.device();
    let header = format!(
        "! Command: show running-config\n! device: {} ({}, EOS-{})\n!\n",
        d.hostname,
        sim.identity.model(),
        d.version
    );
    d.config.render(&header)
}

//! What EOS does that ZTPServer's bootstrap relies on, one behaviour at a
//! time: positional JSON-RPC params, eAPI off until configured (ZTP mode),
//! basic auth once users exist, output filters, saving to flash, identity.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::{SimProcess, sim_binary};
use serde_json::Value;
use ztps_testkit::{Netns, require_netns};

fn fastcli(sim: &SimProcess, privilege: &str, script: &str) -> (bool, String) {
    let out = Command::new(sim_binary())
        .args(["fastcli", "--socket"])
        .arg(sim.socket())
        .args(["-p", privilege, "-A", "-c", script])
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

/// A runCmds POST over HTTP from inside `ns`: (status, reply), or None
/// when the connection was closed (or reset) unanswered.
fn http_runcmds(ns: &Netns, port: u16, params: &str, auth: Option<&str>) -> Option<(u16, String)> {
    let body =
        format!(r#"{{"jsonrpc": "2.0", "method": "runCmds", "params": {params}, "id": "x"}}"#);
    let auth = auth
        .map(|a| {
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(a)
            )
        })
        .unwrap_or_default();
    ns.run(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "POST /command-api HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        let reply = text.split_once("\r\n\r\n")?.1.to_string();
        Some((status, reply))
    })
}

fn identity_file(dir: &Path) -> String {
    let path = dir.join("identity.toml");
    std::fs::write(
        &path,
        "serial = \"ID0042\"\nmodel = \"DCS-7280SR3-48YC8\"\nsystem_mac = \"00:1c:73:aa:bb:cc\"\nversion = \"4.31.0F\"\n",
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn ztp_mode_switch_enables_eapi_with_a_user_as_the_bootstrap_does() {
    require_netns!("ip");
    let ns = Netns::new("zeb");
    let dir = tempfile::tempdir().unwrap();
    let flash = dir.path().join("flash");
    std::fs::create_dir(&flash).unwrap();
    let identity = identity_file(dir.path());
    let sim = SimProcess::start_in(
        dir,
        Some(&ns),
        &[
            "--flash",
            flash.to_str().unwrap(),
            "--identity",
            &identity,
            "--serial",
            "FLAG0001",
        ],
    );
    let port = sim.http_port();
    let positional = r#"[1, ["enable", "show version"], "json"]"#;

    // ZTP mode: no startup-config, eAPI shut down, hostname localhost.
    assert!(http_runcmds(&ns, port, positional, None).is_none());
    let (_, text) = fastcli(&sim, "15", "show management api http-commands");
    assert!(text.starts_with("Enabled:            No\n"), "{text}");
    assert_eq!(
        fastcli(&sim, "15", "show hostname | include ^Host").1,
        "Hostname: localhost\n"
    );

    // What the bootstrap sends through FastCli.
    let (ok, out) = fastcli(
        &sim,
        "15",
        "configure\n\nusername ztps secret ztps-password privilege 15\nmanagement api http-commands\nno protocol https\nprotocol http\nno shutdown",
    );
    assert!(ok, "{out}");
    let running = fastcli(
        &sim,
        "15",
        "show management api http-commands | grep running",
    )
    .1;
    assert!(
        running.starts_with("HTTP server:        running, set to use port ")
            && running.lines().count() == 1,
        "{running}"
    );

    // Users exist: HTTP wants them.
    let (status, _) = http_runcmds(&ns, port, positional, None).unwrap();
    assert_eq!(status, 401);
    let (status, _) = http_runcmds(&ns, port, positional, Some("ztps:wrong")).unwrap();
    assert_eq!(status, 401);
    let (status, reply) = http_runcmds(&ns, port, positional, Some("ztps:ztps-password")).unwrap();
    assert_eq!(status, 200, "{reply}");
    let v: Value = serde_json::from_str(&reply).unwrap();
    let version = &v["result"][1];
    // Identity: the file, with the flag over it.
    assert_eq!(version["serialNumber"], "FLAG0001", "{v}");
    assert_eq!(version["modelName"], "DCS-7280SR3-48YC8", "{v}");
    assert_eq!(version["systemMacAddress"], "00:1c:73:aa:bb:cc", "{v}");
    assert_eq!(version["version"], "4.31.0F", "{v}");

    // The JSON form of the API state, and filters refused in JSON.
    let (_, reply) = http_runcmds(
        &ns,
        port,
        r#"{"version": 1, "cmds": ["show management api http-commands"]}"#,
        Some("ztps:ztps-password"),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&reply).unwrap();
    let api = &v["result"][0];
    assert_eq!(api["enabled"], true, "{v}");
    assert_eq!(api["httpServer"]["running"], true, "{v}");
    assert_eq!(api["httpsServer"]["configured"], false, "{v}");
    let (_, reply) = http_runcmds(
        &ns,
        port,
        r#"[1, ["show version | include image"]]"#,
        Some("ztps:ztps-password"),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["error"]["code"], 1003, "{v}");

    // Config commands need config mode and privilege; FastCli says so.
    let (ok, out) = fastcli(&sim, "1", "configure");
    assert!(!ok);
    assert!(out.starts_with("% "), "{out}");
    let (ok, out) = fastcli(&sim, "15", "hostname x");
    assert!(!ok, "{out}");

    // A mode the simulator does not model keeps its lines; a global
    // command after them leaves it, as on EOS.
    let (ok, out) = fastcli(
        &sim,
        "15",
        "configure\ncontrol-plane\nno service-policy input copp-system-policy\nhostname h2\nend",
    );
    assert!(ok, "{out}");
    let running = fastcli(&sim, "15", "show running-config").1;
    assert!(
        running.contains("\ncontrol-plane\n   no service-policy input copp-system-policy\n!\n"),
        "{running}"
    );
    assert!(running.contains("\nhostname h2\n"), "{running}");

    // Saving: copy running-config startup-config writes the flash, boot
    // system writes boot-config, and a reload boots from both.
    let (ok, out) = fastcli(
        &sim,
        "15",
        "configure\nhostname leaf9\nboot system flash:EOS-4.32.1F.swi\nend\ncopy running-config startup-config",
    );
    assert!(ok, "{out}");
    assert_eq!(out, "Copy completed successfully.\n");
    let saved = std::fs::read_to_string(flash.join("startup-config")).unwrap();
    assert!(saved.contains("\nhostname leaf9\n"), "{saved}");
    assert!(
        saved.contains("username ztps secret ztps-password"),
        "{saved}"
    );
    assert_eq!(
        std::fs::read_to_string(flash.join("boot-config")).unwrap(),
        "SWI=flash:EOS-4.32.1F.swi\n"
    );
    let (ok, out) = fastcli(&sim, "15", "reload now");
    assert!(ok, "{out}");
    assert_eq!(
        fastcli(&sim, "15", "show version | include image").1,
        "Software image version: 4.32.1F\n"
    );
    // `install source` (what ZTPServer's install_image runs) refuses an
    // image that is not on flash and leaves boot-config as it was; once the
    // file is there it points boot-config at it, and unprivileged it is refused.
    let (ok, out) = fastcli(&sim, "15", "install source flash:EOS-4.34.0F.swi");
    assert!(!ok && out.contains("does not exist"), "{out}");
    assert_eq!(
        std::fs::read_to_string(flash.join("boot-config")).unwrap(),
        "SWI=flash:EOS-4.32.1F.swi\n"
    );
    std::fs::write(flash.join("EOS-4.34.0F.swi"), b"stand-in").unwrap();
    let (ok, _) = fastcli(&sim, "1", "install source flash:EOS-4.34.0F.swi");
    assert!(!ok);
    let (ok, out) = fastcli(&sim, "15", "install source flash:EOS-4.34.0F.swi");
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read_to_string(flash.join("boot-config")).unwrap(),
        "SWI=flash:EOS-4.34.0F.swi\n"
    );
    // Back to the image the rest of this test expects.
    let (ok, out) = fastcli(
        &sim,
        "15",
        "configure\nboot system flash:EOS-4.32.1F.swi\nend",
    );
    assert!(ok, "{out}");
    assert_eq!(
        fastcli(&sim, "1", "show hostname | include Host").1,
        "Hostname: leaf9\n"
    );
    let status = sim.status();
    assert_eq!(status["boots"], 2, "{status}");
    assert_eq!(status["ztp_mode"], false, "{status}");
    // The saved config turned eAPI on with its user: it is back after the reboot.
    let (status, _) = http_runcmds(&ns, port, positional, Some("ztps:ztps-password")).unwrap();
    assert_eq!(status, 200);
}

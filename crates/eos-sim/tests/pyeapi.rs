//! Cross-check with a peer we did not write: Arista's pyeapi gets the same
//! data from eos-sim as our client, over HTTP and over the unix socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{SimProcess, runtime};
use serde_json::Value;
use ztps_eapi::{EapiClient, Transport};
use ztps_testkit::{Netns, netns_required, require_netns, venv_program, veth};

/// The venv's python, if it has pyeapi (ci/python/eapi.txt installs it).
fn pyeapi_python() -> Option<PathBuf> {
    let python = venv_program("python3").or_else(|| venv_program("python"))?;
    let ok = Command::new(&python)
        .args(["-c", "import pyeapi"])
        .output()
        .ok()?
        .status
        .success();
    ok.then_some(python)
}

/// `show version` fields that change between two calls.
fn without_clock(mut v: Value) -> Value {
    for key in ["uptime", "memFree"] {
        v.as_object_mut().unwrap().remove(key);
    }
    v
}

#[test]
fn pyeapi_gets_what_our_client_gets_over_http_and_unix_socket() {
    require_netns!("ip");
    let Some(python) = pyeapi_python() else {
        assert!(
            !netns_required(),
            "pyeapi is not in the venv (ci/python/eapi.txt) and ZTPS_REQUIRE_NETNS=1 forbids skipping"
        );
        eprintln!("SKIPPED pyeapi cross-check: no venv with pyeapi (ZTPS_VENV)");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyeapi_check.py");
    let spine = Netns::new("spy");
    let leaf = Netns::new("lpy");
    veth(&spine, "et1", Some(&leaf), "et49");
    veth(&spine, "et2", Some(&leaf), "et50");
    spine.ip(&["link", "set", "et1", "up"]);
    spine.ip(&["link", "set", "et2", "up"]);
    leaf.ip(&["link", "set", "et49", "up"]);
    spine.ip(&["addr", "add", "10.0.0.0/31", "dev", "et1"]);
    let sim = SimProcess::start(
        Some(&spine),
        &[
            "--serial",
            "PYEAPI0001",
            "--system-mac",
            "0c:8b:ec:ea:71:72",
        ],
    );

    let ours = EapiClient::new(Transport::unix_socket(sim.socket())).unwrap();
    let rt = runtime();
    // The kernel publishes carrier changes (operstate) asynchronously.
    ztps_testkit::wait_for(
        "Ethernet1 connected",
        std::time::Duration::from_secs(5),
        || {
            let s = rt.block_on(ours.interfaces_status(true)).unwrap();
            s.interface_statuses.contains_key("Ethernet1").then_some(())
        },
    );
    let mut transcript = String::new();
    for (transport, args) in [
        (
            "http_local",
            vec!["--port".to_string(), sim.http_port().to_string()],
        ),
        (
            "socket",
            vec!["--socket".to_string(), sim.socket().display().to_string()],
        ),
    ] {
        // HTTP to 127.0.0.1 inside the simulator's namespace.
        let out = spine
            .command(&python)
            .arg(script)
            .args(["--transport", transport])
            .args(&args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "pyeapi over {transport} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        transcript.push_str(&stdout);
        let theirs: Value = serde_json::from_str(&stdout).unwrap();

        let raw = rt
            .block_on(ours.run_cmds(&["show version".into(), "show interfaces status".into()]))
            .unwrap();
        assert_eq!(
            without_clock(theirs["show version"].clone()),
            without_clock(raw[0].clone()),
            "{transport}"
        );
        assert_eq!(theirs["show interfaces status"], raw[1], "{transport}");
        // And the data is what the namespace holds.
        let statuses = &theirs["show interfaces status"]["interfaceStatuses"];
        assert_eq!(statuses["Ethernet1"]["linkStatus"], "connected");
        assert_eq!(
            statuses["Ethernet1"]["vlanInformation"]["interfaceMode"],
            "routed"
        );
        assert_eq!(statuses["Ethernet2"]["linkStatus"], "notconnect");
        assert_eq!(theirs["show version"]["serialNumber"], "PYEAPI0001");
        assert!(
            theirs["show version text"]
                .as_str()
                .unwrap()
                .contains("Serial number: PYEAPI0001")
        );
        // pyeapi parsed our error reply into its CommandError.
        assert_eq!(theirs["unknown command"]["code"], 1002);
        assert!(
            theirs["unknown command"]["text"]
                .as_str()
                .unwrap()
                .contains("'show bogus' failed: invalid command")
        );
        // pyeapi's config session (enable, configure terminal, ...) went through.
        let hostname = rt
            .block_on(ours.run_cmds(&["show hostname".into()]))
            .unwrap();
        assert_eq!(hostname[0]["hostname"], format!("pyeapi-{transport}"));
    }
    if let Ok(path) = std::env::var("EOS_SIM_PYEAPI_OUTPUT") {
        std::fs::write(path, &transcript).unwrap();
    }
}

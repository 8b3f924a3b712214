//! The eAPI client against the real simulator over each transport.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{SimProcess, raw_tcp, runtime};
use ztps_eapi::{Command, Credentials, EapiClient, EapiError, ErrorCode, RetryPolicy, Transport};

fn client(transport: Transport) -> EapiClient {
    EapiClient::builder(transport)
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn https_sim() -> SimProcess {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let cert_arg = cert.to_str().unwrap().to_string();
    SimProcess::start_in(
        dir,
        None,
        &[
            "--https",
            "127.0.0.1:0",
            "--user",
            "admin",
            "--password",
            "s3cret",
            "--cert-out",
            &cert_arg,
            "--serial",
            "HTTPS0001",
        ],
    )
}

fn https_transport(sim: &SimProcess, password: &str, ca: bool, insecure: bool) -> Transport {
    Transport::Https {
        url: format!("https://127.0.0.1:{}", sim.https.unwrap().port()),
        username: "admin".into(),
        password: ztps_eapi::Secret::new(password),
        ca: ca.then(|| sim.dir.path().join("cert.pem")),
        insecure_skip_verify: insecure,
    }
}

#[test]
fn same_answers_over_http_unix_socket_and_https() {
    let sim = https_sim();
    let rt = runtime();
    let transports = [
        Transport::http_localhost(sim.http_port()),
        Transport::unix_socket(sim.socket()),
        https_transport(&sim, "s3cret", true, false),
    ];
    let mut seen = Vec::new();
    for t in transports {
        let c = client(t.clone());
        let v = rt
            .block_on(c.show_version())
            .unwrap_or_else(|e| panic!("{t:?}: {e}"));
        assert_eq!(v.serial_number, "HTTPS0001");
        assert_eq!(v.model_name, "vEOS-lab");
        let status = rt.block_on(c.interfaces_status(false)).unwrap();
        let raw = rt
            .block_on(c.run_cmds(&["show version".into(), "show hostname".into()]))
            .unwrap();
        assert_eq!(raw.len(), 2);
        assert_eq!(raw[1]["hostname"], "spine1");
        seen.push((v.version, v.system_mac_address, status));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
}

#[test]
fn https_refuses_wrong_password_and_unknown_ca() {
    let sim = https_sim();
    let rt = runtime();
    let err = rt
        .block_on(client(https_transport(&sim, "wrong", true, false)).show_version())
        .unwrap_err();
    assert!(matches!(err, EapiError::Unauthorized { .. }), "{err:?}");
    assert!(!err.to_string().contains("wrong"), "{err}");

    // Not trusting the self-signed certificate is a transport (TLS) failure...
    let err = rt
        .block_on(client(https_transport(&sim, "s3cret", false, false)).show_version())
        .unwrap_err();
    assert!(matches!(err, EapiError::Transport { .. }), "{err:?}");
    // ...unless verification is explicitly skipped.
    let v = rt
        .block_on(client(https_transport(&sim, "s3cret", false, true)).show_version())
        .unwrap();
    assert_eq!(v.serial_number, "HTTPS0001");
}

#[test]
fn https_credentials_from_environment_shape() {
    // The env loader is what the agent uses; check the wire accepts what it builds.
    let sim = https_sim();
    let creds = Credentials::new("admin", "s3cret");
    let mut t = Transport::https(
        format!("https://127.0.0.1:{}", sim.https.unwrap().port()),
        creds,
    );
    if let Transport::Https { ca, .. } = &mut t {
        *ca = Some(sim.dir.path().join("cert.pem"));
    }
    let rt = runtime();
    assert_eq!(
        rt.block_on(client(t).show_version()).unwrap().serial_number,
        "HTTPS0001"
    );
}

#[test]
fn unknown_command_is_1002_and_stops_the_batch() {
    let sim = SimProcess::start(None, &[]);
    let rt = runtime();
    for t in [
        Transport::http_localhost(sim.http_port()),
        Transport::unix_socket(sim.socket()),
    ] {
        let c = client(t);
        let cmds: Vec<Command> = vec![
            "show version".into(),
            "show bogus thing".into(),
            "configure".into(),
        ];
        let err = rt.block_on(c.run_cmds(&cmds)).unwrap_err();
        match &err {
            EapiError::Command {
                code,
                command,
                details,
                partial_results,
                message,
            } => {
                assert_eq!(*code, ErrorCode::InvalidCommand);
                assert_eq!(command, "show bogus thing");
                assert!(message.contains("CLI command 2 of 3"), "{message}");
                assert_eq!(
                    details,
                    &vec!["Invalid input (at token 1: 'bogus')".to_string()]
                );
                assert_eq!(partial_results.len(), 1);
                assert_eq!(partial_results[0]["modelName"], "vEOS-lab");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn config_commands_need_configure_and_configure_needs_enable() {
    let sim = SimProcess::start(None, &[]);
    let rt = runtime();
    let c = client(Transport::unix_socket(sim.socket()));
    let err = rt
        .block_on(c.run_cmds(&["enable".into(), "hostname leaf9".into()]))
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidCommand), "{err}");
    let err = rt.block_on(c.run_cmds(&["configure".into()])).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidCommand), "{err}");
    assert_eq!(sim.status()["hostname"], "spine1");

    rt.block_on(c.configure(&["hostname leaf9"])).unwrap();
    let raw = rt.block_on(c.run_cmds(&["show hostname".into()])).unwrap();
    assert_eq!(raw[0]["hostname"], "leaf9");
}

#[test]
fn restart_vm_runs_the_configured_command_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("restarted");
    let cmd = format!("echo \"$EOS_SIM_VM_NAME\" >> {}", marker.display());
    let sim = SimProcess::start_in(dir, None, &["--vm-restart-cmd", &cmd]);
    let rt = runtime();
    let c = client(Transport::http_localhost(sim.http_port()));
    rt.block_on(c.restart_vm("ztps")).unwrap();
    rt.block_on(c.restart_vm("ztps")).unwrap();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ztps\nztps\n");
    let status = sim.status();
    let restarts = status["vm_restarts"].as_array().unwrap();
    assert_eq!(restarts.len(), 2);
    assert_eq!(restarts[1]["name"], "ztps");
    assert_eq!(restarts[1]["exit_code"], 0);

    // Outside config mode it is an invalid command, and nothing runs.
    let err = rt
        .block_on(c.run_cmds(&["enable".into(), "virtual-machine ztps restart".into()]))
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidCommand));
    assert_eq!(sim.status()["vm_restarts"].as_array().unwrap().len(), 2);
    // A name that could smuggle a second command never reaches EOS.
    assert!(matches!(
        rt.block_on(c.restart_vm("x restart\nreload")),
        Err(EapiError::Config(_))
    ));
}

#[test]
fn failing_restart_command_is_error_1000() {
    let sim = SimProcess::start(
        None,
        &["--vm-restart-cmd", "echo no such domain >&2; exit 3"],
    );
    let rt = runtime();
    let c = client(Transport::unix_socket(sim.socket()));
    let err = rt.block_on(c.restart_vm("ztps")).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::CouldNotRun), "{err}");
    assert!(err.to_string().contains("no such domain"), "{err}");
    assert_eq!(sim.status()["vm_restarts"][0]["exit_code"], 3);
}

#[test]
fn lldp_file_is_reread_on_each_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lldp.json");
    let file_arg = file.to_str().unwrap().to_string();
    let sim = SimProcess::start_in(dir, None, &["--lldp-file", &file_arg]);
    let rt = runtime();
    let c = client(Transport::unix_socket(sim.socket()));
    assert!(
        rt.block_on(c.lldp_neighbors())
            .unwrap()
            .lldp_neighbors
            .is_empty()
    );
    std::fs::write(
        &file,
        r#"{"neighbors": [{"port": "Et1", "system_name": "leaf1", "port_id": "Ethernet49", "chassis_id": "001c.73a0.fc18"}]}"#,
    )
    .unwrap();
    let n = rt.block_on(c.lldp_neighbors()).unwrap();
    assert_eq!(n.lldp_neighbors.len(), 1);
    assert_eq!(n.lldp_neighbors[0].port, "Ethernet1");
    assert_eq!(n.lldp_neighbors[0].neighbor_device, "leaf1");
    let d = rt.block_on(c.lldp_neighbors_detail()).unwrap();
    let info = &d.lldp_neighbors["Ethernet1"].lldp_neighbor_info[0];
    assert_eq!(
        info.neighbor_interface_info.as_ref().unwrap().port(),
        "Ethernet49"
    );
    assert_eq!(
        info.neighbor_interface_info.as_ref().unwrap().interface_id,
        "\"Ethernet49\""
    );

    // A broken file is a command error, not a crash, and the next good file works.
    std::fs::write(&file, "{not json").unwrap();
    let err = rt.block_on(c.lldp_neighbors()).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::CouldNotRun), "{err}");
    std::fs::write(&file, r#"{"neighbors": []}"#).unwrap();
    assert!(
        rt.block_on(c.lldp_neighbors())
            .unwrap()
            .lldp_neighbors
            .is_empty()
    );
}

#[test]
fn text_format_gives_cli_output() {
    let sim = SimProcess::start(None, &["--serial", "TXT123"]);
    let rt = runtime();
    let c = client(Transport::unix_socket(sim.socket()));
    let out = rt
        .block_on(c.run_cmds_text(&["show version".into()]))
        .unwrap();
    assert!(out[0].contains("Serial number: TXT123"), "{}", out[0]);
}

#[test]
fn bad_json_rpc_requests_get_protocol_errors() {
    let sim = SimProcess::start(None, &[]);
    let addr = sim.http.unwrap();
    let cases = [
        ("{not json", -32700),
        (
            r#"{"jsonrpc": "2.0", "method": "runCmds", "id": 1}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc": "2.0", "method": "runScripts", "params": {}, "id": 1}"#,
            -32601,
        ),
        (
            r#"{"method": "runCmds", "params": {"cmds": []}, "id": 1}"#,
            -32600,
        ),
        (
            r#"{"jsonrpc": "2.0", "method": "runCmds", "params": {"version": 7, "cmds": []}, "id": 1}"#,
            -32602,
        ),
    ];
    for (body, code) in cases {
        let (status, reply) = raw_tcp(addr, "POST", "/command-api", body);
        assert_eq!(status, 200, "{reply}");
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(v["error"]["code"], code, "{body}: {reply}");
    }
    // pyeapi may send "latest".
    let (_, reply) = raw_tcp(
        addr,
        "POST",
        "/command-api",
        r#"{"jsonrpc": "2.0", "method": "runCmds", "params": {"version": "latest", "cmds": ["show version"], "format": "json"}, "id": "7"}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["id"], "7");
    assert_eq!(v["result"][0]["mfgName"], "Arista");
}

#[test]
fn nothing_listening_is_a_transport_error() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let err = rt
        .block_on(client(Transport::unix_socket(dir.path().join("absent.sock"))).show_version())
        .unwrap_err();
    assert!(matches!(err, EapiError::Transport { .. }), "{err:?}");
    assert!(err.is_transport());
}

//! Command-line options.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// An EOS eAPI simulator for tests and the demo lab.
///
/// Serves JSON-RPC 2.0 `runCmds` on POST /command-api exactly as EOS shapes
/// its replies. Interface state and addresses are the real kernel state of
/// the network namespace it runs in: every link named like an EOS kernel
/// device (et1, et49_1, ma1, po10, vlan100, lo0) is an EOS interface.
///
/// Once its listeners are bound it prints one line per listener to stdout
/// (`listening http 127.0.0.1:PORT`, `listening unix PATH`,
/// `listening https 127.0.0.1:PORT`) and then `ready`, so a test can bind
/// port 0 and read the port back.
///
/// It is one switch: a running config changed by config-mode commands
/// (hostname, username, management api http-commands, interface, ip route,
/// boot system...), `install source flash:X`, `copy running-config
/// startup-config` and `reload` with --flash, `| include`/`| grep`/`| exclude`/`| begin` on text output, and
/// basic auth on HTTP once `username` lines exist. `eos-sim fastcli -p 15 -c
/// CMDS` (or this binary called as `FastCli`) runs commands against the
/// instance on --socket PATH, $EOS_SIM_SOCKET or /var/run/command-api.sock.
///
/// Control endpoint, on every listener: GET /sim/status (requests served, VM
/// restarts, boots), POST /sim/cli (FastCli's: {"privilege": 15, "script":
/// "cmds"}), GET /sim/faults, PUT or POST /sim/faults with a JSON faults
/// object, DELETE /sim/faults. Faults object (all optional):
/// {"delay_ms": 500, "drop_connection": true, "error": {"code": 1000 or 1005,
/// "commands": ["show version"]}, "malformed_json": true, "stall": true,
/// "remaining": 2}. `error.commands` lists command prefixes (absent: every
/// command); `remaining` makes the faults apply to that many more requests
/// only. A stalled request answers once the stall is cleared.
#[derive(Debug, Clone, Parser)]
#[command(name = "eos-sim", version, about, long_about)]
pub struct Args {
    /// Serve eAPI over plain HTTP on this address (EOS: `protocol http localhost`, port 8080).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,

    /// Serve eAPI over HTTP on this unix socket (EOS: /var/run/command-api.sock).
    #[arg(long, value_name = "PATH")]
    pub unix_socket: Option<PathBuf>,

    /// Serve eAPI over HTTPS with basic auth on this address (needs --user and --password).
    #[arg(long, value_name = "ADDR", requires_all = ["user", "password"])]
    pub https: Option<SocketAddr>,

    /// Username HTTPS clients must present.
    #[arg(long)]
    pub user: Option<String>,

    /// Password HTTPS clients must present.
    #[arg(long, env = "EOS_SIM_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Write the self-signed HTTPS certificate (PEM) here, for clients to trust as CA.
    #[arg(long, value_name = "PATH")]
    pub cert_out: Option<PathBuf>,

    /// LLDP neighbours, JSON or TOML (by extension), reread on every request:
    /// {"neighbors": [{"port": "Ethernet1", "system_name": "leaf1",
    /// "port_id": "Ethernet49", "chassis_id": "001c.73a0.fc18", "ttl": 120}]}.
    #[arg(long, value_name = "PATH")]
    pub lldp_file: Option<PathBuf>,

    /// Shell command run by `virtual-machine NAME restart` (config mode);
    /// the name is in $EOS_SIM_VM_NAME. Without it the restart is only recorded.
    #[arg(long, value_name = "CMD")]
    pub vm_restart_cmd: Option<String>,

    /// Faults file (same JSON object as PUT /sim/faults), reread when it
    /// changes; removing it clears the faults it set.
    #[arg(long, value_name = "PATH")]
    pub faults_file: Option<PathBuf>,

    /// This instance's identity (what `show version` and `show hostname`
    /// report), JSON or TOML by extension: {"hostname": "...", "serial":
    /// "...", "model": "...", "system_mac": "...", "eos_version": "..."}, all
    /// optional. The flags below override it.
    #[arg(long, value_name = "PATH")]
    pub identity: Option<PathBuf>,

    /// `show version`: serial number [default: SIM0000000001].
    #[arg(long)]
    pub serial: Option<String>,

    /// `show version`: model name [default: vEOS-lab].
    #[arg(long)]
    pub model: Option<String>,

    /// `show version`: EOS version when boot-config names no image [default: 4.33.2F].
    #[arg(long)]
    pub eos_version: Option<String>,

    /// `show version`: system MAC address (default: the MAC of ma1, if any).
    #[arg(long)]
    pub system_mac: Option<String>,

    /// Hostname before any config sets one (`hostname NAME` in config mode
    /// changes it) [default: localhost with --flash, as a switch in ZTP mode;
    /// spine1 without].
    #[arg(long)]
    pub hostname: Option<String>,

    /// The switch's flash (EOS: /mnt/flash). At start and on `reload` the
    /// instance boots from its `startup-config` (hostname, interfaces,
    /// routes, eAPI settings: applied to the kernel) and `boot-config` (the
    /// image `show version` reports); without a startup-config it is in ZTP
    /// mode. With --flash, eAPI serves only the protocols the running config
    /// enables under `management api http-commands` (none in ZTP mode), as
    /// on EOS; without it, every listener given serves. `copy
    /// running-config startup-config` writes the flash.
    #[arg(long, value_name = "DIR")]
    pub flash: Option<PathBuf>,

    /// Control socket of this namespace's lldpd: LLDP neighbours come from it
    /// (instead of --lldp-file), and it advertises this instance's hostname
    /// and EOS port names (Ethernet49, not et49).
    #[arg(long, value_name = "PATH", conflicts_with = "lldp_file")]
    pub lldpd_socket: Option<PathBuf>,

    /// The lldpcli program used to talk to lldpd.
    #[arg(long, value_name = "PATH", default_value = "lldpcli")]
    pub lldpcli: PathBuf,
}

impl Args {
    pub fn check(&self) -> anyhow::Result<()> {
        if self.http.is_none() && self.unix_socket.is_none() && self.https.is_none() {
            anyhow::bail!("nothing to serve: give --http, --unix-socket and/or --https");
        }
        Ok(())
    }
}

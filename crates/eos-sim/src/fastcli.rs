//! `FastCli -p 15 -A -c "cmds"`: EOS's command-line front end, run against
//! an eos-sim instance through its unix socket, as the bootstrap and
//! EOS's own scripts call it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

/// Where FastCli finds its switch when neither `--socket` nor
/// `$EOS_SIM_SOCKET` says: EOS's own eAPI socket path.
const DEFAULT_SOCKET: &str = "/var/run/command-api.sock";

#[derive(Debug, Default)]
struct Options {
    privilege: u8,
    script: Option<String>,
    socket: Option<PathBuf>,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options {
        privilege: 1,
        ..Options::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-p" => {
                o.privilege = it
                    .next()
                    .context("-p needs a privilege level")?
                    .parse()
                    .context("-p: privilege level 0-15")?;
            }
            "-c" => o.script = Some(it.next().context("-c needs commands")?.clone()),
            "--socket" => o.socket = Some(it.next().context("--socket needs a path")?.into()),
            // -A (run as the AAA-authenticated user) and the like change
            // nothing for a simulator.
            x if x.starts_with('-') && x.len() == 2 => {}
            x => {
                anyhow::bail!("unexpected argument {x:?} (usage: FastCli [-p 15] [-A] -c COMMANDS)")
            }
        }
    }
    Ok(o)
}

/// Runs FastCli with these arguments (without the program name); returns the exit code.
pub fn main(args: &[String]) -> u8 {
    match run(args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("FastCli: {e:#}");
            2
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<bool> {
    let o = parse(args)?;
    let script = match o.script {
        Some(s) => s,
        None => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
    };
    let socket = o
        .socket
        .or_else(|| std::env::var_os("EOS_SIM_SOCKET").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    let body = serde_json::json!({"privilege": o.privilege, "script": script}).to_string();
    let reply = post(&socket, "/sim/cli", &body)
        .with_context(|| format!("talking to eos-sim on {}", socket.display()))?;
    let v: Value = serde_json::from_str(&reply).context("eos-sim's reply")?;
    let mut out = std::io::stdout().lock();
    out.write_all(v["output"].as_str().unwrap_or_default().as_bytes())?;
    out.flush()?;
    Ok(v["ok"] == true)
}

/// One HTTP/1.1 request with `Connection: close`; returns the body of a 200.
fn post(socket: &std::path::Path, path: &str, body: &str) -> anyhow::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    // A reload replays a whole startup-config: generous, but not forever.
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP reply")?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        anyhow::bail!("HTTP {status}: {}", body.trim());
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_as_the_bootstrap_passes_them() {
        let args: Vec<String> = ["-p", "15", "-A", "-c", "show version | include image"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = parse(&args).unwrap();
        assert_eq!(o.privilege, 15);
        assert_eq!(o.script.as_deref(), Some("show version | include image"));
        assert!(parse(&["stray".to_string()]).is_err());
    }
}

//! `ztps-agent status`: the running agent's `/status` as a table.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::cli::StatusArgs;

const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest `/status` accepted: thousands of leases fit many times
/// over; more is not the agent answering.
const MAX_BODY: usize = 32 << 20;

pub fn run(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let url = format!("{}/status", args.url.trim_end_matches('/'));
    let body = runtime
        .block_on(async { tokio::time::timeout(TIMEOUT, get(&url)).await })
        .with_context(|| format!("{url} did not answer within {TIMEOUT:?}"))?
        .with_context(|| {
            format!(
                "cannot read {url}; is `ztps-agent run` running with its status endpoint enabled?"
            )
        })?;
    if args.json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let doc: Value =
        serde_json::from_str(&body).with_context(|| format!("{url} did not answer JSON"))?;
    print!("{}", table(&doc));
    Ok(ExitCode::SUCCESS)
}

async fn get(url: &str) -> anyhow::Result<String> {
    let uri: hyper::Uri = url
        .parse()
        .with_context(|| format!("{url:?} is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        bail!("{url}: only http:// is supported (the endpoint listens on the loopback)");
    }
    let host = uri.host().context("the URL has no host")?;
    let stream = tokio::net::TcpStream::connect((host, uri.port_u16().unwrap_or(80))).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get(uri.path())
        .header(hyper::header::HOST, host)
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the reply (at most {MAX_BODY} bytes): {e}"))?
        .to_bytes();
    if !status.is_success() {
        bail!("HTTP {status}");
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `12:03:04 UTC (35 s ago)` for an RFC 3339 time; `-` for none.
fn readable_time(v: &Value, now: jiff::Timestamp) -> String {
    let Some(t) = v.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok()) else {
        return "-".into();
    };
    let ago = now.duration_since(t).as_secs().max(0);
    let clock = t.strftime("%H:%M:%S UTC");
    match ago {
        0..=119 => format!("{clock} ({ago} s ago)"),
        120..=7199 => format!("{clock} ({} min ago)", ago / 60),
        _ => format!(
            "{} ({} h ago)",
            t.strftime("%Y-%m-%d %H:%M UTC"),
            ago / 3600
        ),
    }
}

/// Rows padded to their columns' widths.
fn columns(rows: &[Vec<String>]) -> String {
    let mut widths = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::from("  ");
        for (i, cell) in row.iter().enumerate() {
            let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The readable form of a `/status` document.
pub fn table(doc: &Value) -> String {
    let mut out = String::new();
    let uptime = doc["uptime_secs"].as_u64().unwrap_or(0);
    let _ = writeln!(
        out,
        "ztps-agent {}, up {}h{:02}m{:02}s, config {}",
        text(&doc["version"]),
        uptime / 3600,
        uptime / 60 % 60,
        uptime % 60,
        text(&doc["config"])
    );
    let (bridge, fwd, eapi, vm, dhcp) = (
        &doc["bridge"],
        &doc["forwarding"],
        &doc["eapi"],
        &doc["vm"],
        &doc["dhcp"],
    );
    let error = |v: &Value| {
        v["error"]
            .as_str()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    };
    let reach = match eapi["reachable"].as_bool() {
        _ if eapi["enabled"] == false => "disabled".to_string(),
        Some(true) => "reachable".into(),
        Some(false) => format!("unreachable ({})", text(&eapi["last_error"])),
        None => "not polled yet".into(),
    };
    let list = |v: &Value| {
        let names: Vec<String> = v
            .as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    let summary = vec![
        vec![
            "bridge".into(),
            format!("{} {}", text(&bridge["name"]), text(&bridge["address"])),
            format!("{}{}", text(&bridge["state"]), error(bridge)),
        ],
        vec![
            "forwarding".into(),
            String::new(),
            format!("{}{}", text(&fwd["state"]), error(fwd)),
        ],
        vec![
            "dhcp".into(),
            format!(
                "offers {}, acks {}",
                text(&dhcp["offers_sent"]),
                text(&dhcp["acks_sent"])
            ),
            if dhcp["running"] == true {
                "running".into()
            } else {
                "stopped".into()
            },
        ],
        vec!["eapi".into(), text(&eapi["endpoint"]), reach],
        vec![
            "  connected".into(),
            list(&eapi["connected_interfaces"]),
            String::new(),
        ],
        vec![
            "  disagreeing".into(),
            list(&eapi["disagreements"]),
            String::new(),
        ],
        vec![
            "vm".into(),
            format!("{} {}", text(&vm["name"]), text(&vm["attachment"])),
            format!("{}; {}", text(&vm["health"]), text(&vm["decision"])),
        ],
        vec![
            "  restarts".into(),
            format!(
                "{} total, {} in the last hour",
                text(&vm["restarts_total"]),
                text(&vm["restarts_last_hour"])
            ),
            String::new(),
        ],
    ];
    out.push_str(&columns(&summary));
    if let Some(w) = doc["webhook"].as_object() {
        let last = w.get("last_success").map_or("never".to_string(), |t| {
            readable_time(t, jiff::Timestamp::now())
        });
        let _ = writeln!(
            out,
            "  webhook       {}  delivered {}, failed {}, failed attempts {}, queued {}, last success {last}",
            text(&doc["webhook"]["origin"]),
            text(&doc["webhook"]["delivered"]),
            text(&doc["webhook"]["failed"]),
            text(&doc["webhook"]["attempt_failures"]),
            text(&doc["webhook"]["queued"]),
        );
    }
    let now = jiff::Timestamp::now();
    let leaves: Vec<Vec<String>> = doc["leaves"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    vec![
                        text(&l["leaf"]),
                        text(&l["interface"]),
                        text(&l["serial"]),
                        text(&l["address"]),
                        text(&l["stage"]),
                        readable_time(&l["since"], now),
                        text(&l["message"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let times: Vec<Vec<String>> = doc["leaves"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    let stages = l["stages"]
                        .as_array()
                        .map(|s| {
                            s.iter()
                                .map(|st| {
                                    format!(
                                        "{} +{:.1}s",
                                        text(&st["stage"]),
                                        st["after_secs"].as_f64().unwrap_or(0.0)
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default();
                    vec![text(&l["leaf"]), stages]
                })
                .collect()
        })
        .unwrap_or_default();
    let mut section = |title: &str, header: &[&str], rows: Vec<Vec<String>>| {
        let _ = writeln!(out, "\n{title}");
        if rows.is_empty() {
            out.push_str("  none\n");
            return;
        }
        let mut all = vec![header.iter().map(|h| h.to_string()).collect()];
        all.extend(rows);
        out.push_str(&columns(&all));
    };
    let rows = |v: &Value, keys: &[&str]| -> Vec<Vec<String>> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|item| keys.iter().map(|k| text(&item[*k])).collect())
                    .collect()
            })
            .unwrap_or_default()
    };
    section(
        "leaves",
        &[
            "LEAF", "PORT", "SERIAL", "ADDRESS", "STAGE", "SINCE", "MESSAGE",
        ],
        leaves,
    );
    section(
        "leaf stage times (from the first)",
        &["LEAF", "STAGES"],
        times,
    );
    section(
        "served interfaces",
        &["INTERFACE", "ADDRESS", "POOL"],
        rows(
            &dhcp["served_interfaces"],
            &["interface", "address", "pool"],
        ),
    );
    section(
        "leases",
        &["IP", "MAC", "SERIAL", "STATE", "EXPIRES"],
        rows(
            &dhcp["leases"],
            &["ip", "mac", "serial", "state", "expires"],
        ),
    );
    section(
        "recent events",
        &["TIME", "SEVERITY", "MESSAGE"],
        rows(&doc["events"], &["time", "severity", "message"]),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_clock_and_age() {
        let now: jiff::Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        let at = |s: &str| readable_time(&Value::String(s.into()), now);
        assert_eq!(at("2026-01-01T00:59:25Z"), "00:59:25 UTC (35 s ago)");
        assert_eq!(at("2026-01-01T00:30:00Z"), "00:30:00 UTC (30 min ago)");
        assert_eq!(
            at("2025-12-31T00:00:00Z"),
            "2025-12-31 00:00 UTC (25 h ago)"
        );
        assert_eq!(readable_time(&Value::Null, now), "-");
    }

    #[test]
    fn the_table_shows_every_section() {
        let doc = serde_json::json!({
            "version": "0.1.0", "config": "/mnt/flash/ztps-agent.toml", "uptime_secs": 3725,
            "bridge": {"name": "br0", "address": "172.16.130.254/24", "state": "ok"},
            "forwarding": {"enabled": true, "state": "error", "error": "read-only"},
            "dhcp": {"running": true, "offers_sent": 2, "acks_sent": 1,
                     "served_interfaces": [{"interface": "et1", "address": "10.0.0.0/31", "pool": "point-to-point"}],
                     "leases": [{"ip": "10.0.0.1", "mac": "00:1c:73:00:00:01", "serial": "JPE1", "state": "bound", "expires": 1}]},
            "eapi": {"enabled": true, "endpoint": "unix:/var/run/command-api.sock", "reachable": false,
                     "last_error": "connection refused", "connected_interfaces": [], "disagreements": ["et2"]},
            "vm": {"name": "ztps", "attachment": "attached", "health": "healthy", "decision": "steady",
                   "restarts_total": 0, "restarts_last_hour": 0},
            "events": [{"time": "2026-01-01T00:00:00Z", "severity": "notice", "message": "link et1 is up"}],
            "leaves": [{"leaf": "leaf1", "interface": "Ethernet1", "serial": "JPE1", "address": "10.0.0.1",
                        "stage": "provisioned", "since": "2026-01-01T00:00:30Z", "message": "leaf1 (Ethernet1): provisioned",
                        "stages": [{"stage": "link_up", "after_secs": 0.0}, {"stage": "provisioned", "after_secs": 30.5}]}],
            "webhook": {"origin": "https://hooks.example:443", "delivered": 3, "failed": 0, "attempt_failures": 1, "queued": 0}
        });
        let t = table(&doc);
        assert!(
            t.starts_with("ztps-agent 0.1.0, up 1h02m05s, config /mnt/flash/ztps-agent.toml\n"),
            "{t}"
        );
        for needle in [
            "forwarding",
            "error (read-only)",
            "unreachable (connection refused)",
            "disagreeing  et2",
            "et1        10.0.0.0/31  point-to-point",
            "10.0.0.1  00:1c:73:00:00:01  JPE1",
            "link et1 is up",
            "ztps attached",
            "offers 2, acks 1",
            "leaf1  Ethernet1  JPE1    10.0.0.1  provisioned  2026-01-01 00:00 UTC",
            "leaf1 (Ethernet1): provisioned",
            "link_up +0.0s, provisioned +30.5s",
            "https://hooks.example:443  delivered 3, failed 0, failed attempts 1, queued 0, last success never",
        ] {
            assert!(t.contains(needle), "{needle:?} missing from\n{t}");
        }
    }
}

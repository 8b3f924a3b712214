//! `/metrics`: the agent's own counters plus the DHCP server's, in the
//! Prometheus text format (prometheus-client).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use ztps_events::Stage;

use super::state::Shared;

/// Counters and gauges the agent's tasks update directly.
#[derive(Debug, Default)]
pub struct AgentMetrics {
    pub eapi_polls: Counter,
    pub eapi_errors: Counter,
    pub eapi_reachable: Gauge,
    pub vm_restarts: Counter,
    pub vm_restart_failures: Counter,
    pub vm_healthy: Gauge,
    pub config_reloads: Counter,
    pub config_rejected: Counter,
    pub dhcp_server_restarts: Counter,
}

/// The registry the status endpoint encodes on each scrape.
pub fn registry(shared: &Shared) -> Registry {
    let mut registry = Registry::with_prefix("ztps");
    let m = &shared.metrics;
    registry.register(
        "eapi_polls",
        "eAPI polls of the connected interfaces",
        m.eapi_polls.clone(),
    );
    registry.register(
        "eapi_errors",
        "eAPI polls that failed",
        m.eapi_errors.clone(),
    );
    registry.register(
        "eapi_reachable",
        "1 when the last eAPI poll succeeded",
        m.eapi_reachable.clone(),
    );
    registry.register(
        "vm_restarts",
        "ZTPServer VM restarts attempted",
        m.vm_restarts.clone(),
    );
    registry.register(
        "vm_restart_failures",
        "ZTPServer VM restarts the backend refused",
        m.vm_restart_failures.clone(),
    );
    registry.register(
        "vm_healthy",
        "1 when the VM is attached and the ZTPServer answers",
        m.vm_healthy.clone(),
    );
    registry.register(
        "config_reloads",
        "configurations applied on SIGHUP",
        m.config_reloads.clone(),
    );
    registry.register(
        "config_rejected",
        "configurations rejected on SIGHUP",
        m.config_rejected.clone(),
    );
    registry.register(
        "dhcp_server_restarts",
        "DHCP server restarts (reloads and recoveries)",
        m.dhcp_server_restarts.clone(),
    );
    registry.register_collector(Box::new(ScrapeTime(shared.clone())));
    registry
}

/// Values read at scrape time: the DHCP server's counters (they live in
/// the server) and the event hub's drops.
#[derive(Debug)]
struct ScrapeTime(Shared);

impl Collector for ScrapeTime {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(dhcp) = self.0.dhcp() {
            for (name, value) in dhcp.handle.metrics().pairs() {
                let counter = ConstCounter::new(value);
                let metric_name = format!("dhcp_{name}");
                let metric = encoder.encode_descriptor(
                    &metric_name,
                    &format!("DHCP server counter {name} (since the server last started)"),
                    None,
                    counter.metric_type(),
                )?;
                counter.encode(metric)?;
            }
            let leases = ConstGauge::new(dhcp.handle.leases().len() as i64);
            let metric = encoder.encode_descriptor(
                "dhcp_leases",
                "leases, offers and probation entries held",
                None,
                leases.metric_type(),
            )?;
            leases.encode(metric)?;
        }
        let lines = ConstCounter::new(super::logging::syslog_lines_dropped());
        let metric = encoder.encode_descriptor(
            "log_lines_dropped",
            "log lines that did not reach syslog (queue full or syslogd stalled)",
            None,
            lines.metric_type(),
        )?;
        lines.encode(metric)?;
        let dropped = ConstCounter::new(self.0.hub.dropped());
        let metric = encoder.encode_descriptor(
            "events_dropped",
            "events dropped because the event hub was behind",
            None,
            dropped.metric_type(),
        )?;
        dropped.encode(metric)?;
        encode_leaves(&self.0, &mut encoder)?;
        encode_webhook(&self.0, &mut encoder)
    }
}

/// Per planned leaf: one `leaf_stage` series per stage, 1 for the stage
/// the leaf is in (the usual encoding of a state as a gauge), and
/// `leaf_stuck`; the bootstrap log receiver's counts.
fn encode_leaves(shared: &Shared, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let leaves = shared.timeline.leaves();
    if !leaves.is_empty() {
        let mut family = encoder.encode_descriptor(
            "leaf_stage",
            "1 for the stage each planned leaf is in, 0 for the others",
            None,
            MetricType::Gauge,
        )?;
        for leaf in &leaves {
            for stage in Stage::ALL {
                let labels = [
                    ("leaf", leaf.leaf.as_str()),
                    ("interface", leaf.interface.as_str()),
                    ("stage", stage.as_str()),
                ];
                ConstGauge::new(i64::from(leaf.stage == stage))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "leaf_stuck",
            "1 while a planned leaf is stuck (past its stage's deadline, or its bootstrap failed)",
            None,
            MetricType::Gauge,
        )?;
        for leaf in &leaves {
            let labels = [
                ("leaf", leaf.leaf.as_str()),
                ("interface", leaf.interface.as_str()),
            ];
            ConstGauge::new(i64::from(leaf.stuck.is_some()))
                .encode(family.encode_family(&labels)?)?;
        }
    }
    let counts = shared.timeline.log_counts();
    let mut family = encoder.encode_descriptor(
        "bootstrap_log_datagrams",
        "datagrams on the bootstrap log port, by outcome",
        None,
        MetricType::Counter,
    )?;
    for (outcome, value) in [
        ("accepted", counts.accepted),
        ("refused", counts.refused),
        ("unmatched", counts.unmatched),
        ("dropped", counts.dropped),
    ] {
        ConstCounter::new(value).encode(family.encode_family(&[("outcome", outcome)])?)?;
    }
    Ok(())
}

/// The webhook's delivery health, when there is a webhook.
fn encode_webhook(shared: &Shared, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let Some(webhook) = &shared.webhook else {
        return Ok(());
    };
    let s = webhook.stats();
    for (name, help, value) in [
        (
            "webhook_delivered",
            "records the webhook accepted",
            s.delivered,
        ),
        (
            "webhook_failed",
            "records given up after every retry",
            s.failed,
        ),
        (
            "webhook_attempt_failures",
            "webhook attempts that failed (retried or not)",
            s.attempt_failures,
        ),
        (
            "webhook_dropped",
            "records dropped because the webhook queue was full",
            s.dropped,
        ),
    ] {
        let counter = ConstCounter::new(value);
        counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
    }
    for (name, help, value) in [
        (
            "webhook_queue_depth",
            "records waiting for the webhook",
            s.queued,
        ),
        (
            "webhook_last_success_timestamp_seconds",
            "Unix time of the last webhook delivery (0: none yet)",
            s.last_success_unix,
        ),
    ] {
        let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
        gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
    }
    Ok(())
}

/// The Prometheus text format 0.0.4, which every Prometheus scrapes and
/// `promtool check metrics` checks.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The text exposition (format 0.0.4) of `registry`.
///
/// prometheus-client writes OpenMetrics 1.0: a counter family `x` whose
/// sample is `x_total`, and a closing `# EOF`. In format 0.0.4 the family
/// is named as its sample, and there is no EOF marker; served as
/// OpenMetrics text instead, `promtool check metrics` (which reads 0.0.4)
/// could not check it. So the counter families take their `_total` name.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    Ok(to_text_004(&text))
}

fn to_text_004(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64);
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find(|p| line.starts_with(p));
        match meta {
            Some(prefix) => {
                let rest = &line[prefix.len()..];
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) && !name.ends_with("_total") {
                    out.push_str(&format!("{prefix}{name}_total {tail}"));
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    use std::sync::Arc;

    /// Prometheus's own linter on the exposition, with a leaf in the plan
    /// and a webhook, so every family the agent writes is checked.
    #[tokio::test]
    async fn promtool_accepts_the_exposition() {
        let mut config = ztps_config::AgentConfig::new(
            "172.16.130.254/24".parse().unwrap(),
            "http://172.16.130.10:8080/bootstrap",
        );
        config.leaves.push(ztps_config::LeafLink {
            interface: "Ethernet1".into(),
            leaf: "leaf1".into(),
            leaf_interface: Some("Ethernet49".into()),
            subnet: "10.1.1.0/31".parse().unwrap(),
            serial: None,
            system_mac: None,
            speed: None,
        });
        config.events.syslog = false;
        config.events.webhook_url = Some("http://127.0.0.1:9/hook".into());
        let timeline = super::super::timeline::Timeline::new(&config);
        let (hub, webhook) = super::super::events::hub(&config.events, &timeline).unwrap();
        let mut shared = Shared::new(hub.handle(), Arc::default(), "test.toml".into());
        shared.timeline = timeline;
        shared.webhook = webhook;
        let text = encode(&registry(&shared)).unwrap();
        for family in [
            "ztps_leaf_stage{leaf=\"leaf1\",interface=\"Ethernet1\",stage=\"planned\"} 1",
            "ztps_leaf_stuck{leaf=\"leaf1\",interface=\"Ethernet1\"} 0",
            "ztps_bootstrap_log_datagrams_total{outcome=\"accepted\"} 0",
            "ztps_webhook_queue_depth ",
            "ztps_webhook_last_success_timestamp_seconds 0",
        ] {
            assert!(text.contains(family), "{family} missing from\n{text}");
        }
        assert!(!text.contains("# EOF"), "{text}");
        assert!(
            text.contains("# TYPE ztps_eapi_polls_total counter\nztps_eapi_polls_total 0\n"),
            "{text}"
        );
        let mut promtool = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool (Debian prometheus, ci/packages/agent.txt) must be installed");
        promtool
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = promtool.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool check metrics: {}\n{}{}\n--- exposition\n{text}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        hub.shutdown().await;
    }

    /// The shipped alert rules: valid (`check rules`), and each fires on
    /// the series that should raise it (`test rules`).
    #[test]
    fn promtool_accepts_and_tests_the_alert_rules() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/prometheus");
        for args in [
            ["check", "rules", "ztps-alerts.yml"],
            ["test", "rules", "ztps-alerts.test.yml"],
        ] {
            let out = Command::new("promtool")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("promtool (Debian prometheus, ci/packages/agent.txt) must be installed");
            assert!(
                out.status.success(),
                "promtool {}: {}\n{}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

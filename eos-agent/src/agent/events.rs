//! Turning what the DHCP server and the netlink watch report into
//! provisioning events, and the event hub with the sinks the config asks for.

use std::sync::Arc;

use anyhow::Context as _;
use ztps_config::EventsConfig;
use ztps_events::{
    DEFAULT_SYSLOG_SOCKET, Event, EventsError, Hub, HubConfig, JsonLogSink, MacAddr, Record,
    Severity, Sink, SyslogFormat, SyslogSink, SystemClock, WebhookConfig, WebhookHealth,
    WebhookSink,
};
use ztps_net::watch::NetEvent;

use super::timeline::{Timeline, TimelineSink};

/// The hub with every sink `config` enables, and the webhook's health
/// when there is one. A sink that cannot be set up (unwritable log path,
/// unreadable webhook file) is a configuration error.
pub fn hub(
    config: &EventsConfig,
    timeline: &Timeline,
) -> anyhow::Result<(Hub, Option<WebhookHealth>)> {
    let mut sinks: Vec<Box<dyn Sink>> =
        vec![Box::new(LogSink), Box::new(TimelineSink(timeline.clone()))];
    if config.syslog {
        sinks.push(Box::new(SyslogSink::new(
            DEFAULT_SYSLOG_SOCKET,
            SyslogFormat::Rfc3164,
        )));
    }
    if let Some(path) = &config.json_log {
        let sink = JsonLogSink::open(path, config.json_log_max_bytes)
            .with_context(|| format!("events.json_log: cannot open {}", path.display()))?;
        sinks.push(Box::new(sink));
    }
    let webhook = match (&config.webhook_url, &config.webhook_url_file) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(file)) => Some(read_url_file(file)?),
        (None, None) => None,
    };
    let mut health = None;
    if let Some(url) = webhook {
        let settings = WebhookConfig {
            extra_ca_file: config.webhook_ca_file.clone(),
            ..WebhookConfig::default()
        };
        let sink = WebhookSink::spawn(&url, settings).context("events.webhook_url")?;
        health = Some(sink.health());
        sinks.push(Box::new(sink));
    }
    let hub = Hub::spawn(HubConfig::default(), sinks, Arc::new(SystemClock));
    Ok((hub, health))
}

/// The webhook URL from its file. The path of a Slack or Teams URL is its
/// secret: a file others can read is refused, and the URL itself never
/// appears in a message.
fn read_url_file(file: &std::path::Path) -> anyhow::Result<String> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(file)
        .with_context(|| format!("events.webhook_url_file: cannot read {}", file.display()))?;
    if meta.mode() & 0o077 != 0 {
        anyhow::bail!(
            "events.webhook_url_file: {} can be read by group or others (mode {:o}); the URL is a secret: chmod 600 it",
            file.display(),
            meta.mode() & 0o777
        );
    }
    Ok(std::fs::read_to_string(file)
        .with_context(|| format!("events.webhook_url_file: cannot read {}", file.display()))?
        .trim()
        .to_string())
}

/// The target of the log lines [`LogSink`] writes; the syslog log layer
/// leaves them out, since the syslog sink already sends every event there.
pub const LOG_TARGET: &str = "ztps::event";

/// Every event, after folding, as a log line `event: MESSAGE`: the
/// agent's stderr tells the provisioning story as it happens.
#[derive(Debug)]
struct LogSink;

impl Sink for LogSink {
    fn name(&self) -> &'static str {
        "log"
    }

    fn deliver(&mut self, record: &Record) -> Result<(), EventsError> {
        match record.severity {
            Severity::Error => tracing::error!(target: LOG_TARGET, "event: {}", record.message),
            Severity::Warning => tracing::warn!(target: LOG_TARGET, "event: {}", record.message),
            Severity::Notice | Severity::Info => {
                tracing::info!(target: LOG_TARGET, "event: {}", record.message)
            }
        }
        Ok(())
    }
}

/// Hardware addresses other than Ethernet's six bytes are cut or padded:
/// the events name Ethernet clients, which is all a switch has.
fn mac(hw: &ztps_dhcp::event::MacAddr) -> MacAddr {
    MacAddr(hw.0)
}

/// The provisioning event for a DHCP server event.
pub fn from_dhcp(event: ztps_dhcp::Event) -> Event {
    use ztps_dhcp::Event as D;
    match event {
        D::Discover {
            interface,
            mac: hw,
            serial,
            model,
        } => Event::DiscoverSeen {
            interface,
            mac: mac(&hw),
            serial,
            model,
        },
        D::Offer {
            interface,
            mac: hw,
            ip,
        } => Event::OfferSent {
            interface,
            mac: mac(&hw),
            ip,
        },
        D::Ack {
            interface,
            mac: hw,
            ip,
            serial,
            ..
        } => Event::LeaseAcked {
            interface,
            mac: mac(&hw),
            ip,
            serial,
        },
        D::Nak {
            interface,
            mac: hw,
            requested,
            reason,
        } => Event::NakSent {
            interface,
            mac: mac(&hw),
            reason: match requested {
                Some(ip) => format!("{reason} (asked for {ip})"),
                None => reason.to_string(),
            },
        },
        D::Decline {
            interface,
            mac: hw,
            ip,
        } => Event::DeclineReceived {
            interface,
            mac: mac(&hw),
            ip,
        },
        D::PoolExhausted { interface, pool } => Event::PoolExhausted { interface, pool },
        D::Malformed { interface, reason } => Event::MalformedPacket {
            source: interface.clone(),
            interface: Some(interface),
            reason,
        },
    }
}

/// Link events for EOS front-panel interfaces (`et*`); the kernel's other
/// links (the bridge, taps, loopback) are not provisioning news.
pub fn from_net(event: &NetEvent) -> Option<Event> {
    match event {
        NetEvent::Link { name, up, .. } if is_front_panel(name) => Some(if *up {
            Event::LinkUp {
                interface: name.clone(),
            }
        } else {
            Event::LinkDown {
                interface: name.clone(),
            }
        }),
        NetEvent::LinkRemoved { name, .. } if is_front_panel(name) => Some(Event::LinkDown {
            interface: name.clone(),
        }),
        _ => None,
    }
}

pub fn is_front_panel(kernel_name: &str) -> bool {
    kernel_name.starts_with("et") && ztps_eapi::ifname::kernel_to_eos(kernel_name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn dhcp_events_keep_interface_mac_and_serial() {
        let event = from_dhcp(ztps_dhcp::Event::Ack {
            interface: "et3".into(),
            mac: ztps_dhcp::event::MacAddr([0, 0x1c, 0x73, 1, 2, 3]),
            ip: Ipv4Addr::new(10, 0, 0, 5),
            serial: Some("JPE123".into()),
            lease_secs: 3600,
        });
        assert_eq!(event.message(), "leaf JPE123 now holds 10.0.0.5 on et3");
        let nak = from_dhcp(ztps_dhcp::Event::Nak {
            interface: "et1".into(),
            mac: ztps_dhcp::event::MacAddr([1, 2, 0, 0, 0, 0]),
            requested: Some(Ipv4Addr::new(10, 9, 9, 9)),
            reason: "not on this link",
        });
        assert_eq!(
            nak,
            Event::NakSent {
                interface: "et1".into(),
                mac: MacAddr([1, 2, 0, 0, 0, 0]),
                reason: "not on this link (asked for 10.9.9.9)".into(),
            }
        );
    }

    #[test]
    fn only_front_panel_links_are_events() {
        let up = NetEvent::Link {
            index: 4,
            name: "et1_1".into(),
            up: true,
        };
        assert_eq!(
            from_net(&up),
            Some(Event::LinkUp {
                interface: "et1_1".into()
            })
        );
        for name in ["br0", "vnet0", "lo", "ma1", "eth0", "etc"] {
            let event = NetEvent::Link {
                index: 9,
                name: name.into(),
                up: true,
            };
            assert_eq!(from_net(&event), None, "{name}");
        }
        let gone = NetEvent::LinkRemoved {
            index: 4,
            name: "et2".into(),
        };
        assert!(matches!(from_net(&gone), Some(Event::LinkDown { .. })));
    }
}
